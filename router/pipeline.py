"""Deciding and acting on one call: the shared machinery and the direct LiveKit flow.

The direct flow (a LiveKit SIP join with no carrier correlation id): normalize, look up the
row, ``routing.decide``, act on LiveKit, record. Carrier calls and their bridged legs use the
same machinery from ``bridge``; ``worker`` routes each stream entry to the right flow.

Exactly one dispatch per call: every flow acts under the call's lease (``lease``). A worker
that dies holding it leaves the entry pending; another claims it, and once the lease lapses
(≤ 5 s) acts on it — first asking LiveKit whether the dead worker's dispatch went through. The
consumer acknowledges an entry only when this returns.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
from redis.asyncio import Redis

from router import events, forwarding, keys, logs, matching, metrics, steer
from router.batching import Batcher
from router.calls import CallStore
from router.config import Config
from router.correlation_key import CorrelationKey
from router.dispatch import Dispatcher
from router.errors import DispatchError, DispatchRejected
from router.lease import Leases
from router.matching import Rows
from router.phone import to_e164
from router.records import CallRecord, Leg, PreCallOutcome, Status
from router.routing import CallFacts, Decision
from router.telnyx_api import TelnyxCallControl

log = logs.get(__name__)
_json = msgspec.json.Encoder()

CALL_DEADLINE_MS = 30_000  # after this the caller has given up: record, do not dispatch
_RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)
FINAL: frozenset[str] = frozenset({"dispatched", "dry_run", "rejected", "failed", "expired"})


class Routed(msgspec.Struct, frozen=True):
    decision: Decision
    lookup_ms: float
    pre_call: PreCallOutcome | None = None
    match_reason: str | None = None
    origin_override: str | None = None
    notes: list[str] = msgspec.field(default_factory=list)


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


class Pipeline:
    def __init__(
        self,
        redis: Redis,
        registry: Rows,
        calls: CallStore,
        dispatcher: Dispatcher,
        config: Config,
        *,
        telnyx: TelnyxCallControl | None = None,
        webhook_http: aiohttp.ClientSession | None = None,
        bridge_timeout_s: float = 60.0,
        join_wait_s: float = 8.0,
        batcher: Batcher | None = None,
        correlation: CorrelationKey | None = None,
    ) -> None:
        self.redis = redis
        self.correlation = correlation or CorrelationKey(redis)
        self.batcher = batcher or Batcher(redis)
        self.registry = registry
        self.calls = calls
        self.dispatcher = dispatcher
        self.config = config
        self.telnyx = telnyx
        self.webhook_http = webhook_http
        self.bridge_timeout_s = bridge_timeout_s
        self.join_wait_s = join_wait_s
        self.leases = Leases(redis, self.batcher)

    # ---- the direct LiveKit flow ----------------------------------------------------------

    def direct_facts(self, event: events.LiveKitSipJoined) -> CallFacts:
        region = self.config.default_region
        return CallFacts(
            call_id=event.call_id,
            provider="livekit",
            caller_number=to_e164(event.caller, region),
            dialed_number=to_e164(event.dialed, region),
            forwarding=forwarding.compute(sip_headers=event.sip_headers, region=region),
            room=event.room,
            sip=sip_facts(event),
        )

    def new_record(
        self,
        facts: CallFacts,
        *,
        caller_raw: str | None,
        dialed_raw: str | None,
        received_ms: int,
        **extra: Any,
    ) -> CallRecord:
        return CallRecord(
            call_id=facts.call_id,
            provider=facts.provider,
            status="failed",
            caller_number=facts.caller_number,
            caller_raw=caller_raw,
            dialed_number=facts.dialed_number,
            dialed_raw=dialed_raw,
            forwarded_from_number=facts.forwarding.number,
            forwarded_from_withheld=facts.forwarding.withheld,
            forwarded_from_source=facts.forwarding.source,
            forwarding_chain=facts.forwarding.chain,
            received_at=iso(received_ms),
            decided_at="",
            **extra,
        )

    async def decide_call(self, facts: CallFacts, received_ms: int) -> Routed:
        """Match the row (``matching``), decide, and let the pre-call webhook steer."""
        started = time.perf_counter()
        routing = await matching.route(self.registry, facts, self.config.default_agent_name)
        lookup_ms = (time.perf_counter() - started) * 1000
        decision, row, agent = routing.decision, routing.row, routing.agent
        hook = agent.webhooks.pre_call if agent is not None and agent.webhooks else None
        outcome = None
        if decision.action == "dispatch" and hook is not None and row is not None:
            assert agent is not None
            decision, outcome = await steer.with_pre_call(
                self, facts, row, agent, hook, decision, received_ms
            )
        return Routed(decision, lookup_ms, outcome, routing.reason, routing.override, routing.notes)

    @staticmethod
    def with_decision(record: CallRecord, routed: Routed) -> CallRecord:
        decision, lookup_ms = routed.decision, routed.lookup_ms
        timings = {**record.timings_ms, "lookup": round(lookup_ms, 3)}
        if routed.pre_call is not None:
            timings["preCall"] = routed.pre_call.ms
        return msgspec.structs.replace(
            record,
            matched_rule=decision.matched_rule,
            phone_number_id=decision.phone_number_id,
            agent_id=decision.agent_id,
            agent_name=decision.agent_name,
            metadata=decision.metadata,
            reject_reason=(
                f"{decision.reject_reason}: {decision.detail}" if decision.reject_reason else None
            ),
            pre_call=routed.pre_call,
            match_reason=routed.match_reason,
            origin_override=routed.origin_override,
            notes=[*record.notes, *routed.notes],
            timings_ms=timings,
        )

    async def route_direct(self, event: events.LiveKitSipJoined, attempt: int) -> CallRecord:
        clock = Clock.start(event.received_at_ms)
        facts = self.direct_facts(event)
        record = self.new_record(
            facts,
            caller_raw=event.caller,
            dialed_raw=event.dialed,
            received_ms=clock.received_ms,
            room=event.room,
            participant_identity=event.participant_identity,
            sip_call_id=event.call_id,
            legs=[livekit_leg(event)],
            attempts=attempt,
        )
        age_ms = events.now_ms() - event.received_at_ms
        if age_ms > CALL_DEADLINE_MS:
            await self.remove_quietly(event.room, event.participant_identity)
            return self.finish(record, clock, "expired", error=f"event is {age_ms} ms old")
        routed = await self.decide_call(facts, event.received_at_ms)
        record = self.with_decision(record, routed)
        return await self.act_on_livekit(record, routed.decision, event, clock)

    async def act_on_livekit(
        self, record: CallRecord, decision: Decision, event: events.LiveKitSipJoined, clock: Clock
    ) -> CallRecord:
        """Dispatch the decided agent into the join's room, or hang the participant up."""
        if decision.action == "reject":
            error = await self.remove_quietly(event.room, event.participant_identity)
            return self.finish(record, clock, "rejected", error=error)
        agent_name = decision.agent_name or ""
        metadata = _json.encode(decision.metadata).decode()
        deadline = event.received_at_ms + CALL_DEADLINE_MS

        ask_first = record.attempts > 1

        async def dispatch_once() -> str | None:
            # A redelivered entry may follow an attempt that dispatched, then died before
            # recording it; a request that got no answer may have been carried out: adopt that
            # dispatch instead of sending a second agent.
            nonlocal ask_first
            if ask_first:
                found = await self.dispatcher.find(room=event.room, agent_name=agent_name)
                if found is not None:
                    log.info("dispatch_adopted", dispatch_id=found)
                    return found
            try:
                return await self.dispatcher.dispatch(
                    room=event.room, agent_name=agent_name, metadata=metadata
                )
            except DispatchError as exc:
                ask_first = exc.status is None  # no answer: it may have been carried out
                raise

        try:
            dispatch_id = await self.retrying(dispatch_once, deadline)
        except DispatchError as exc:
            # The caller must not be left in silence: hang up, then record the failure.
            await self.remove_quietly(event.room, event.participant_identity)
            return self.finish(record, clock, "failed", error=str(exc))
        status: Status = "dry_run" if self.dispatcher.dry_run else "dispatched"
        return self.finish(record, clock, status, dispatch_id=dispatch_id)

    # ---- shared actions -------------------------------------------------------------------

    async def remove_quietly(self, room: str | None, identity: str | None) -> str | None:
        if not room or not identity:
            return None
        try:
            await self.dispatcher.remove(room=room, identity=identity)
        except DispatchError as exc:
            log.warning("remove_participant_failed", error=str(exc))
            return f"remove participant failed: {exc}"
        return None

    @staticmethod
    async def retrying(call: Callable[[], Awaitable[str | None]], deadline_ms: int) -> str | None:
        """Retry 5xx/transport failures with backoff while the call's deadline allows."""
        for delay in (*_RETRY_DELAYS_S, None):
            try:
                return await call()
            except DispatchRejected:
                raise
            except DispatchError as exc:
                left_s = (deadline_ms - events.now_ms()) / 1000
                if delay is None or left_s <= delay:
                    raise
                log.warning("remote_call_retry", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def finish(
        self, record: CallRecord, clock: Clock, status: Status, **changes: str | None
    ) -> CallRecord:
        total_ms = (time.perf_counter() - clock.started) * 1000
        now = events.now_ms()
        timings = {
            **record.timings_ms,
            "decide": round(total_ms, 3),
            "sinceReceived": float(now - clock.received_ms),
        }
        done = msgspec.structs.replace(
            record, status=status, decided_at=iso(now), timings_ms=timings, **changes
        )
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
            ms=round(total_ms, 2),
        )
        return done

    # ---- timers ---------------------------------------------------------------------------

    async def schedule(self, member: str, delay_s: float) -> None:
        await self.redis.zadd(keys.TIMERS, {member: time.time() + delay_s})
