"""The steps both call flows share: decide a call, act on its LiveKit room, conclude it.

- ``decide_call``: match the row (``matching``), decide, let the pre-call webhook steer.
- ``route_livekit_join``: a LiveKit SIP join decided on its own facts (the direct flow, and a
  bridged leg whose correlation id is not honoured).
- ``act_on_livekit``: dispatch the decided agent into the join's room, or hang the caller up.
- ``conclude``: the final record (``records.finished``) with its metrics and log line.

Exactly one dispatch per call: every flow acts under the call's lease (``store.lease``). A
worker that dies holding it leaves the entry pending; another claims it, and once the lease
lapses (≤ 5 s) acts on it — first asking LiveKit whether the dead worker's dispatch went
through. The consumer acknowledges an entry only when the flow returns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec

from router import logs, metrics
from router.config import Config
from router.core import events, matching, records
from router.core.records import CallRecord, Clock, Status
from router.core.routing import CallFacts, Decision, Routing, fallback_metadata
from router.errors import DispatchError, RemoteError, RemoteRejected
from router.store import keys
from router.worker import steer, supervise
from router.worker.services import Services

log = logs.get(__name__)
_json = msgspec.json.Encoder()

CALL_DEADLINE_MS = 30_000  # after this the caller has given up: record, do not dispatch
_RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)


def join_facts(config: Config, event: events.LiveKitSipJoined) -> CallFacts:
    """A LiveKit join's own facts (``matching.call_facts``: numbers read in the call's own
    country, forwarding from its SIP headers)."""
    return matching.call_facts(
        call_id=event.call_id,
        provider="livekit",
        caller=event.caller,
        dialed=event.dialed,
        default_region=config.default_region,
        sip_headers=event.sip_headers,
        room=event.room,
        sip=records.sip_facts(event),
    )


async def decide_call(svc: Services, facts: CallFacts, received_ms: int) -> Routing:
    """Match the row (``matching``), decide, and let the pre-call webhook steer."""
    started = time.perf_counter()
    routing = await matching.route(svc.rows, facts, svc.config.default_agent_name)
    lookup_ms = (time.perf_counter() - started) * 1000
    decision, row, agent = routing.decision, routing.row, routing.agent
    facts = routing.facts or facts  # read again in the dialed number's country if need be
    hook = agent.webhooks.pre_call if agent is not None and agent.webhooks else None
    outcome = None
    if decision.action == "dispatch" and hook is not None and row is not None:
        assert agent is not None
        assert svc.webhook_http is not None
        decision, outcome = await steer.with_pre_call(
            svc.webhook_http,
            svc.redis,
            svc.rows,
            facts,
            row,
            agent,
            hook,
            decision,
            received_ms=received_ms,
            allow_private=svc.config.webhook_allow_private,
        )
    return msgspec.structs.replace(
        routing, decision=decision, lookup_ms=lookup_ms, pre_call=outcome
    )


async def route_livekit_join(
    svc: Services, event: events.LiveKitSipJoined, attempt: int
) -> CallRecord:
    """Decide a LiveKit SIP join on its own facts and act on its room."""
    clock = Clock.start(event.received_at_ms)
    facts = join_facts(svc.config, event)
    record = records.new_record(
        facts,
        caller_raw=event.caller,
        dialed_raw=event.dialed,
        received_ms=clock.received_ms,
        room=event.room,
        participant_identity=event.participant_identity,
        sip_call_id=event.call_id,
        legs=[records.livekit_leg(event)],
        attempts=attempt,
    )
    age_ms = events.now_ms() - event.received_at_ms
    if age_ms > CALL_DEADLINE_MS:
        await remove_quietly(svc, event.room, event.participant_identity)
        return conclude(record, clock, "expired", error=f"event is {age_ms} ms old")
    routed = await decide_call(svc, facts, event.received_at_ms)
    record = records.with_decision(record, routed)
    return await act_on_livekit(svc, record, routed.decision, event, clock)


async def act_on_livekit(
    svc: Services,
    record: CallRecord,
    decision: Decision,
    event: events.LiveKitSipJoined,
    clock: Clock,
) -> CallRecord:
    """Dispatch the decided agent into the join's room, or hang the participant up."""
    if decision.action == "reject":
        error = await remove_quietly(svc, event.room, event.participant_identity)
        return conclude(record, clock, "rejected", error=error)
    # One script: has the caller left already; the call's admission under maxConcurrentCalls;
    # its room tied to it and its agent's watchdog set (a failed dispatch undoes these).
    counted = not svc.dispatcher.dry_run
    agent = await svc.rows.find_agent(decision.agent_id or "")
    verdict, gone = await svc.live.before_dispatch(
        record.call_id,
        event.room,
        org=record.organization_id or "",
        agent_id=decision.agent_id,
        agent_limit=agent.max_concurrent_calls if agent is not None else None,
        watch_s=supervise.join_timeout(agent) if counted else None,
    )
    if gone is not None:  # never an agent alone in an empty room
        metrics.ABANDONED.inc()
        waited = max(gone - event.received_at_ms, 0)
        return conclude(
            record, clock, "abandoned", error=f"the caller left after {waited} ms, before dispatch"
        )
    if verdict == "ORG":
        why = f"organization {record.organization_id} is at its maxConcurrentCalls"
        return await overflow(svc, record, decision, event, clock, why)
    if verdict == "AGENT":
        why = f"agent {decision.agent_name} is at its maxConcurrentCalls"
        return await overflow(svc, record, decision, event, clock, why)
    dispatcher = svc.dispatcher
    agent_name = decision.agent_name or ""
    metadata = _json.encode(decision.metadata).decode()
    deadline = event.received_at_ms + CALL_DEADLINE_MS

    ask_first = record.attempts > 1
    request_id = dispatcher.request_id()  # one id for this dispatch and all its retries

    async def dispatch_once() -> str | None:
        # A redelivered entry may follow an attempt that dispatched, then died before
        # recording it; a request whose outcome is unknown (no answer, a timeout, a 5xx) may
        # have been carried out: adopt that dispatch instead of sending a second agent.
        nonlocal ask_first
        if ask_first:
            found = await dispatcher.find(room=event.room, agent_name=agent_name)
            if found is not None:
                log.info("dispatch_adopted", dispatch_id=found)
                return found
        try:
            return await dispatcher.dispatch(
                room=event.room, agent_name=agent_name, metadata=metadata, request_id=request_id
            )
        except DispatchError as exc:
            ask_first = exc.maybe_done
            raise

    try:
        dispatch_id = await retrying(dispatch_once, deadline)
    except DispatchError as exc:
        # The caller must not be left in silence: hang up, then record the failure.
        await remove_quietly(svc, event.room, event.participant_identity)
        if not dispatcher.dry_run:
            await svc.live.release(record.call_id, record.organization_id, decision.agent_id)
        return conclude(record, clock, "failed", error=str(exc))
    status: Status = "dry_run" if dispatcher.dry_run else "dispatched"
    return conclude(record, clock, status, dispatch_id=dispatch_id)


async def overflow(
    svc: Services,
    record: CallRecord,
    decision: Decision,
    event: events.LiveKitSipJoined,
    clock: Clock,
    why: str,
) -> CallRecord:
    """A call over a limit: the number's overflow policy — another agent (counted in its
    turn), a human line, or a polite reject — recorded with reason ``concurrency_limit``."""
    metrics.OVERFLOWS.labels(decision.overflow).inc()
    if decision.overflow == "overflow_agent" and decision.overflow_agent_id:
        other = await svc.rows.find_agent(decision.overflow_agent_id)
        if other is not None:
            instead = msgspec.structs.replace(
                decision,
                agent_id=other.id,
                agent_name=other.livekit_agent_name,
                metadata=fallback_metadata(decision.metadata, other),
                overflow="reject",  # one step: over again, the call is rejected
            )
            noted = msgspec.structs.replace(
                record,
                agent_id=other.id,
                agent_name=other.livekit_agent_name,
                metadata=instead.metadata,
                notes=[*record.notes, f"concurrency_limit: {why}; overflow agent instead"],
            )
            return await act_on_livekit(svc, noted, instead, event, clock)
    reason = f"concurrency_limit: {why}"
    line = decision.overflow_transfer_to
    if decision.overflow == "transfer" and line:
        failed = await supervise.transfer_caller(svc, record, event.room, line)
        if failed is None:
            return conclude(
                record, clock, "rejected", reject_reason=f"{reason} (transferred to {line})"
            )
        reason = f"{reason} (transfer failed: {failed})"
    error = await remove_quietly(svc, event.room, event.participant_identity)
    return conclude(record, clock, "rejected", reject_reason=reason, error=error)


async def remove_quietly(svc: Services, room: str | None, identity: str | None) -> str | None:
    """Hang a SIP participant up; the failure as text (recorded), never raised."""
    if not room or not identity:
        return None
    try:
        await svc.dispatcher.remove(room=room, identity=identity)
    except DispatchError as exc:
        log.warning("remove_participant_failed", error=str(exc))
        return f"remove participant failed: {exc}"
    return None


async def retrying(call: Callable[[], Awaitable[str | None]], deadline_ms: int) -> str | None:
    """Retry 5xx/transport failures (LiveKit's or Telnyx's) with backoff while the call's
    deadline allows; a 4xx is raised at once."""
    for delay in (*_RETRY_DELAYS_S, None):
        try:
            return await call()
        except RemoteRejected:
            raise
        except RemoteError as exc:
            left_s = (deadline_ms - events.now_ms()) / 1000
            wait = max(delay, exc.retry_after_s or 0.0) if delay is not None else None
            if wait is None or left_s <= wait:
                raise
            log.warning("remote_call_retry", error=str(exc), retry_in_s=wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def conclude(record: CallRecord, clock: Clock, status: Status, **changes: str | None) -> CallRecord:
    """The final record, counted in the metrics and logged: one canonical line per call."""
    now = events.now_ms()
    done = records.finished(record, clock, status, now, **changes)
    metrics.CALLS.labels(status, done.matched_rule or "none").inc()
    if status in ("dispatched", "dry_run"):
        metrics.DISPATCH_SECONDS.observe((now - clock.received_ms) / 1000)
    if done.pre_call is not None:
        metrics.PRECALL.labels(done.pre_call.status).inc()
        metrics.PRECALL_SECONDS.observe(done.pre_call.ms / 1000)
    log.info(
        "call_decided",
        status=status,
        provider=done.provider,
        dialed=done.dialed_number,
        forwarded_from=done.forwarded_from_number,
        agent=done.agent_name,
        reason=done.reject_reason,
        error=done.error,
        ms=done.timings_ms["decide"],
    )
    return done


async def schedule(svc: Services, member: str, delay_s: float) -> None:
    """A timer (``bridge:<call id>``) the first consumer fires when due (``entries.tick``)."""
    await svc.redis.zadd(keys.TIMERS, {member: time.time() + delay_s})
