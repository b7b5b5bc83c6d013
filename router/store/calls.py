"""The call-record store: each call's record (``records.CallRecord``), kept for a week.

One JSON document per call under ``router:{call:ID}:record`` with a TTL (written by the
worker in the same script that releases the call's lease), keyed by the first id
the router saw: the carrier's call id for a carrier call, LiveKit's SIP call id for a direct
one. Other ids of the same call (the SIP call id of a bridged leg, the correlation id) are
aliases, so ``GET /v1/calls/{id}`` finds the record by any of them.

"""

from __future__ import annotations

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
    return pipe.xadd(keys.RECENT_CALLS, fields, maxlen=keys.RECENT_CALLS_MAX, approximate=True)  # type: ignore[arg-type]


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

    async def remember(self, call_id: str) -> None:
        """Note a decided call in the capped recent-calls stream (the console's list). The calls
        noted while one pipeline is being assembled share one entry (fields c0, c1, ...)."""
        await self.batcher.gather(keys.RECENT_CALLS, call_id, _note_recent)

    async def recent(self, limit: int) -> list[CallRecord]:
        """The latest decided calls, newest first (each call once)."""
        rows: Any = await self.redis.xrevrange(keys.RECENT_CALLS, count=limit * 2)
        seen: list[str] = []
        for _, fields in rows:
            for raw in reversed(fields.values()):  # newest last within an entry
                call_id = raw.decode()
                if call_id not in seen:
                    seen.append(call_id)
        records = [await self.get(call_id) for call_id in seen[:limit]]
        return [r for r in records if r is not None]

    async def alias(self, alias_id: str, call_id: str) -> None:
        await self.redis.set(keys.call_alias(alias_id), call_id, ex=keys.CALL_RECORD_TTL_S)

    async def resolve(self, alias_id: str) -> str | None:
        raw = await self.redis.get(keys.call_alias(alias_id))
        return raw.decode() if isinstance(raw, bytes) else raw
