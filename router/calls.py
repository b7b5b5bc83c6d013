"""Call records: what the router decided for each call and why, kept for a week.

One JSON document per call under ``router:{call:ID}:record`` with a TTL (written by the
pipeline in the same script that releases the call's lease), keyed by the first id
the router saw: the carrier's call id for a carrier call, LiveKit's SIP call id for a direct
one. Other ids of the same call (the SIP call id of a bridged leg, the correlation id) are
aliases, so ``GET /v1/calls/{id}`` finds the record by any of them.

Statuses: ``prepared`` (a carrier call's decision, waiting for its LiveKit leg),
``dispatched`` / ``dry_run`` / ``rejected`` / ``failed`` / ``expired`` (final: ``expired`` is
an event older than the call's deadline — the caller has given up — never dispatched), and
``bridge_timeout`` (the carrier bridged but no LiveKit leg arrived in time).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from router import keys
from router.batching import Batcher
from router.forwarding import Hop
from router.precall import PreCallOutcome

Status = Literal[
    "prepared", "dispatched", "dry_run", "rejected", "failed", "expired", "bridge_timeout"
]


class Leg(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    kind: Literal["carrier", "livekit"]
    provider: str
    call_id: str
    at: str
    answer: str | None = None  # carrier leg: "bridge" | "reject"
    room: str | None = None  # LiveKit leg
    participant_identity: str | None = None


class CallRecord(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    call_id: str
    provider: str
    status: Status
    sip_call_id: str | None = None  # LiveKit's SIP call id, once the LiveKit leg is known
    correlation_id: str | None = None
    legs: list[Leg] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)
    room: str | None = None
    participant_identity: str | None = None
    caller_number: str | None = None
    caller_raw: str | None = None
    dialed_number: str | None = None
    dialed_raw: str | None = None
    forwarded_from_number: str | None = None
    forwarded_from_withheld: bool = False
    forwarded_from_source: str | None = None
    forwarding_chain: list[Hop] = msgspec.field(default_factory=list)
    matched_rule: str | None = None
    match_reason: str | None = None
    origin_override: str | None = None
    phone_number_id: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    metadata: dict[str, Any] | None = None
    pre_call: PreCallOutcome | None = None
    dispatch_id: str | None = None
    reject_reason: str | None = None
    error: str | None = None
    attempts: int = 1
    received_at: str
    decided_at: str
    timings_ms: dict[str, float] = msgspec.field(default_factory=dict)


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
