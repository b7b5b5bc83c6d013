"""The carrier correlation id: unguessable, bound to the call it was minted for, short-lived.

A carrier call is bridged to LiveKit SIP with ``X-Router-Call: <id>``; when the bridged leg
joins, that header is how the worker finds the decision it prepared. Anyone can dial LiveKit's
SIP address with any header, so the id authenticates itself:

    rc1.<issued unix seconds>.<16 random url-safe characters>.<MAC>

where MAC is HMAC-SHA256, truncated to 128 bits, under a router-wide key, over the id's
first three parts and the dialed number the bridge targets. A join whose id does not verify
for *its own* dialed number (forged, or stolen and used on another number), or was issued
more than the bridge timeout ago, is never waited on: the worker decides it at once on the
join's own facts. Single use is the worker's part: the prepared record keeps the SIP call id
of the first leg that joined, and any other leg with the same id is decided on its own facts.

The key is 32 random bytes kept in Redis (``correlation_key``), shared by ingress and workers.
The bridge target itself (``sip_target``) is here too: ``sip:<dialed>@<LiveKit SIP host>`` with
``?X-Router-Call=<id>`` as a URI header, which TwiML / TeXML send as a SIP header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Literal
from urllib.parse import quote

from router.core.phone import readings

PREFIX = "rc1"
CORRELATION_HEADER = "X-Router-Call"
_MAC_BYTES = 16
_FUTURE_SKEW_S = 30  # clocks of web and worker machines differ a little

Verdict = Literal["valid", "forged", "expired", "future"]


def _mac(key: bytes, body: str, dialed: str) -> str:
    digest = hmac.new(key, f"{body}|{dialed}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).rstrip(b"=").decode()


def bridge_dialed(dialed: str | None, region: str) -> str:
    """The dialed number as the bridge targets it (``sip:<this>@LiveKit``) and as the joining
    leg reports it back: the id's MAC binds the two."""
    found = readings(dialed, region, international_first=True)  # as the join's facts read it
    return found[0].e164 if found else dialed or ""


def mint(key: bytes, dialed: str, now_s: int) -> str:
    """A new id for a carrier call bridged to ``dialed``."""
    body = f"{PREFIX}.{now_s}.{secrets.token_urlsafe(12)}"
    return f"{body}.{_mac(key, body, dialed)}"


def verify(key: bytes, token: str, dialed: str, now_s: int, max_age_s: float) -> Verdict:
    """Whether ``token`` was minted by us for ``dialed``, within ``max_age_s``."""
    body, _, mac = token.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not (parts[1].isascii() and parts[1].isdigit()):
        return "forged"
    if not hmac.compare_digest(_mac(key, body, dialed).encode(), mac.encode("utf-8", "replace")):
        return "forged"
    age = now_s - int(parts[1])
    if age > max_age_s:
        return "expired"
    if age < -_FUTURE_SKEW_S:  # minted by a machine whose clock is ahead: not "old"
        return "future"
    return "valid"


def sip_address(livekit_sip_uri: str, dialed: str) -> str:
    """``sip:<dialed>@<LiveKit SIP host>``: the dialed number at LiveKit's SIP endpoint."""
    scheme, _, rest = livekit_sip_uri.partition(":")
    host = rest.split("@", 1)[-1]
    return f"{scheme}:{quote(dialed, safe='+')}@{host}"


def sip_host(livekit_sip_uri: str) -> str:
    """``sip:<LiveKit SIP host>``: where a SIP trunk sends calls (an origination URI)."""
    scheme, _, rest = livekit_sip_uri.partition(":")
    return f"{scheme}:{rest.split('@', 1)[-1]}"


def sip_target(livekit_sip_uri: str, dialed: str, correlation_id: str) -> str:
    """The address with ``?X-Router-Call=<id>``: TwiML/TeXML send URI headers as SIP headers."""
    address = sip_address(livekit_sip_uri, dialed)
    return f"{address}?{CORRELATION_HEADER}={quote(correlation_id)}"


_TRANSFER_STATE = "router-transfer:"


def transfer_state(inbound_call_id: str) -> str:
    """Telnyx ``client_state`` (base64) for a transfer: it comes back on the transfer leg's
    webhooks, naming the inbound call the leg belongs to."""
    return base64.b64encode((_TRANSFER_STATE + inbound_call_id).encode()).decode()


def inbound_of_transfer(client_state: str | None) -> str | None:
    """The inbound call id a transfer leg's ``client_state`` names, or None (not ours)."""
    if not client_state:
        return None
    try:
        text = base64.b64decode(client_state, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not text.startswith(_TRANSFER_STATE):
        return None
    call_id = text.removeprefix(_TRANSFER_STATE)
    return call_id if 0 < len(call_id) <= 128 and call_id.isprintable() else None
