"""Putting accepted events on the stream: exactly once per source event id, or not at all.

One Lua script in the stream's slot: for each event, ``SET seen:<event id> <marker> NX GET EX``
and, only if that was new, ``XADD``. Both happen or neither does, so a webhook the source
retries after a Redis failure is not mistaken for a duplicate, and a retried delivery of a
persisted event is not queued twice. The marker stored with the first delivery comes back on a
duplicate: a carrier asking twice about one call gets the same correlation id in both answers.
The events of one shard that arrive while a pipeline is assembled go to one run of the script
(``Batcher.gather``; the seen keys share the stream's hash slot), each request still awaiting
its own outcome. Nothing trims the stream here: only entries the workers have acknowledged are
trimmed (worker).
"""

from __future__ import annotations

import zlib
from collections import Counter
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from router import metrics
from router.core import events
from router.store import keys
from router.store.batching import Batcher, evalsha

# KEYS: the stream, then one seen key per event; ARGV: the TTL, then (event, marker) pairs.
# Returns one {queued, marker} pair per event, in order.
_ENQUEUE = """
local out = {}
for i = 2, #KEYS do
  local event, marker = ARGV[2 * i - 2], ARGV[2 * i - 1]
  local prev = redis.call('SET', KEYS[i], marker, 'NX', 'GET', 'EX', ARGV[1])
  if prev then
    out[i - 1] = {0, prev}
  else
    redis.call('XADD', KEYS[1], '*', 'e', event)
    out[i - 1] = {1, marker}
  end
end
return out
"""


class _Counts(Counter[tuple[str, str]]):
    """A Counter whose increments also go to ``router_events_total``."""

    def __init__(self) -> None:
        super().__init__()
        self._children: dict[tuple[str, str], Any] = {}

    def __setitem__(self, key: tuple[str, str], value: int) -> None:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metrics.EVENTS.labels(*key)
        child.inc(value - self.get(key, 0))
        super().__setitem__(key, value)


class Ingress:
    def __init__(
        self,
        redis: Redis,
        shards: int = 1,
        batcher: Batcher | None = None,
        *,
        deadline_s: float | None = None,
    ) -> None:
        self.redis = redis
        self.deadline_s = deadline_s  # past it, enqueue raises TimeoutError (answered 503)
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
        stream = keys.stream(shard)
        item = (stream, keys.seen_event(event_id, shard), events.encode(event), marker)
        queued, stored = await self.batcher.gather(
            stream, item, self._stage, each=True, script=self._enqueue, deadline_s=self.deadline_s
        )
        return bool(queued), stored.decode() if isinstance(stored, bytes) else str(stored)

    def _stage(self, pipe: Pipeline, items: list[tuple[str, str, bytes, str]]) -> object:
        """One run of the script for the events queued for one stream shard."""
        script_keys: list[str] = [items[0][0]]
        args: list[object] = [keys.EVENT_DEDUP_TTL_S]
        for _, seen, encoded, marker in items:
            script_keys.append(seen)
            args += (encoded, marker)
        return evalsha(pipe, self._enqueue, script_keys, args)
