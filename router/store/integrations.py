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

from router.errors import Conflict, CredentialsUnreadable
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
        """Keep the credentials (encrypted); a Twilio account is one organization's: the
        account index says whose token checks that account's webhooks."""
        token = self._secrets.encrypt(msgspec.json.encode(credentials))
        if not isinstance(credentials, TwilioCredentials):
            await self.redis.hset(keys.INTEGRATIONS, _field(org, carrier), token)
            return
        sid = credentials.account_sid
        owner: bytes | None = await self.redis.hget(keys.TWILIO_ACCOUNTS, sid)  # type: ignore[assignment, unused-ignore]
        if owner is not None and owner.decode() != org:
            raise Conflict(
                f"Twilio account {sid} is already another organization's integration",
                field="accountSid",
            )
        previous = await self._twilio_sid(org)
        async with self.redis.pipeline(transaction=True) as pipe:
            if previous is not None and previous != sid:
                pipe.hdel(keys.TWILIO_ACCOUNTS, previous)
            pipe.hset(keys.TWILIO_ACCOUNTS, sid, org)
            pipe.hset(keys.INTEGRATIONS, _field(org, carrier), token)
            await pipe.execute()

    async def _twilio_sid(self, org: str) -> str | None:
        try:
            found = await self.get(org, "twilio")
        except CredentialsUnreadable:
            return None
        return found.account_sid if isinstance(found, TwilioCredentials) else None

    async def twilio_account(self, account_sid: str) -> tuple[str, TwilioCredentials] | None:
        """The organization whose Twilio integration is ``account_sid``, and its credentials."""
        owner: bytes | None = await self.redis.hget(keys.TWILIO_ACCOUNTS, account_sid)  # type: ignore[assignment, unused-ignore]
        if owner is None:
            return None
        org = owner.decode()
        found = await self.get(org, "twilio")
        if not isinstance(found, TwilioCredentials) or found.account_sid != account_sid:
            return None
        return org, found

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
        sid = await self._twilio_sid(org) if carrier == "twilio" else None
        removed = await self.redis.hdel(keys.INTEGRATIONS, _field(org, carrier))
        if sid is not None:
            await self.redis.hdel(keys.TWILIO_ACCOUNTS, sid)
        return bool(removed)
