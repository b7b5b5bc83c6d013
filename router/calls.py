"""Call records: what the router decided for each call and why, kept for a week.

One JSON document per call under ``router:{call:ID}:record`` with a TTL. The record is written
when the decision is final (dispatched, rejected, failed, dry run); ``GET /v1/calls/{id}``
reads it back.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from redis.asyncio import Redis

from router import keys
from router.forwarding import Hop

Status = Literal["dispatched", "dry_run", "rejected", "failed"]


class CallRecord(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    call_id: str
    provider: str
    status: Status
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
    phone_number_id: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    metadata: dict[str, Any] | None = None
    dispatch_id: str | None = None
    reject_reason: str | None = None
    error: str | None = None
    attempts: int = 1
    received_at: str
    decided_at: str
    timings_ms: dict[str, float] = msgspec.field(default_factory=dict)


_decoder = msgspec.json.Decoder(CallRecord)
_encode = msgspec.json.Encoder().encode


class CallStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def put(self, record: CallRecord) -> None:
        await self.redis.set(
            keys.call_record(record.call_id), _encode(record), ex=keys.CALL_RECORD_TTL_S
        )

    async def get(self, call_id: str) -> CallRecord | None:
        raw = await self.redis.get(keys.call_record(call_id))
        return _decoder.decode(raw) if raw is not None else None
