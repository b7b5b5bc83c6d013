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

from router.core.carrier_states import TwilioTermination
from router.errors import Conflict, CredentialsUnreadable
from router.store import keys

Carrier = Literal["twilio", "telnyx"]


class TwilioCredentials(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    account_sid: str
    auth_token: str


class TelnyxCredentials(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    api_key: str
    # The account's TeXML or Call Control application its numbers are pointed at (verified,
    # or made by the router, when the integration is saved), and the account's webhook public
    # key (base64 ed25519: Telnyx signs each account's webhooks with its own key). Absent: the
    # platform's (TELNYX_CONNECTION_ID, TELNYX_PUBLIC_KEY).
    connection_id: str | None = None
    public_key: str | None = None


Credentials = TwilioCredentials | TelnyxCredentials
_KINDS: dict[str, type[Credentials]] = {"twilio": TwilioCredentials, "telnyx": TelnyxCredentials}


def cipher(secrets_key: str) -> MultiFernet:
    """The rotation-ready cipher of ``ROUTER_SECRETS_KEY`` (Fernet keys, comma-separated)."""
    return MultiFernet([Fernet(k.strip()) for k in secrets_key.split(",") if k.strip()])


_TERMINATION = "twilio-termination"  # the field of what the router made for outbound calls


def _field(org: str, carrier: str) -> str:
    return f"{org}:{carrier}"


class Integrations:
    def __init__(self, redis: Redis, secrets: MultiFernet) -> None:
        self.redis, self._secrets = redis, secrets

    async def save(self, org: str, carrier: Carrier, credentials: Credentials) -> None:
        """Keep the credentials (encrypted); a Twilio account is one organization's: the
        account index says whose token checks that account's webhooks."""
        token = self._secrets.encrypt(msgspec.json.encode(credentials))
        index, owned, field = _index_of(credentials)
        if owned is not None:
            owner: bytes | None = await self.redis.hget(index, owned)  # type: ignore[assignment, unused-ignore]
            if owner is not None and owner.decode() != org:
                raise Conflict(
                    f"{carrier} {field} {owned} is already another organization's integration",
                    field=field,
                )
        previous = await self._indexed(org, carrier)
        async with self.redis.pipeline(transaction=True) as pipe:
            if previous is not None and previous != owned:
                pipe.hdel(index, previous)
            if owned is not None:
                pipe.hset(index, owned, org)
            pipe.hset(keys.INTEGRATIONS, _field(org, carrier), token)
            await pipe.execute()

    async def _indexed(self, org: str, carrier: Carrier) -> str | None:
        """What of the organization's stored integration is indexed (Twilio's account,
        Telnyx's connection)."""
        try:
            found = await self.get(org, carrier)
        except CredentialsUnreadable:
            return None
        return _index_of(found)[1] if found is not None else None

    async def telnyx_connection(self, connection_id: str) -> tuple[str, TelnyxCredentials] | None:
        """The organization whose Telnyx integration's application is ``connection_id``."""
        found = await self._found_by(keys.TELNYX_CONNECTIONS, connection_id, "telnyx")
        if found is None or not isinstance(found[1], TelnyxCredentials):
            return None
        return found[0], found[1]

    async def twilio_account(self, account_sid: str) -> tuple[str, TwilioCredentials] | None:
        """The organization whose Twilio integration is ``account_sid``, and its credentials."""
        found = await self._found_by(keys.TWILIO_ACCOUNTS, account_sid, "twilio")
        if found is None or not isinstance(found[1], TwilioCredentials):
            return None
        return found[0], found[1]

    async def _found_by(
        self, index: str, value: str, carrier: Carrier
    ) -> tuple[str, Credentials] | None:
        """The organization an index names for ``value``, with its integration — if that
        integration still says ``value`` (the index is checked against it)."""
        owner: bytes | None = await self.redis.hget(index, value)  # type: ignore[assignment, unused-ignore]
        if owner is None:
            return None
        org = owner.decode()
        found = await self.get(org, carrier)
        if found is None or _index_of(found)[1] != value:
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

    async def termination(self, org: str) -> TwilioTermination | None:
        """What the router made on the organization's Twilio account for outbound calls."""
        raw = await self.redis.hget(keys.INTEGRATIONS, _field(org, _TERMINATION))
        if raw is None:
            return None
        try:
            plain = self._secrets.decrypt(raw)
        except InvalidToken as exc:
            raise CredentialsUnreadable(org, "twilio") from exc
        return msgspec.json.decode(plain, type=TwilioTermination)

    async def save_termination(self, org: str, termination: TwilioTermination) -> None:
        token = self._secrets.encrypt(msgspec.json.encode(termination))
        await self.redis.hset(keys.INTEGRATIONS, _field(org, _TERMINATION), token)

    async def forget(self, org: str, carrier: Carrier) -> bool:
        indexed = await self._indexed(org, carrier)
        if carrier == "twilio":  # made on that account: another account needs its own
            await self.redis.hdel(keys.INTEGRATIONS, _field(org, _TERMINATION))
        removed = await self.redis.hdel(keys.INTEGRATIONS, _field(org, carrier))
        if indexed is not None:
            index = keys.TWILIO_ACCOUNTS if carrier == "twilio" else keys.TELNYX_CONNECTIONS
            await self.redis.hdel(index, indexed)
        return bool(removed)


def _index_of(credentials: Credentials) -> tuple[str, str | None, str]:
    """The index an integration is found by from a webhook, its value there, and its field:
    Twilio's account SID, Telnyx's application (connection) id."""
    if isinstance(credentials, TwilioCredentials):
        return keys.TWILIO_ACCOUNTS, credentials.account_sid, "accountSid"
    return keys.TELNYX_CONNECTIONS, credentials.connection_id, "connectionId"
