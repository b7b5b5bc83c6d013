"""Where a call was forwarded from: the original redirecting number and the whole chain.

Sources, first that knows wins for ``forwardedFromNumber``:

1. the carrier's own field (Twilio ``ForwardedFrom``, Telnyx diversion data);
2. ``Diversion`` (RFC 5806): each redirecting proxy adds its entry at the *top*, so the
   bottom-most entry is the first redirection, i.e. the original forwarding party;
3. ``History-Info`` (RFC 7044): entries are indexed as a tree (``1``, ``1.1``, ``1.1.1``); the
   path from the root to the last entry is the route the request took. A hop whose entry
   carries ``mp=`` (target mapped to another user: forwarding) or an RFC 4458 ``cause=`` URI
   parameter was redirected *from* its parent, so that parent is a redirecting party; ``rc=``
   (a registered contact of the same user) and ``np=`` are not forwarding.

Privacy: Diversion ``privacy=full|uri`` (RFC 5806), History-Info ``Privacy=history`` escaped in an
entry or a ``Privacy: history|session|header`` request header (RFC 7044 section 10.1), and RFC
3323 anonymous URIs withhold that party's number: it is never reported, and when the original
redirecting party is withheld, ``forwardedFromNumber`` is null with ``withheld`` set — a later
party is not passed off as the original. A hop whose URI holds no valid phone number (a PBX
extension, garbage) is kept in the chain without a number and skipped when choosing.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import msgspec

from router.core.phone import Reading, read
from router.core.sipheaders import NameAddr, SipUri, parse_list

# RFC 4458 section 3 (the cause URI parameter): the redirecting reason each value stands for
# (ISUP's redirecting reasons, Q.763 3.45). Any other value is kept as it came, unlabelled.
_CAUSES = {
    "404": "unknown",
    "486": "user-busy",
    "408": "no-answer",
    "302": "unconditional",
    "487": "deflection-during-alerting",
    "480": "deflection-immediate-response",
    "503": "mobile-subscriber-not-reachable",
}
_PRIVATE_HI = ("history", "session", "header")


class Hop(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    """One redirecting party, oldest first in a chain."""

    source: str  # "provider" | "diversion" | "history-info"
    number: str | None = None  # E.164, absent when withheld or not a phone number
    withheld: bool = False
    reason: str | None = None
    counter: int | None = None  # Diversion counter: redirections this entry stands for
    index: str | None = None  # History-Info index
    unverified: bool = False  # "+" and possible, outside the ranges phonenumbers knows


class Forwarding(msgspec.Struct, frozen=True, rename="camel"):
    number: str | None = None  # forwardedFromNumber
    withheld: bool = False  # the original redirecting party asked for privacy
    source: str | None = None  # where number came from
    chain: list[Hop] = msgspec.field(default_factory=list)
    # History-Info arrived without the entries it descends from (LiveKit keeps only the last
    # line of a repeated header): "not forwarded" or the number found is then not a fact.
    chain_truncated: bool = False


NOT_FORWARDED = Forwarding()


def _small_number(text: str, digits: int = 3) -> bool:
    """ASCII digits only (``isdigit`` alone admits superscripts ``int`` refuses), not too long."""
    return text.isascii() and text.isdigit() and len(text) <= digits


def _anonymous(uri: SipUri) -> bool:
    return uri.user.lower() in ("anonymous", "restricted", "unavailable") or uri.host.endswith(
        "anonymous.invalid"
    )


def _reading(uri: SipUri, region: str) -> Reading | None:
    # For tel: and user=phone URIs the user part is the number; a plain sip: user part that
    # parses as a valid number is accepted too (carriers rarely set user=phone). A local
    # number keeps its RFC 3966 phone-context; a "+" number outside the known ranges is kept,
    # marked unverified, rather than lost.
    context = (uri.params if uri.scheme == "tel" else uri.user_params).get("phone-context")
    text = f"tel:{uri.user};phone-context={context}" if context else uri.user
    return read(text, region, keep_possible=True)


def _number(uri: SipUri, region: str) -> str | None:
    reading = _reading(uri, region)
    return reading.e164 if reading else None


def _unverified(uri: SipUri, region: str) -> bool:
    reading = _reading(uri, region)
    return reading is not None and not reading.verified


def diversion_hops(value: str | None, region: str) -> list[Hop]:
    """RFC 5806 entries, oldest redirection first (the header lists newest first)."""
    hops = []
    for entry in reversed(parse_list(value)):
        privacy = entry.params.get("privacy", "off").lower()
        withheld = privacy in ("full", "uri") or _anonymous(entry.uri)
        counter = entry.params.get("counter", "")
        hops.append(
            Hop(
                source="diversion",
                number=None if withheld else _number(entry.uri, region),
                unverified=not withheld and _unverified(entry.uri, region),
                withheld=withheld,
                reason=entry.params.get("reason") or None,
                counter=int(counter)
                if counter.isascii() and counter.isdigit() and len(counter) < 4
                else None,
            )
        )
    return hops


def _index_key(index: str) -> tuple[int, ...] | None:
    parts = index.split(".")
    if not all(_small_number(p, 6) for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _hi_path(entries: list[NameAddr]) -> list[NameAddr]:
    """The entries on the path from the root to the last entry (the current target)."""
    keyed = [(_index_key(e.params.get("index", "")), e) for e in entries]
    if not keyed:
        return []
    if any(k is None for k, _ in keyed):
        return entries  # RFC 4244-era lists without usable indexes: take them in order
    by_key = {k: e for k, e in keyed if k is not None}
    last = keyed[-1][0]
    assert last is not None
    return [by_key[last[:n]] for n in range(1, len(last) + 1) if last[:n] in by_key]


def history_info_truncated(value: str | None) -> bool:
    """True when History-Info entries are missing the ones they descend from: the root
    (index 1) absent, or an entry whose parent index is not there (RFC 7044 section 10.3).
    A header sent as several lines, of which a proxy kept only the last, looks like this."""
    keys = [_index_key(e.params.get("index", "")) for e in parse_list(value)]
    if not keys or None in keys:
        return False  # nothing, or RFC 4244-era entries without usable indexes
    present = {key for key in keys if key is not None}
    has_root = any(len(key) == 1 for key in present)
    orphaned = any(len(key) > 1 and key[:-1] not in present for key in present)
    return orphaned or not has_root


def history_info_hops(value: str | None, region: str, privacy_header: str = "") -> list[Hop]:
    """Redirecting parties named by RFC 7044 History-Info, oldest first."""
    path = _hi_path(parse_list(value))
    all_private = any(p in privacy_header.lower() for p in _PRIVATE_HI)
    hops = []
    for parent, child in itertools.pairwise(path):
        cause = child.uri.params.get("cause")
        mapped = "mp" in child.params
        legacy = not ({"mp", "rc", "np"} & child.params.keys())
        if not (mapped or cause or legacy):
            continue  # rc / np: the same user reached at another contact, not forwarding
        parent_number = _number(parent.uri, region)
        if legacy and not cause and parent_number == _number(child.uri, region):
            continue
        withheld = (
            all_private
            or parent.uri.headers.get("privacy", "").lower() in _PRIVATE_HI
            or _anonymous(parent.uri)
        )
        reason = _CAUSES.get(cause or "", cause) if cause else None
        if reason is None and "reason" in parent.uri.headers:
            reason = parent.uri.headers["reason"]
        hops.append(
            Hop(
                source="history-info",
                number=None if withheld else parent_number,
                unverified=not withheld and _unverified(parent.uri, region),
                withheld=withheld,
                reason=reason,
                index=parent.params.get("index"),
            )
        )
    return hops


def compute(
    *,
    provider_number: str | None = None,
    sip_headers: Mapping[str, str] | None = None,
    region: str = "US",
) -> Forwarding:
    """Combine the carrier's field and the SIP headers into one answer (module docstring)."""
    headers = {k.lower(): v for k, v in (sip_headers or {}).items()}
    diversion = diversion_hops(headers.get("diversion"), region)
    history = headers.get("history-info")
    chain = diversion or history_info_hops(history, region, headers.get("privacy", ""))
    truncated = not diversion and history_info_truncated(history)
    reading = read(provider_number, region, keep_possible=True)
    if reading is not None:
        provider = reading.e164
        if all(h.number != provider for h in chain):
            hop = Hop(source="provider", number=provider, unverified=not reading.verified)
            chain = [hop, *chain]
        return Forwarding(number=provider, source="provider", chain=chain)
    if not chain:
        return Forwarding(chain_truncated=True) if truncated else NOT_FORWARDED
    # The oldest party that says anything about itself decides: its number, or its privacy.
    for hop in chain:
        if hop.withheld:
            return Forwarding(
                withheld=True, source=hop.source, chain=chain, chain_truncated=truncated
            )
        if hop.number is not None:
            return Forwarding(
                number=hop.number, source=hop.source, chain=chain, chain_truncated=truncated
            )
    return Forwarding(chain=chain, chain_truncated=truncated)
