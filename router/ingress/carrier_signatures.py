"""Carrier webhook signatures: Twilio (HMAC-SHA1) and Telnyx (ed25519), both constant-time.

Twilio (``X-Twilio-Signature``): base64 HMAC-SHA1, keyed with the auth token, over the full
URL Twilio requested followed by every POST parameter, sorted by name, as name+value. Behind
a proxy the URL Twilio used is not the one we see, so ``ROUTER_PUBLIC_URL`` replaces scheme,
host and any base path. Like Twilio's own validator we also accept the URL with the default
port added or removed, since proxies differ on that.

Telnyx (``telnyx-signature-ed25519``, ``telnyx-timestamp``): an ed25519 signature over
``"<timestamp>|<raw body>"``, checked with ``cryptography``; timestamps more than five minutes
from now are refused as replays.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from router.core.twilio_signing import TWILIO_HASHES, twilio_signature
from router.errors import Forbidden

__all__ = ["twilio_signature"]

TELNYX_TOLERANCE_S = 300
_DEFAULT_PORTS = {"https": 443, "http": 80}


SIGNATURE_SETTINGS = "X-Twilio-Webhooks-Signature-Settings"


def signature_settings(header: str | None) -> tuple[str | None, str]:  # (key id, algorithm)
    """(SharedKey id, algorithm) from ``X-Twilio-Webhooks-Signature-Settings``
    (``key=<id>,algorithm=HMAC_SHA256``); no header or no algorithm: the Auth Token's
    HMAC_SHA1, as Twilio's own ``RequestValidator`` reads it."""
    key_id, algorithm = None, "HMAC_SHA1"
    for part in (header or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "key" and value.strip():
            key_id = value.strip()
        elif sep and name.strip() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
    return key_id, algorithm


def public_url(request_url: str, public_base: str | None) -> str:
    """The URL the carrier called: the request's path and query on ``ROUTER_PUBLIC_URL``."""
    if not public_base:
        return request_url
    base, req = urlsplit(public_base), urlsplit(request_url)
    path = base.path.rstrip("/") + req.path
    return urlunsplit((base.scheme, base.netloc, path, req.query, ""))


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if parts.port is None and default is not None:
        other = f"{host}:{default}"
    elif parts.port == default:
        other = host
    else:
        return [url]
    return [url, urlunsplit((parts.scheme, other, parts.path, parts.query, parts.fragment))]


def verify_twilio(
    auth_token: str | None,
    url: str,
    params: list[tuple[str, str]],
    signature: str | None,
    *,
    settings: str | None = None,
    shared_key: str | None = None,
) -> None:
    """Raise Forbidden unless ``signature`` is Twilio's for this request: with the Auth Token
    (HMAC-SHA1), or — when ``X-Twilio-Webhooks-Signature-Settings`` names an algorithm — with
    the webhook SharedKey's secret and that algorithm."""
    if not signature:
        raise Forbidden("missing X-Twilio-Signature")
    key_id, algorithm = signature_settings(settings)
    if algorithm not in TWILIO_HASHES:
        raise Forbidden(f"{SIGNATURE_SETTINGS} names an unsupported algorithm {algorithm!r}")
    if (settings and key_id is not None) or algorithm != "HMAC_SHA1":
        key = shared_key
        if not key:
            raise Forbidden(
                f"signed with a webhook SharedKey ({SIGNATURE_SETTINGS}): set "
                "TWILIO_WEBHOOK_SHARED_KEY to its secret"
            )
    else:
        key = auth_token
        if not key:
            raise Forbidden("signed with the Auth Token: set TWILIO_AUTH_TOKEN")
    # Bytes that are not UTF-8 arrive surrogate-escaped: compared as sent, they never match.
    given = signature.encode("utf-8", "surrogateescape")
    for candidate in _port_variants(url):
        expected = twilio_signature(key, candidate, params, algorithm).encode()
        if hmac.compare_digest(expected, given):
            return
    raise Forbidden("X-Twilio-Signature does not match (check ROUTER_PUBLIC_URL behind proxies)")


def verify_telnyx(
    public_key: bytes,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: float | None = None,
) -> None:
    if not signature or not timestamp:
        raise Forbidden("missing telnyx-signature-ed25519 or telnyx-timestamp")
    # isascii: str.isdigit() is also true of superscripts and other digits int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Forbidden("telnyx-timestamp is not a unix time")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > TELNYX_TOLERANCE_S:
        raise Forbidden(f"telnyx-timestamp is {int(age)} s from now: outside the replay window")
    try:
        raw = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(raw, timestamp.encode() + b"|" + body)
    except (binascii.Error, ValueError, CryptoInvalidSignature) as exc:
        raise Forbidden("telnyx-signature-ed25519 does not verify") from exc
