"""What provisioning last saw of each number at LiveKit (``core.models.Provisioning``), kept
beside the rows in the registry's slot, read with them for ``setupStatus``."""

from __future__ import annotations

import contextlib

import msgspec
from redis.asyncio import Redis

from router.core.models import Provisioning
from router.store import keys
from router.store.mutex import mutex

_decoder = msgspec.json.Decoder(Provisioning)
_encode = msgspec.json.Encoder().encode


class ProvisioningStates:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def of(self, number_ids: list[str]) -> dict[str, Provisioning]:
        if not number_ids:
            return {}
        raw: list[bytes | None] = await self.redis.hmget(keys.PROVISIONING, number_ids)  # type: ignore[assignment, unused-ignore]
        return {i: _decoder.decode(r) for i, r in zip(number_ids, raw, strict=True) if r}

    async def save(self, number_id: str, state: Provisioning) -> None:
        await self.redis.hset(keys.PROVISIONING, number_id, _encode(state))

    async def forget(self, number_id: str) -> None:
        await self.redis.hdel(keys.PROVISIONING, number_id)

    def trunk_mutex(self, org: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held around every change to the organization's LiveKit trunk (``store.mutex``)."""
        return mutex(self.redis, keys.trunk_mutex(org))

    async def lease(self, holder: str, ttl_s: float) -> bool:
        """Take the reconcile lease (one pass at a time across the processes)."""
        taken = await self.redis.set(keys.RECONCILE_LEASE, holder, nx=True, px=int(ttl_s * 1000))
        return bool(taken)
