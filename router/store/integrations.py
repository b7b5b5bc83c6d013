"""Each organization's carrier credentials (Twilio, Telnyx), encrypted at rest.

Stored under ``router:{registry}:integrations`` as Fernet tokens (AES-128-CBC + HMAC-SHA256,
from ``cryptography``) made with ``ROUTER_SECRETS_KEY``; several comma-separated keys rotate
(the first encrypts, any decrypts: ``MultiFernet``). The API shows which carrier is set up and
its non-secret identifiers, never a token or key; nothing here is logged.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from redis.asyncio import Redis

from router.errors import CredentialsUnreadable
from router.store import keys

Carrier = Literal["twilio", "telnyx"]


class TwilioCredentials(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    account_sid: str
    auth_token: str


class TelnyxCredentials(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    api_key: str


Credentials = TwilioCredentials | TelnyxCredentials
_KINDS: dict[str, type[Credentials]] = {"twilio": TwilioCredentials, "telnyx": TelnyxCredentials}


def cipher(secrets_key: str) -> MultiFernet:
    """The rotation-ready cipher of ``ROUTER_SECRETS_KEY`` (Fernet keys, comma-separated)."""
    return MultiFernet([Fernet(k.strip()) for k in secrets_key.split(",") if k.strip()])


def _field(org: str, carrier: str) -> str:
    return f"{org}:{carrier}"


class Integrations:
    def __init__(self, redis: Redis, secrets: MultiFernet) -> None:
        self.redis, self._secrets = redis, secrets

    async def save(self, org: str, carrier: Carrier, credentials: Credentials) -> None:
        token = self._secrets.encrypt(msgspec.json.encode(credentials))
        await self.redis.hset(keys.INTEGRATIONS, _field(org, carrier), token)

    async def get(self, org: str, carrier: Carrier) -> Credentials | None:
        raw = await self.redis.hget(keys.INTEGRATIONS, _field(org, carrier))
        if raw is None:
            return None
        try:
            plain = self._secrets.decrypt(raw)
        except InvalidToken as exc:  # another key, or tampered with: say so, never guess
            raise CredentialsUnreadable(org, carrier) from exc
        return msgspec.json.decode(plain, type=_KINDS[carrier])

    async def forget(self, org: str, carrier: Carrier) -> bool:
        removed = await self.redis.hdel(keys.INTEGRATIONS, _field(org, carrier))
        return bool(removed)
