"""The stream consumer: read, hand each entry to the handler, XACK only what was done.

- Joins the consumer group (created on first use), finishes its own pending entries first, then
  reads new ones with ``XREADGROUP ... BLOCK`` — never a sleep loop.
- Concurrency is capped by a semaphore; an entry is acknowledged only after its handler returned.
  A handler that raises leaves the entry pending: it is redelivered.
- Entries a dead consumer left pending are taken over with ``XAUTOCLAIM`` after a short idle
  time (a caller is ringing: seconds, not minutes). An entry delivered more than
  ``max_deliveries`` times, or one the handler calls poison, moves to the dead-letter stream
  with its last error, so it can never loop.
- Acknowledged entries are trimmed (``XTRIM MINID``) below the oldest pending one.
- About once a second, between reads, ``on_tick`` runs (the worker fires due timers there).
- ``run`` returns when ``stop`` is set: reading stops, in-flight work gets ``drain_s`` to finish,
  whatever is left stays pending for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from router import logs
from router.core.models import now_iso
from router.errors import PoisonEntry, RetryLater
from router.store import keys
from router.store.batching import Batcher
from router.store.redis_client import where

log = logs.get(__name__)

Handler = Callable[[bytes, dict[bytes, bytes], int], Awaitable[None]]
Tick = Callable[[], Awaitable[object]]


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Consumer:
    def __init__(
        self,
        redis: Redis,
        handler: Handler,
        *,
        name: str | None = None,
        shard: int = 0,
        concurrency: int = 64,
        batch: int = 64,
        claim_idle_ms: int = 3_000,
        max_deliveries: int = 8,
        drain_s: float = 4.0,
        on_tick: Tick | None = None,
        batcher: Batcher | None = None,
    ) -> None:
        self.redis = redis
        self.batcher = batcher or Batcher(redis)
        self.handler = handler
        self.name = name or consumer_name()
        self.stream = keys.stream(shard)
        self.dead = keys.dead_letters(shard)
        self.concurrency = concurrency
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.drain_s = drain_s
        self.on_tick = on_tick
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.processed = 0

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, keys.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        own_pending_done = False
        last_housekeeping = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self.ensure_group()
                if not own_pending_done:
                    own_pending_done = await self._read(b"0", block=None) == 0
                    continue
                if loop.time() - last_housekeeping > 1.0:
                    last_housekeeping = loop.time()
                    await self._claim_abandoned()
                    await self._trim()
                    if self.on_tick is not None:
                        await self.on_tick()
                await self._read(b">", block=500, stop=stop)
                backoff = 0.1
            except (RedisError, OSError) as exc:
                log.warning(
                    "stream_read_failed", store=where(self.redis), error=repr(exc),
                    retry_in_s=backoff,
                )  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
        await self._drain()

    async def _read(
        self, start: bytes, block: int | None, stop: asyncio.Event | None = None
    ) -> int:
        """Read one batch from ``start`` and start a task per entry; the number read. A
        blocking read gives way to ``stop`` at once: whatever the server handed over in that
        instant stays pending to this consumer, claimed again like a dead worker's."""
        # Wait for a free slot before reading, so entries are not claimed and left idle.
        await self._slots.acquire()
        self._slots.release()
        call = self.redis.xreadgroup(
            keys.GROUP, self.name, {self.stream: start}, count=self.batch, block=block
        )
        if stop is None:
            reply: Any = await call
        else:
            read = asyncio.ensure_future(call)
            halt = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({read, halt}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                halt.cancel()
                if not read.done():  # stopping (or this task cancelled): give the read up
                    read.cancel()
                    with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                        await read
            if read.cancelled():
                return 0
            reply = read.result()
        entries = reply[0][1] if reply else []
        for entry_id, fields in entries:
            if fields:  # own-pending reads return deleted entries with no fields
                await self._start(entry_id, fields, deliveries=1)
            else:
                await self.redis.xack(self.stream, keys.GROUP, entry_id)
        return len(entries)

    async def _start(self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(entry_id, fields, deliveries))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int) -> None:
        try:
            await self.handler(entry_id, fields, deliveries)
        except PoisonEntry as exc:
            await self._dead_letter(entry_id, fields, deliveries, repr(exc))
        except RetryLater as exc:
            log.info("entry_deferred", entry=entry_id.decode(), reason=str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Left pending: redelivered, and dead-lettered once it has failed too often.
            log.warning("entry_failed", entry=entry_id.decode(), error=repr(exc), exc_info=True)
            if deliveries >= self.max_deliveries:
                await self._dead_letter(entry_id, fields, deliveries, repr(exc))
        else:
            # The entries acknowledged while one pipeline is assembled share one XACK.
            await self.batcher.gather(("xack", self.stream), entry_id, self._xack)
            self.processed += 1
        finally:
            self._slots.release()

    def _xack(self, pipe: Pipeline, entry_ids: list[bytes]) -> object:
        return pipe.xack(self.stream, keys.GROUP, *entry_ids)

    async def _claim_abandoned(self) -> None:
        """Take over entries idle in a dead consumer's pending list."""
        start: bytes | str = "0-0"
        while True:
            reply: Any = await self.redis.xautoclaim(
                self.stream, keys.GROUP, self.name, self.claim_idle_ms, start, count=self.batch
            )
            start, claimed = reply[0], reply[1]
            for entry_id, fields in claimed:
                info = await self.redis.xpending_range(
                    self.stream, keys.GROUP, min=entry_id, max=entry_id, count=1
                )
                deliveries = int(info[0]["times_delivered"]) if info else 1
                if fields is None:
                    await self.redis.xack(self.stream, keys.GROUP, entry_id)
                elif deliveries > self.max_deliveries:
                    await self._dead_letter(entry_id, fields, deliveries, "too many deliveries")
                else:
                    log.info("entry_claimed", entry=entry_id.decode(), deliveries=deliveries)
                    await self._start(entry_id, fields, deliveries)
            if start in (b"0-0", "0-0") or not claimed:
                return

    async def _dead_letter(
        self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int, error: str
    ) -> None:
        record = {
            **fields,
            b"source_id": entry_id,
            b"error": error[:2000].encode(),
            b"deliveries": str(deliveries).encode(),
            b"failed_at": now_iso().encode(),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead, record)  # type: ignore[arg-type, unused-ignore]
            pipe.xack(self.stream, keys.GROUP, entry_id)
            await pipe.execute()
        log.error(
            "entry_dead_lettered", entry=entry_id.decode(), deliveries=deliveries, error=error
        )

    async def _trim(self) -> None:
        """Drop entries every consumer has acknowledged (never a pending one)."""
        summary: Any = await self.redis.xpending(self.stream, keys.GROUP)
        if summary["pending"]:
            floor = summary["min"]
        else:
            groups: Any = await self.redis.xinfo_groups(self.stream)
            group = next((g for g in groups if g["name"] == keys.GROUP.encode()), None)
            if group is None:
                return
            floor = group["last-delivered-id"]
        await self.redis.xtrim(self.stream, minid=floor, approximate=True)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("draining", in_flight=len(self._tasks), deadline_s=self.drain_s)
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.drain_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning("drain_deadline_passed", left_pending=len(pending))
