"""SIP connections (``core.sip_connections``): the rows in the registry's slot, each
organization's set of them, and their passwords and PIN kept apart, Fernet-encrypted with
``ROUTER_SECRETS_KEY`` as carrier credentials are (``store.integrations``)."""

from __future__ import annotations

import msgspec
from cryptography.fernet import InvalidToken, MultiFernet
from redis.asyncio import Redis

from router.core.sip_connections import Secrets, SipConnection
from router.errors import NotFound, SecretsUnreadable
from router.store import keys

_row = msgspec.json.Decoder(SipConnection)
_secrets = msgspec.json.Decoder(Secrets)
_encode = msgspec.json.Encoder().encode


class SipConnections:
    def __init__(self, redis: Redis, cipher: MultiFernet | None) -> None:
        self.redis, self._cipher = redis, cipher

    @property
    def keeps_secrets(self) -> bool:
        """Whether passwords can be kept (``ROUTER_SECRETS_KEY`` is set)."""
        return self._cipher is not None

    async def get(self, connection_id: str) -> SipConnection:
        raw: bytes | None = await self.redis.hget(keys.SIP_CONNECTIONS, connection_id)  # type: ignore[assignment, unused-ignore]
        if raw is None:
            raise NotFound(f"SIP connection {connection_id} not found")
        return _row.decode(raw)

    async def find(self, connection_id: str) -> SipConnection | None:
        try:
            return await self.get(connection_id)
        except NotFound:
            return None

    async def of(self, org: str | None) -> list[SipConnection]:
        """The organization's connections (None: every organization's), oldest first."""
        if org is None:
            rows = [
                _row.decode(r) for r in (await self.redis.hgetall(keys.SIP_CONNECTIONS)).values()
            ]
        else:
            members = await self.redis.smembers(keys.org_sip_connections(org))  # type: ignore[misc, unused-ignore]
            ids = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
            found: list[bytes | None] = (
                await self.redis.hmget(keys.SIP_CONNECTIONS, ids) if ids else []  # type: ignore[assignment, unused-ignore]
            )
            rows = [_row.decode(r) for r in found if r is not None]
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    async def secrets(self, connection_id: str) -> Secrets:
        raw: bytes | None = await self.redis.hget(keys.SIP_CONNECTION_SECRETS, connection_id)  # type: ignore[assignment, unused-ignore]
        if raw is None or self._cipher is None:
            return Secrets()
        try:
            return _secrets.decode(self._cipher.decrypt(raw))
        except InvalidToken as exc:
            raise SecretsUnreadable(
                f"SIP connection {connection_id}'s passwords do not decrypt with "
                "ROUTER_SECRETS_KEY (the key they were stored with was dropped): give them again "
                f"with PATCH /v1/sip-connections/{connection_id}"
            ) from exc

    async def save(self, row: SipConnection, secrets: Secrets) -> None:
        """The row and its secrets, together; no secret at all deletes the stored ones."""
        kept = secrets != Secrets()
        if kept and self._cipher is None:
            raise AssertionError("the API refuses secrets without ROUTER_SECRETS_KEY")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.SIP_CONNECTIONS, row.id, _encode(row))
            pipe.sadd(keys.org_sip_connections(row.organization_id), row.id)
            if kept and self._cipher is not None:
                pipe.hset(
                    keys.SIP_CONNECTION_SECRETS, row.id, self._cipher.encrypt(_encode(secrets))
                )
            else:
                pipe.hdel(keys.SIP_CONNECTION_SECRETS, row.id)
            await pipe.execute()

    async def delete(self, row: SipConnection) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.SIP_CONNECTIONS, row.id)
            pipe.hdel(keys.SIP_CONNECTION_SECRETS, row.id)
            pipe.srem(keys.org_sip_connections(row.organization_id), row.id)
            await pipe.execute()
