"""Call records: what the router decided for each call and why (pure data, no I/O).

Statuses: ``prepared`` (a carrier call's decision, waiting for its LiveKit leg),
``dispatched`` / ``dry_run`` / ``rejected`` / ``failed`` / ``expired`` (final: ``expired`` is
an event older than the call's deadline — the caller has given up — never dispatched), and
``bridge_timeout`` (the carrier bridged but no LiveKit leg arrived in time). The store is
``calls.CallStore``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from router.forwarding import Hop

PreCallStatus = Literal[
    "ok", "rejected", "timeout", "http_error", "bad_answer", "unknown_agent",
    "connect_error", "blocked_address",
]  # fmt: skip


class PreCallOutcome(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    status: PreCallStatus
    ms: float
    attempts: int = 1
    http_status: int | None = None
    detail: str | None = None
    fallback: Literal["static", "last_answer"] | None = None


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
