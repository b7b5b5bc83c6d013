"""Carrier calls: prepare the decision, then dispatch when the bridged leg reaches LiveKit.

1. ``prepare_carrier_call`` — a Twilio/Telnyx call event. The carrier's own facts (above all
   its forwarding field, known only here) and SIP headers give the forwarding chain; the row
   is looked up and the decision made. For Telnyx Call Control the call is transferred to
   LiveKit SIP (or rejected) through Telnyx's API here; TwiML/TeXML were answered by ingress.
   The record is stored as ``prepared`` under the carrier's call id, the correlation id is
   made an alias of it, and a signal is pushed on ``prepared_signal(correlation id)``. A timer
   marks the call ``bridge_timeout`` if no LiveKit leg shows up.
2. ``join_bridged_leg`` — the LiveKit ``participant_joined`` carrying ``X-Router-Call``. If the
   decision is not prepared yet, it waits for the signal (BLPOP, bounded by ``join_wait_s``),
   then dispatches the prepared agent and metadata into the join's room and records both legs.
   The id is checked first (``correlation``): forged, minted for another number, expired or
   already used by another leg, the join is decided at once on its own facts, never waited on.
"""

from __future__ import annotations

import time

import msgspec

from router import logs, metrics
from router.core import correlation, events, records, template
from router.core.correlation import CORRELATION_HEADER, sip_address
from router.core.matching import carrier_facts
from router.core.records import CallRecord, Clock, Leg, iso, livekit_leg, sip_facts
from router.core.routing import CallFacts, Decision
from router.errors import TelnyxError
from router.outbound.telnyx_api import TelnyxCallControl
from router.store import keys
from router.store.lease import LeaseBusy
from router.worker import deciding
from router.worker.deciding import CALL_DEADLINE_MS
from router.worker.services import Services

log = logs.get(__name__)
_SIGNAL_TTL_S = 120


async def prepare_carrier_call(svc: Services, event: events.CarrierCall) -> CallRecord | None:
    record = await svc.leases.exclusive(
        event.call_id, lambda r: r is not None, lambda _: _prepare(svc, event)
    )
    if record is not None and record.status == "prepared":
        await deciding.schedule(svc, f"bridge:{event.call_id}", svc.bridge_timeout_s)
    if record is not None and record.correlation_id:
        # Alias before signal: a waiting leg that wakes up must find the record.
        await svc.calls.alias(record.correlation_id, record.call_id)
        signal = keys.prepared_signal(record.correlation_id)
        async with svc.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(signal, b"1")
            pipe.expire(signal, _SIGNAL_TTL_S)
            await pipe.execute()
    return record


async def _prepare(svc: Services, event: events.CarrierCall) -> CallRecord:
    clock = Clock.start(event.received_at_ms)
    facts = carrier_facts(event, svc.config.default_region)
    leg = Leg(
        kind="carrier",
        provider=event.provider,
        call_id=event.call_id,
        at=iso(event.received_at_ms),
        answer=event.answer,
        mode=event.mode,
        account=event.account,
    )
    record = records.new_record(
        facts,
        caller_raw=event.caller,
        dialed_raw=event.dialed,
        received_ms=event.received_at_ms,
        correlation_id=event.correlation_id,
        legs=[leg],
    )
    routed = await deciding.decide_call(svc, facts, event.received_at_ms)
    decision = routed.decision
    record = records.with_decision(record, routed)
    if event.answer == "reject":
        reason = event.answer_reason or record.reject_reason
        return deciding.conclude(record, clock, "rejected", reject_reason=reason)
    if event.mode == "call_control":
        outcome = await _call_control(svc, event, facts, decision)
        if outcome is not None:
            return deciding.conclude(record, clock, "failed", error=outcome)
        answer = "reject" if decision.action == "reject" else "bridge"
        record = msgspec.structs.replace(record, legs=[msgspec.structs.replace(leg, answer=answer)])
    if decision.action == "reject":
        # Ingress bridged, but the row changed since: the LiveKit leg will be hung up on arrival.
        return deciding.conclude(record, clock, "rejected")
    return deciding.conclude(record, clock, "prepared")


async def _call_control(
    svc: Services, event: events.CarrierCall, facts: CallFacts, decision: Decision
) -> str | None:
    """Act on a parked Telnyx call; an error text when Telnyx could not be told."""
    telnyx, sip_uri = svc.telnyx, svc.config.livekit_sip_uri
    region = svc.config.default_region
    if telnyx is None or sip_uri is None:
        return "Telnyx Call Control is not configured (TELNYX_API_KEY, LIVEKIT_SIP_URI)"
    deadline = event.received_at_ms + CALL_DEADLINE_MS
    try:
        if decision.action == "reject":
            await deciding.retrying(
                lambda: telnyx.reject(event.call_id, command_id=f"reject-{event.correlation_id}"),
                deadline,
            )
        else:
            target = sip_address(sip_uri, correlation.bridge_dialed(event.dialed, region))
            await deciding.retrying(
                lambda: telnyx.transfer(
                    event.call_id,
                    to=target,
                    # E.164 only: the caller when it is a number, else the dialed number.
                    from_=facts.caller_number or facts.dialed_number,
                    headers={CORRELATION_HEADER: event.correlation_id},
                    command_id=f"transfer-{event.correlation_id}",
                    client_state=correlation.transfer_state(event.call_id),
                ),
                deadline,
            )
    except TelnyxError as exc:
        if decision.action != "reject":  # the transfer failed: do not leave the caller parked
            await _reject_quietly(telnyx, event.call_id, f"reject-{event.correlation_id}")
        return str(exc)
    return None


async def _reject_quietly(telnyx: TelnyxCallControl, call_id: str, command_id: str) -> str | None:
    try:
        await telnyx.reject(call_id, command_id=command_id)
    except TelnyxError as exc:
        log.warning("telnyx_reject_failed", error=str(exc))
        return str(exc)
    return None


async def transfer_leg_ended(svc: Services, event: events.CarrierLegEnded) -> CallRecord | None:
    """Telnyx's transfer leg to LiveKit ended. Before any LiveKit leg joined, the transfer
    failed: the inbound call is rejected at once and recorded ``failed`` (Telnyx would keep it
    parked until its own timeout). After a join it is the normal end of the call: nothing."""

    def settled(r: CallRecord | None) -> bool:
        return r is None or r.status != "prepared" or r.sip_call_id is not None

    async def fail(r: CallRecord | None) -> CallRecord:
        assert r is not None
        clock = Clock.start(event.received_at_ms)
        why = f"transfer to LiveKit failed: Telnyx ended the transfer leg ({event.cause or '?'})"
        error = None
        if svc.telnyx is not None:
            error = await _reject_quietly(svc.telnyx, r.call_id, f"reject-leg-{event.leg_id}")
        failed = deciding.conclude(r, clock, "failed", error=why)
        return (
            failed
            if error is None
            else msgspec.structs.replace(failed, notes=[*failed.notes, f"reject failed: {error}"])
        )

    return await svc.leases.exclusive(event.call_id, settled, fail)


# ---- the bridged LiveKit leg ----------------------------------------------------------------


async def _wait_for_prepared(svc: Services, correlation_id: str, deadline_ms: int) -> str | None:
    """The carrier call id behind a correlation id, waiting (BLPOP) while it is prepared."""
    limit = min(
        time.monotonic() + svc.join_wait_s,
        time.monotonic() + (deadline_ms - events.now_ms()) / 1000,
    )
    while (canonical := await svc.calls.resolve(correlation_id)) is None:
        left = limit - time.monotonic()
        if left <= 0:
            return None
        # Short slices: a blocked read must finish well inside the client's socket timeout.
        await svc.redis.blpop(
            [keys.prepared_signal(correlation_id)], timeout=max(min(left, 2.0), 0.01)
        )
    return canonical


async def join_bridged_leg(
    svc: Services, event: events.LiveKitSipJoined, attempt: int
) -> CallRecord | None:
    assert event.correlation_id is not None
    key = await svc.correlation.get()
    dialed = correlation.bridge_dialed(event.dialed, svc.config.default_region)
    verdict = correlation.verify(
        key, event.correlation_id, dialed, events.now_ms() // 1000, svc.bridge_timeout_s
    )
    if verdict != "valid":
        # Forged, minted for another number, or past the bridge timeout: decided at once on the
        # join's own facts, as if it carried no header (which anyone dialing LiveKit can do).
        return await _route_on_own_facts(svc, event, attempt, verdict)
    deadline = event.received_at_ms + CALL_DEADLINE_MS
    canonical = await _wait_for_prepared(svc, event.correlation_id, deadline)
    if canonical is None:
        return await _route_on_own_facts(svc, event, attempt, "unprepared")
    record = await svc.leases.exclusive(
        canonical,
        lambda r: r is None or r.sip_call_id is not None,
        lambda r: _dispatch_prepared(svc, event, r, attempt),
    )
    if record is not None and record.sip_call_id not in (None, event.call_id):
        # Single use: another leg already joined with this id; this one takes nothing of it.
        return await _route_on_own_facts(svc, event, attempt, "spent")
    await svc.calls.alias(event.call_id, canonical)
    return record


_REFUSED = {
    "forged": "correlation id does not verify for this leg's dialed number",
    "expired": "correlation id is older than the bridge timeout",
    "future": "correlation id is dated in the future (are the web and worker clocks in sync?)",
    "unprepared": "correlation id matched no prepared carrier call",
    "spent": "correlation id was already used by another leg",
}


async def _route_on_own_facts(
    svc: Services, event: events.LiveKitSipJoined, attempt: int, why: str
) -> CallRecord | None:
    metrics.CORRELATION_REFUSED.labels(why).inc()
    log.warning("correlation_refused", correlation_id=(event.correlation_id or "")[:80], why=why)
    note = f"{_REFUSED[why]}: routed on the LiveKit leg's own facts"

    async def route(_: CallRecord | None) -> CallRecord:
        record = await deciding.route_livekit_join(svc, event, attempt)
        return msgspec.structs.replace(record, notes=[*record.notes, note])

    return await svc.leases.exclusive(event.call_id, lambda r: r is not None, route)


async def _dispatch_prepared(
    svc: Services, event: events.LiveKitSipJoined, record: CallRecord | None, attempt: int
) -> CallRecord:
    assert record is not None
    clock = Clock.start(event.received_at_ms)
    joined = msgspec.structs.replace(
        record,
        room=event.room,
        participant_identity=event.participant_identity,
        sip_call_id=event.call_id,
        legs=[*record.legs, livekit_leg(event)],
        attempts=attempt,
    )
    if record.status in ("prepared", "bridge_timeout"):
        metadata = template.merge(record.metadata or {}, {"sip": sip_facts(event)})
        decision = Decision(
            action="dispatch",
            matched_rule=record.matched_rule,
            phone_number_id=record.phone_number_id,
            agent_id=record.agent_id,
            agent_name=record.agent_name,
            metadata=metadata,
        )
        if record.overflow is not None:  # the number's policy, kept since the carrier call
            decision = msgspec.structs.replace(
                decision,
                overflow=record.overflow.policy,
                overflow_agent_id=record.overflow.agent_id,
                overflow_transfer_to=record.overflow.transfer_to,
            )
        if record.status == "bridge_timeout":
            joined = msgspec.structs.replace(
                joined, notes=[*joined.notes, "LiveKit leg arrived after the bridge timeout"]
            )
        joined = msgspec.structs.replace(joined, metadata=metadata)
        return await deciding.act_on_livekit(svc, joined, decision, event, clock)
    # Rejected (or failed) while the carrier was bridging: do not leave the caller in silence.
    error = await deciding.remove_quietly(svc, event.room, event.participant_identity)
    return msgspec.structs.replace(joined, error=error or joined.error)


async def bridge_timeout(svc: Services, call_id: str) -> None:
    def still_waiting(r: CallRecord | None) -> bool:
        return r is None or r.status != "prepared"

    async def expire(r: CallRecord | None) -> CallRecord:
        assert r is not None
        waited = svc.bridge_timeout_s
        note = f"no LiveKit leg within {waited:g} s of the carrier bridge"
        return msgspec.structs.replace(r, status="bridge_timeout", notes=[*r.notes, note])

    try:
        await svc.leases.exclusive(call_id, still_waiting, expire)
    except LeaseBusy:
        await deciding.schedule(svc, f"bridge:{call_id}", 1.0)  # the leg is being joined right now
