"""Putting accepted events on the stream: exactly once per source event id, or not at all.

One Lua script in the stream's slot: ``SET seen:<event id> NX EX`` and, only if that was new,
``XADD``. Both happen or neither does, so a webhook the source retries after a Redis failure is
not mistaken for a duplicate, and a retried delivery of a persisted event is not queued twice.
Nothing trims the stream here: only entries the workers have acknowledged are trimmed (worker).
"""

from __future__ import annotations

from collections import Counter

from redis.asyncio import Redis

from router import events, keys

_ENQUEUE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
end
return false
"""


class Ingress:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._enqueue = redis.register_script(_ENQUEUE)
        self.counts: Counter[tuple[str, str]] = Counter()  # (source, outcome) -> events

    async def enqueue(self, event_id: str, event: events.InboundEvent, shard: int = 0) -> bool:
        """True when queued now, False when this event id was queued before."""
        entry_id = await self._enqueue(
            keys=[keys.seen_event(event_id, shard), keys.stream(shard)],
            args=[keys.EVENT_DEDUP_TTL_S, events.encode(event)],
        )
        return entry_id is not None
