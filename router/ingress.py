"""Putting accepted events on the stream: exactly once per source event id, or not at all.

One Lua script in the stream's slot: ``SET seen:<event id> <marker> NX GET EX`` and, only if
that was new, ``XADD``. Both happen or neither does, so a webhook the source retries after a
Redis failure is not mistaken for a duplicate, and a retried delivery of a persisted event is
not queued twice. The marker stored with the first delivery comes back on a duplicate: a
carrier asking twice about one call gets the same correlation id in both answers.
Nothing trims the stream here: only entries the workers have acknowledged are trimmed (worker).
"""

from __future__ import annotations

import zlib
from collections import Counter

from redis.asyncio import Redis

from router import events, keys, metrics
from router.batching import Batcher

_ENQUEUE = """
local prev = redis.call('SET', KEYS[1], ARGV[3], 'NX', 'GET', 'EX', ARGV[1])
if prev then return {0, prev} end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
return {1, ARGV[3]}
"""


class _Counts(Counter[tuple[str, str]]):
    """A Counter whose increments also go to ``router_events_total``."""

    def __setitem__(self, key: tuple[str, str], value: int) -> None:
        metrics.EVENTS.labels(*key).inc(value - self.get(key, 0))
        super().__setitem__(key, value)


class Ingress:
    def __init__(self, redis: Redis, shards: int = 1, batcher: Batcher | None = None) -> None:
        self.redis = redis
        self.batcher = batcher or Batcher(redis)
        self.shards = shards
        self._enqueue = redis.register_script(_ENQUEUE)
        self.counts = _Counts()  # (source, outcome) -> events, mirrored to Prometheus

    def shard_of(self, call_id: str) -> int:
        """The stream shard a call's events go to (stable: the same call, the same shard)."""
        return zlib.crc32(call_id.encode()) % self.shards

    async def enqueue(
        self, event_id: str, event: events.InboundEvent, *, marker: str = "1"
    ) -> tuple[bool, str]:
        """(queued now?, the marker stored with the first delivery of this event id)."""
        shard = self.shard_of(event.call_id)
        queued, stored = await self.batcher.script(
            self._enqueue,
            [keys.seen_event(event_id, shard), keys.stream(shard)],
            [keys.EVENT_DEDUP_TTL_S, events.encode(event), marker],
        )
        return bool(queued), stored.decode() if isinstance(stored, bytes) else str(stored)
