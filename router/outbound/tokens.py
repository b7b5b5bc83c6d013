"""LiveKit access tokens (HS256 JWTs) on the hot paths: signing dispatch tokens, verifying webhooks.

LiveKit requires a room-admin grant for the very room a server API request names, so a dispatch
token cannot be shared between calls: each is signed here with PyJWT (the claims
``AccessToken`` would put there) and lives 5 minutes instead of the SDK's default 6 hours.

PyJWT vets the HMAC secret on every sign and verify (not a PEM, SSH, DER or JWK key): pure
work on a secret that never changes. ``KeyedHS256`` is PyJWT's own HS256 with that vetting
memoized per secret, installed through PyJWT's public ``register_algorithm`` — for our signer,
and (``install``) for the module-level ``jwt.decode`` that ``livekit-api``'s ``TokenVerifier``
uses on every webhook. Measured per token on this machine: ``AccessToken.to_jwt`` ~171 µs
(``dataclasses.asdict``), ``jwt.encode`` ~64 µs, ``room_admin_token`` ~21 µs;
``TokenVerifier.verify`` ~134 µs before ``install``, ~93 µs after.
"""

from __future__ import annotations

import functools
import time

import jwt
import msgspec
from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS

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
_signer = PyJWS(algorithms=[])
_signer.register_algorithm("HS256", _HS256)
_claims = msgspec.json.Encoder()


def install() -> None:
    """Use ``KeyedHS256`` for PyJWT's module-level functions too (idempotent)."""
    if isinstance(jwt.get_algorithm_by_name("HS256"), KeyedHS256):
        return
    jwt.unregister_algorithm("HS256")
    jwt.register_algorithm("HS256", _HS256)


def room_admin_token(api_key: str, api_secret: str, room: str, ttl_s: int = TOKEN_TTL_S) -> str:
    """A server API token with the room-admin grant for one room."""
    now = int(time.time())
    claims = {
        "video": {"roomAdmin": True, "room": room},
        "sub": "",
        "iss": api_key,
        "nbf": now,
        "exp": now + ttl_s,
    }
    return _signer.encode(_claims.encode(claims), api_secret, algorithm="HS256")
