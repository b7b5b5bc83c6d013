"""Phone numbers: parse anything a carrier or operator sends into E.164, or say it is not one.

``phonenumbers`` does the parsing; this module only decides what counts as a number here:
a *valid* number (not merely a possible one) so that garbage never becomes a routing key.
"""

from __future__ import annotations

import functools

import phonenumbers

from router.core.sipheaders import parse_uri

# RFC 3966 visual separators may appear in tel: URIs and user parts.
_VISUAL = str.maketrans("", "", "-.() ")


@functools.lru_cache(maxsize=65536)
def to_e164(raw: str | None, region: str = "US") -> str | None:
    """Return the E.164 form of ``raw`` or None when it is not a valid phone number.

    Memoized: the same lines and forwarding numbers recur on every call, and parsing with
    ``phonenumbers`` is the single most expensive step of normalizing a call.

    ``raw`` may be E.164, national format (read in ``region``), carry RFC 3966 visual
    separators, or be a ``sip:``/``tel:`` URI whose user part is the number. Strings with
    letters (SIP user names such as ``anonymous``) are not numbers.
    """
    if not raw:
        return None
    text = raw.strip()
    if text[:4].lower() in ("sip:", "tel:") or text[:5].lower() == "sips:":
        uri = parse_uri(text)  # a carrier may send a SIP/tel URI where a number goes
        if uri is None:
            return None
        text = uri.user
    if len(text) > 40 or not text.translate(_VISUAL).lstrip("+").isdigit():
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
