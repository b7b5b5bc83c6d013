"""One subscription per process to the call-decision channel, fanned out in memory.

Every open ``GET /v1/calls/events`` stream used to hold a Redis connection of its own (a
``pubsub()`` per request) from the pool every webhook shares: a few hundred streams of one
read-only key emptied the pool and every organization's webhooks got 503. Here the process
subscribes once; each stream is a ``Listener`` with a bounded in-memory queue. Open listeners
are capped per API key, per organization and per process (``StreamLimit``, a 429); a listener
whose client reads too slowly to keep up is ended (``lost``) rather than buffered without end.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from router import logs, metrics
from router.errors import RateLimited
from router.store import keys
from router.store.redis_client import where

log = logs.get(__name__)


class StreamLimit(RateLimited):
    """429: one of the caps on open event streams is reached (the message names which)."""


@dataclass(eq=False)
class Listener:
    """One stream's share of the feed: the decided records (JSON bytes) in arrival order."""

    org: str | None
    key_id: str | None
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(256))
    lost: bool = False  # the client fell behind by a whole queue: the stream must end


class CallFeed:
    """The process's one subscriber (``run`` in a task) and its listeners."""

    def __init__(
        self, redis: Redis, *, max_streams: int, max_per_org: int, max_per_key: int
    ) -> None:
        self.redis = redis
        self.max_streams = max_streams
        self.max_per_org = max_per_org
        self.max_per_key = max_per_key
        self.listeners: dict[Listener, None] = {}
        self._per_org: Counter[str | None] = Counter()
        self._per_key: Counter[str | None] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ---- listeners ----------------------------------------------------------------------------

    def open(self, org: str | None, key_id: str | None) -> Listener:
        """A new listener, or StreamLimit naming the cap that is reached. The operator's
        token (no key, no organization) counts against the process's cap only."""
        if len(self.listeners) >= self.max_streams:
            self._refuse("process", f"this router process has {self.max_streams} open")
        if org is not None and self._per_org[org] >= self.max_per_org:
            self._refuse("organization", f"organization {org} has {self.max_per_org} open")
        if key_id is not None and self._per_key[key_id] >= self.max_per_key:
            self._refuse("key", f"API key {key_id} has {self.max_per_key} open")
        listener = Listener(org, key_id)
        self.listeners[listener] = None
        self._per_org[org] += 1
        self._per_key[key_id] += 1
        metrics.EVENT_STREAMS.set(len(self.listeners))
        return listener

    def close(self, listener: Listener) -> None:
        if self.listeners.pop(listener, 0) is None:
            self._per_org[listener.org] -= 1
            self._per_key[listener.key_id] -= 1
            metrics.EVENT_STREAMS.set(len(self.listeners))

    def _refuse(self, scope: str, why: str) -> None:
        metrics.EVENT_STREAMS_REFUSED.labels(scope).inc()
        raise StreamLimit(
            f"too many open event streams: {why}; close one (calls tail) and retry",
            retry_after_s=5.0,
        )

    def publish(self, data: bytes) -> None:
        """Hand one decided record to every listener; a full queue ends its listener."""
        for listener in self.listeners:
            if listener.lost:
                continue
            try:
                listener.queue.put_nowait(data)
            except asyncio.QueueFull:
                listener.lost = True

    # ---- the one subscription -----------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="call-feed")

    async def stop(self) -> None:
        """Stop now: the reader holds nothing to flush, so it is cancelled rather than left to
        notice the flag at its next poll (which held every shutdown 0.2 s)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        backoff = 0.1
        while not self._stopping:
            pubsub: Any = self.redis.pubsub()
            try:
                await pubsub.subscribe(keys.CALLS_CHANNEL)
                backoff = 0.1
                # get_message with a timeout, not listen(): stopping is a flag checked here.
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                    if message is not None and message["type"] == "message":
                        self.publish(message["data"])
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                log.warning(
                    "call_feed_unsubscribed", store=where(self.redis), error=repr(exc)[:200],
                    retry_in_s=backoff,
                )  # fmt: skip
            finally:
                await pubsub.aclose()
            if self._stopping:
                return
            await asyncio.sleep(backoff)  # reconnect backoff while Redis is away
            backoff = min(backoff * 2, 5.0)
