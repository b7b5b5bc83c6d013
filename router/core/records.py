"""Call records: what the router decided for each call and why (pure data, no I/O).

Statuses: ``prepared`` (a carrier call's decision, waiting for its LiveKit leg),
``dispatched`` / ``dry_run`` / ``rejected`` / ``failed`` / ``expired`` (final: ``expired`` is
an event older than the call's deadline — the caller has given up — never dispatched),
``abandoned`` (the caller left before the dispatch: none was made), ``bridge_timeout`` (the
carrier bridged but no LiveKit leg arrived in time), and ``completed`` (a dispatched call that
ended: ``endedAt``, ``durationS``, ``endedBy``). The store is ``store.calls.CallStore``.

Record construction lives here once, for both flows (direct and bridged): ``new_record`` from
a call's facts, ``with_decision`` once decided, ``finished`` with its status and timings.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Literal, get_args

import msgspec

from router.core import events
from router.core.forwarding import Hop
from router.core.routing import CallFacts, PreCallOutcome, Routing

Status = Literal[
    "prepared",
    "dispatched",
    "dry_run",
    "rejected",
    "failed",
    "expired",
    "abandoned",
    "bridge_timeout",
    "completed",
]
# The routing of the call is decided for good: every status but "prepared" (a carrier call
# waiting for its LiveKit leg) and "bridge_timeout" (still dispatched if the leg arrives late,
# worker.bridged). The worker announces a call's decision (lifecycle) once it is final; the
# simulator waits for it.
FINAL: frozenset[str] = frozenset(get_args(Status)) - {"prepared", "bridge_timeout"}
EndedBy = Literal["caller", "agent", "router", "unknown"]


class Leg(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    kind: Literal["carrier", "livekit"]
    provider: str
    call_id: str
    at: str
    answer: str | None = None  # carrier leg: "bridge" | "reject"
    mode: str | None = None  # carrier leg: "twiml" | "texml" | "call_control"
    account: str | None = None  # carrier leg: the account it is on (Twilio's AccountSid)
    room: str | None = None  # LiveKit leg
    participant_identity: str | None = None


class Overflow(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """The matched number's overflow policy, kept for a carrier call's later dispatch."""

    policy: str = "reject"
    agent_id: str | None = None
    transfer_to: str | None = None


class CallRecord(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    call_id: str
    provider: str
    status: Status
    organization_id: str | None = None  # the matched number's (None: no number matched)
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
    # how dialed_raw was read: "e164", "international_digits" (as LiveKit reads bare digits),
    # "national:<region>", "phone-context"
    dialed_reading: str | None = None
    forwarded_from_number: str | None = None
    forwarded_from_withheld: bool = False
    forwarded_from_source: str | None = None
    forwarding_chain: list[Hop] = msgspec.field(default_factory=list)
    chain_truncated: bool = False  # History-Info arrived cut short: forwarding not known
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
    # What followed the dispatch (``worker.supervise``): the agent's join (``timingsMs.toAgent``
    # from the dispatch), a no-show and what was done about it, the call's end.
    overflow: Overflow | None = None  # the number's, when not the default reject
    agent_joined_at: str | None = None
    agent_left_at: str | None = None
    no_show: str | None = None  # the policy that ran: "fallback_agent" | "transfer" | "hangup"
    no_show_agent_id: str | None = None  # the agent that did not join, when a fallback did
    fallback_dispatch_id: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    ended_by: EndedBy | None = None
    disconnect_reason: str | None = None


class Clock(msgspec.Struct, frozen=True):
    started: float  # perf_counter when the worker took the call
    received_ms: int  # wall clock when ingress accepted it

    @classmethod
    def start(cls, received_ms: int) -> Clock:
        return cls(time.perf_counter(), received_ms)


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC, e.g. ``2026-11-23T17:11:04.123Z``."""
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=8)
def _iso_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def sip_facts(event: events.LiveKitSipJoined) -> dict[str, str]:
    pairs = (
        ("callId", event.call_id),
        ("trunkId", event.trunk_id),
        ("ruleId", event.rule_id),
        ("participantIdentity", event.participant_identity),
    )
    return {k: v for k, v in pairs if v}


def livekit_leg(event: events.LiveKitSipJoined) -> Leg:
    return Leg(
        kind="livekit",
        provider="livekit",
        call_id=event.call_id,
        at=iso(event.received_at_ms),
        room=event.room,
        participant_identity=event.participant_identity,
    )


def new_record(
    facts: CallFacts,
    *,
    caller_raw: str | None,
    dialed_raw: str | None,
    received_ms: int,
    **extra: Any,
) -> CallRecord:
    """A call's record before its decision (status ``failed`` until one is made)."""
    return CallRecord(
        call_id=facts.call_id,
        provider=facts.provider,
        status="failed",
        caller_number=facts.caller_number,
        caller_raw=caller_raw,
        dialed_number=facts.dialed_number,
        dialed_raw=dialed_raw,
        dialed_reading=facts.dialed_readings[0].how if facts.dialed_readings else None,
        forwarded_from_number=facts.forwarding.number,
        forwarded_from_withheld=facts.forwarding.withheld,
        forwarded_from_source=facts.forwarding.source,
        forwarding_chain=facts.forwarding.chain,
        chain_truncated=facts.forwarding.chain_truncated,
        received_at=iso(received_ms),
        decided_at="",
        **extra,
    )


def with_decision(record: CallRecord, routed: Routing) -> CallRecord:
    decision, lookup_ms = routed.decision, routed.lookup_ms
    timings = {**record.timings_ms, "lookup": round(lookup_ms, 3)}
    if routed.pre_call is not None:
        timings["preCall"] = routed.pre_call.ms
    if routed.facts is not None and routed.dialed is not None:  # found under another reading
        facts = routed.facts
        record = msgspec.structs.replace(
            record,
            dialed_number=routed.dialed.e164,
            dialed_reading=routed.dialed.how,
            caller_number=facts.caller_number,
            forwarded_from_number=facts.forwarding.number,
            forwarded_from_withheld=facts.forwarding.withheld,
            forwarded_from_source=facts.forwarding.source,
            forwarding_chain=facts.forwarding.chain,
            chain_truncated=facts.forwarding.chain_truncated,
        )
    return msgspec.structs.replace(
        record,
        matched_rule=decision.matched_rule,
        organization_id=routed.row.organization_id if routed.row is not None else None,
        phone_number_id=decision.phone_number_id,
        agent_id=decision.agent_id,
        agent_name=decision.agent_name,
        metadata=decision.metadata,
        reject_reason=(
            f"{decision.reject_reason}: {decision.detail}" if decision.reject_reason else None
        ),
        pre_call=routed.pre_call,
        overflow=(
            Overflow(
                policy=decision.overflow,
                agent_id=decision.overflow_agent_id,
                transfer_to=decision.overflow_transfer_to,
            )
            if decision.overflow != "reject"
            else None
        ),
        match_reason=routed.reason,
        origin_override=routed.override,
        notes=[*record.notes, *routed.notes],
        timings_ms=timings,
    )


def finished(
    record: CallRecord, clock: Clock, status: Status, now_ms: int, **changes: str | None
) -> CallRecord:
    """The record with its status, decision time and timings (``decide``, ``sinceReceived``)."""
    total_ms = (time.perf_counter() - clock.started) * 1000
    timings = {
        **record.timings_ms,
        "decide": round(total_ms, 3),
        "sinceReceived": float(now_ms - clock.received_ms),
    }
    return msgspec.structs.replace(
        record, status=status, decided_at=iso(now_ms), timings_ms=timings, **changes
    )
