"""The call-record store: each call's record (``records.CallRecord``), kept for a week.

One JSON document per call under ``router:{call:ID}:record`` with a TTL (written by the
worker in the same script that releases the call's lease), keyed by the first id
the router saw: the carrier's call id for a carrier call, LiveKit's SIP call id for a direct
one. Other ids of the same call (the SIP call id of a bridged leg, the correlation id) are
aliases, so ``GET /v1/calls/{id}`` finds the record by any of them.

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from router.core.records import CallRecord
from router.store import keys
from router.store.batching import Batcher

_decoder = msgspec.json.Decoder(CallRecord)
_encode = msgspec.json.Encoder().encode


def _note_recent(pipe: Pipeline, call_ids: list[str]) -> object:
    fields = {f"c{i}".encode(): call_id for i, call_id in enumerate(call_ids)}
    return pipe.xadd(keys.RECENT_CALLS, fields, maxlen=keys.RECENT_CALLS_MAX, approximate=True)  # type: ignore[arg-type, unused-ignore]


# A place in the recent-calls stream: (entry id, index of the call within the entry).
Position = tuple[str, int]
SCAN_MAX = 2_000  # call ids examined for one page at most
_CHUNK = 100  # stream entries read per round trip


class CallStore:
    def __init__(self, redis: Redis, batcher: Batcher | None = None) -> None:
        self.redis = redis
        self.batcher = batcher or Batcher(redis)

    @staticmethod
    def encode(record: CallRecord) -> bytes:
        return _encode(record)

    @staticmethod
    def decode(raw: bytes) -> CallRecord:
        return _decoder.decode(raw)

    async def get(self, call_id: str) -> CallRecord | None:
        """The record under this id, or under the call this id is an alias of."""
        raw = await self.redis.get(keys.call_record(call_id))
        if raw is None:
            canonical = await self.resolve(call_id)
            if canonical is None:
                return None
            raw = await self.redis.get(keys.call_record(canonical))
        return _decoder.decode(raw) if raw is not None else None

    async def put(self, record: CallRecord) -> None:
        """Write a record decided outside the worker's lease (a call the router placed itself:
        nothing else decides it) and announce it as the lease's release does."""
        raw = _encode(record)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.call_record(record.call_id), raw, ex=keys.CALL_RECORD_TTL_S)
            pipe.publish(keys.CALLS_CHANNEL, raw)
            await pipe.execute()
        await self.remember(record.call_id)

    async def remember(self, call_id: str) -> None:
        """Note a decided call in the capped recent-calls stream (the console's list). The calls
        noted while one pipeline is being assembled share one entry (fields c0, c1, ...)."""
        await self.batcher.gather(keys.RECENT_CALLS, call_id, _note_recent)

    async def recent(self, limit: int) -> list[CallRecord]:
        """The latest decided calls, newest first."""
        records, _ = await self.page(None, limit)
        return records

    async def page(
        self,
        before: Position | None,
        limit: int,
        keep: Callable[[CallRecord], bool] = lambda _: True,
        *,
        oldest_ms: int = 0,
        scan_max: int = SCAN_MAX,
    ) -> tuple[list[CallRecord], Position | None]:
        """Up to ``limit`` decided calls older than ``before`` that ``keep`` accepts, newest
        first, and the position to continue from (None: nothing older). At most ``scan_max``
        call ids are examined per page, so a rare filter answers a short page and a position
        rather than walking the whole history; entries noted before ``oldest_ms`` end it."""
        out: list[CallRecord] = []
        seen: set[str] = set()
        scanned = 0
        top = before[0] if before else "+"
        while True:
            rows: Any = await self.redis.xrevrange(keys.RECENT_CALLS, max=top, count=_CHUNK)
            places: list[tuple[Position, str]] = []
            ended = len(rows) < _CHUNK
            for entry_id, fields in rows:
                entry = entry_id.decode()
                if int(entry.partition("-")[0]) < oldest_ms:
                    ended = True
                    break
                values = list(fields.values())
                for i in range(len(values) - 1, -1, -1):  # newest last within an entry
                    if before is not None and entry == before[0] and i >= before[1]:
                        continue
                    places.append(((entry, i), values[i].decode()))
            records = await self.get_many([call_id for _, call_id in places])
            for (place, call_id), record in zip(places, records, strict=True):
                scanned += 1
                if record is not None and call_id not in seen and keep(record):
                    seen.add(call_id)
                    out.append(record)
                if len(out) == limit or scanned >= scan_max:
                    return out, place
            if ended:
                return out, None
            top = f"({rows[-1][0].decode()}"  # exclusive: below the last entry read

    async def get_many(self, call_ids: list[str]) -> list[CallRecord | None]:
        if not call_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id in call_ids:
                pipe.get(keys.call_record(call_id))
            raw: list[bytes | None] = await pipe.execute()
        return [_decoder.decode(r) if r is not None else None for r in raw]

    async def alias(self, alias_id: str, call_id: str) -> None:
        await self.redis.set(keys.call_alias(alias_id), call_id, ex=keys.CALL_RECORD_TTL_S)

    async def caller_left(self, room: str, at_ms: int) -> None:
        """The caller left ``room`` before any call there was dispatched."""
        await self.redis.set(keys.caller_gone(room), at_ms, ex=keys.CALLER_GONE_TTL_S)

    async def resolve(self, alias_id: str) -> str | None:
        raw = await self.redis.get(keys.call_alias(alias_id))
        return raw.decode() if isinstance(raw, bytes) else raw
