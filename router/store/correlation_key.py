"""The router-wide HMAC key of carrier correlation ids (``correlation``), kept in Redis.

32 random bytes under ``keys.CORRELATION_KEY``, created by the first process that needs them
(``SET NX GET``) and read once per process: ingress mints with it, workers verify.
"""

from __future__ import annotations

import asyncio
import secrets

from redis.asyncio import Redis

from router.store import keys


class CorrelationKey:
    """The router-wide key, loaded from Redis on first use (created there if absent)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._key: bytes | None = None
        self._loading: asyncio.Future[bytes] | None = None

    async def get(self) -> bytes:
        if self._key is not None:
            return self._key
        if self._loading is None:  # single flight: concurrent first calls share one read
            self._loading = asyncio.ensure_future(self._load())
        try:
            self._key = await asyncio.shield(self._loading)
        finally:
            if self._loading.done():
                self._loading = None
        return self._key

    async def _load(self) -> bytes:
        new = secrets.token_bytes(32)
        # SET NX GET: the key already there, or None when ours was stored.
        old = await self.redis.set(keys.CORRELATION_KEY, new, nx=True, get=True)
        return old if isinstance(old, bytes) else new
