"""LiveKit access tokens (HS256 JWTs) on the hot paths: signing dispatch tokens, verifying webhooks.

LiveKit requires a room-admin grant for the very room a server API request names, so a dispatch
token cannot be shared between calls: each is signed here with PyJWT (the claims
``AccessToken`` would put there) and lives 5 minutes instead of the SDK's default 6 hours.

PyJWT vets the HMAC secret on every sign and verify (not a PEM, SSH, DER or JWK key): pure
work on a secret that never changes. ``KeyedHS256`` is PyJWT's own HS256 with that vetting
memoized per secret, used only through objects of our own — registered on our PyJWS instance
for signing (``_jws``), and the algorithm of the ``PyJWK`` we verify webhook tokens with —
never on PyJWT's module-level registry: nothing else in the process (livekit-api included)
sees a changed library. ``verify_token`` makes ``TokenVerifier``'s checks (signature, issuer,
``exp`` required, ``nbf``, ``iat``, the same one-minute leeway) with ``jwt.decode`` itself.
docs/performance.md has the figures.
"""

from __future__ import annotations

import base64
import functools
import time
from typing import Any

import jwt
import msgspec
from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.api_jwt import PyJWT
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode

TOKEN_TTL_S = 300


class KeyedHS256(HMACAlgorithm):
    """HS256, vetting each secret once per process rather than once per token."""

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)

    @functools.lru_cache(maxsize=16)  # noqa: B019 - one instance per process, a few secrets
    def prepare_key(self, key: str | bytes) -> bytes:
        return super().prepare_key(key)

    @functools.lru_cache(maxsize=16)  # noqa: B019 - the short-key warning, once per secret
    def check_key_length(self, key: bytes) -> str | None:
        return super().check_key_length(key)


_HS256 = KeyedHS256()
_jws = PyJWS(algorithms=[])  # ours alone: HS256 with the secret vetted once
_jws.register_algorithm("HS256", _HS256)
_claims = msgspec.json.Encoder()
_read_claims = msgspec.json.Decoder(dict[str, Any]).decode
WEBHOOK_LEEWAY_S = 60.0  # livekit-api's TokenVerifier default
# A token without exp would verify forever (livekit/protocol#1706): TokenVerifier requires it.
_OPTIONS: Any = {"require": ["exp"]}


_BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# By the length of an unpadded segment mod 4, the last characters that leave no stray bits:
# all of them (whole groups), values ≡ 0 mod 16 (2 characters: one byte), ≡ 0 mod 4 (3: two).
_CANONICAL_LAST = {
    0: frozenset(_BASE64URL),
    2: frozenset(_BASE64URL[::16]),
    3: frozenset(_BASE64URL[::4]),
}


class SegmentCheckedJWS(PyJWS):
    """PyJWS whose per-segment base64url check (PyJWT 2.15, GHSA-hxm8-2xgr-2p9m) tests the
    alphabet with ``bytes.translate`` in C instead of a Python generator over every byte — the
    same rules, in the same order, with the same errors, on PyJWT's own base64url helpers
    (``tests/test_tokens.py`` compares it with PyJWT's on arbitrary segments). The generator
    was half of a webhook's verification time; this is the change to offer upstream. Its
    canonical-encoding check (re-encode the bytes, compare) is likewise one look at the last
    character's spare bits."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if padding > 2 or (padding and len(segment) % 4 != 0):
            raise DecodeError(f"Invalid {name} padding")
        if len(stripped) % 4 == 1 or stripped.translate(None, _BASE64URL):
            raise DecodeError(f"Invalid {name} padding")
        # PyJWT then re-encodes the bytes and compares (a canonical encoding): that fails
        # exactly when the last character's bits beyond the decoded bytes are not zero.
        if stripped and stripped[-1] not in _CANONICAL_LAST[len(stripped) % 4]:
            raise DecodeError(f"Invalid {name} padding")
        return base64url_decode(stripped)


class _Verifier(PyJWT):
    """PyJWT whose JWS layer is ``SegmentCheckedJWS``: ours alone, nothing global changes.
    Its options are set once (not merged on every call), and the payload is read by msgspec
    through PyJWT's hook for that (``_decode_payload``), with PyJWT's errors."""

    def __init__(self) -> None:
        super().__init__(options=_OPTIONS)
        self._jws = SegmentCheckedJWS(options=self._get_sig_options())

    def _decode_payload(self, decoded: dict[str, Any]) -> dict[str, Any]:
        try:
            return _read_claims(decoded["payload"])
        except msgspec.ValidationError as exc:
            raise DecodeError("Invalid payload string: must be a json object") from exc
        except (msgspec.DecodeError, RecursionError) as exc:
            raise DecodeError(f"Invalid payload string: {exc}") from exc


_verifier = _Verifier()


@functools.lru_cache(maxsize=4)
def _verifying_key(api_secret: str) -> jwt.PyJWK:
    """The secret as a PyJWK whose algorithm is our keyed HS256: PyJWT verifies with a key
    object's own algorithm, so this changes nothing for anyone else in the process."""
    k = base64.urlsafe_b64encode(api_secret.encode()).rstrip(b"=").decode()
    key = jwt.PyJWK({"kty": "oct", "k": k}, algorithm="HS256")
    key.Algorithm = _HS256
    return key


def verify_token(
    token: str, api_key: str, api_secret: str, *, leeway_s: float = WEBHOOK_LEEWAY_S
) -> dict[str, Any]:
    """The claims of a LiveKit token signed with ``api_secret`` and issued by ``api_key`` —
    ``TokenVerifier``'s checks, by PyJWT — or PyJWT's error (``jwt.PyJWTError``)."""
    claims: dict[str, Any] = _verifier.decode(
        token,
        key=_verifying_key(api_secret),
        algorithms=["HS256"],
        issuer=api_key,
        leeway=leeway_s,
    )
    return claims


def room_admin_token(
    api_key: str, api_secret: str, room: str, ttl_s: int = TOKEN_TTL_S, *, sip_call: bool = False
) -> str:
    """A server API token with the room-admin grant for one room (and, with ``sip_call``,
    the SIP call grant ``TransferSIPParticipant`` needs, as livekit-api asks for it)."""
    now = int(time.time())
    claims: dict[str, object] = {
        "video": {"roomAdmin": True, "room": room},
        **({"sip": {"call": True}} if sip_call else {}),
        "sub": "",
        "iss": api_key,
        "nbf": now,
        "exp": now + ttl_s,
    }
    return _jws.encode(_claims.encode(claims), api_secret, algorithm="HS256")


def room_list_token(api_key: str, api_secret: str, ttl_s: int = TOKEN_TTL_S) -> str:
    """A server API token with the room-list grant (``ListRooms``)."""
    now = int(time.time())
    claims = {
        "video": {"roomList": True},
        "sub": "",
        "iss": api_key,
        "nbf": now,
        "exp": now + ttl_s,
    }
    return _jws.encode(_claims.encode(claims), api_secret, algorithm="HS256")
