"""Phone numbers: parse anything a carrier or operator sends into E.164, or say it is not one.

``phonenumbers`` does the parsing; this module decides what counts as a number here and how a
string was read (``Reading.how``, kept in call records):

- ``e164`` — ``+`` and digits. Valid numbers only, unless ``keep_possible``: then a number
  that is *possible* (right length for its country) but outside the ranges ``phonenumbers``
  knows — new ranges are opened before its metadata ships them — is kept, ``verified=False``.
- ``international_digits`` — bare digits read as ``+`` and the digits, which is how LiveKit's
  ``NormalizeNumber`` matches trunks (``61294964040`` → ``+61294964040``).
- ``national:<region>`` — national format read in a region: the call's own country (the
  dialed number's), falling back to ``ROUTER_DEFAULT_REGION``.
- ``phone-context`` — an RFC 3966 local number with a global ``phone-context``
  (``tel:555-0147;phone-context=+1-212`` → ``+12125550147``); a domain-name context names no
  number and reads as none.

Garbage never becomes a routing key: letters (``anonymous``), overlong strings and numbers
no country has are not numbers.
"""

from __future__ import annotations

import functools
import re

import msgspec
import phonenumbers

from router.core.sipheaders import parse_uri

# RFC 3966 visual separators may appear in tel: URIs and user parts.
_VISUAL = str.maketrans("", "", "-.() ")
_CONTEXT = re.compile(r";phone-context=([^;?@>]+)", re.IGNORECASE)
_E164 = phonenumbers.PhoneNumberFormat.E164


class Reading(msgspec.Struct, frozen=True):
    e164: str
    how: str  # "e164" | "international_digits" | "national:<region>" | "phone-context"
    verified: bool = True  # in phonenumbers' valid ranges (False: possible only)


def _digits(raw: str) -> tuple[str, str | None] | None:
    """(the number's characters without separators, its phone-context) or None."""
    text = raw.strip()
    context = None
    if text[:4].lower() in ("sip:", "tel:") or text[:5].lower() == "sips:":
        found = _CONTEXT.search(text)
        context = found.group(1) if found else None
        uri = parse_uri(text)  # a carrier may send a SIP/tel URI where a number goes
        if uri is None:
            return None
        text = uri.user
    digits = text.translate(_VISUAL)
    body = digits.removeprefix("+")
    if len(digits) > 40 or not (body.isascii() and body.isdigit()):
        return None
    return digits, context


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


@functools.lru_cache(maxsize=65536)
def readings(
    raw: str | None,
    region: str = "US",
    *,
    international_first: bool = False,
    keep_possible: bool = False,
) -> tuple[Reading, ...]:
    """Every valid reading of ``raw``, the preferred first (none: not a number).

    Memoized: the same lines and forwarding numbers recur on every call, and parsing with
    ``phonenumbers`` is the single most expensive step of normalizing a call.

    Bare digits have two readings, international and national; ``international_first`` (a
    dialed number, as LiveKit matched it) puts the international one first.
    """
    if not raw:
        return ()
    cleaned = _digits(raw)
    if cleaned is None:
        return ()
    digits, context = cleaned
    if context is not None and not digits.startswith("+"):
        global_prefix = context.translate(_VISUAL)
        if not (global_prefix.startswith("+") and global_prefix[1:].isdigit()):
            return ()  # a domain name, not a number prefix
        number = _parse(global_prefix + digits, None)
        if number is None or not phonenumbers.is_valid_number(number):
            return ()
        return (Reading(phonenumbers.format_number(number, _E164), "phone-context"),)
    if digits.startswith("+"):
        number = _parse(digits, None)
        if number is None:
            return ()
        if phonenumbers.is_valid_number(number):
            return (Reading(phonenumbers.format_number(number, _E164), "e164"),)
        if keep_possible and phonenumbers.is_possible_number(number):
            return (Reading(phonenumbers.format_number(number, _E164), "e164", verified=False),)
        return ()
    found: list[Reading] = []
    international = _parse("+" + digits, None)
    if international is not None and phonenumbers.is_valid_number(international):
        found.append(
            Reading(phonenumbers.format_number(international, _E164), "international_digits")
        )
    national = _parse(digits, region)
    if national is not None and phonenumbers.is_valid_number(national):
        reading = Reading(phonenumbers.format_number(national, _E164), f"national:{region}")
        if all(r.e164 != reading.e164 for r in found):
            found.insert(len(found) if international_first else 0, reading)
    return tuple(found)


def read(raw: str | None, region: str = "US", *, keep_possible: bool = False) -> Reading | None:
    """The preferred reading (national first for bare digits), or None."""
    found = readings(raw, region, keep_possible=keep_possible)
    return found[0] if found else None


def to_e164(raw: str | None, region: str = "US") -> str | None:
    """The E.164 form of ``raw`` (a valid number; national format read in ``region``), or None."""
    found = readings(raw, region)
    return found[0].e164 if found else None


@functools.lru_cache(maxsize=4096)
def region_of(e164: str | None) -> str | None:
    """The country (ISO 3166) of an E.164 number, None for a non-geographic or unknown one."""
    number = _parse(e164, None) if e164 else None
    region = phonenumbers.region_code_for_number(number) if number is not None else None
    return region if region and region != "001" else None


@functools.lru_cache(maxsize=4096)
def call_region(dialed_e164: str | None, default_region: str) -> str:
    """The region national-format numbers of a call are read in: the dialed number's country,
    or ``default_region`` (``ROUTER_DEFAULT_REGION``) when the dialed number is unknown."""
    return region_of(dialed_e164) or default_region
