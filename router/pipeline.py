"""One inbound call, from stream entry to dispatch (or rejection) and call record.

Steps: decode → already decided? → take the call's lease → normalize numbers and compute the
forwarding → look up the row and agent → ``routing.decide`` → act on LiveKit → write the record
→ release the lease. The consumer acknowledges the entry only when this returns.

Exactly one dispatch per call: a final record means the call is done (a redelivered entry or a
duplicate event is acknowledged without acting), and the lease (``SET NX PX``) keeps two workers
from acting on one call at the same time. A worker that dies holding the lease leaves the entry
pending; it is claimed again once the lease has expired.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime

import msgspec
import structlog
from redis.asyncio import Redis

from router import events, forwarding, keys, logs
from router.calls import CallRecord, CallStore, Status
from router.config import Config
from router.consumer import PoisonEntry
from router.dispatch import Dispatcher
from router.errors import DispatchError, DispatchRejected, RouterError
from router.phone import to_e164
from router.registry import Registry
from router.routing import CallFacts, Decision, decide

log = logs.get(__name__)
_json = msgspec.json.Encoder()

CALL_DEADLINE_MS = 30_000  # after this the caller has given up: record, do not dispatch
_RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseBusy(RouterError):
    """Another worker is deciding this call right now: leave the entry pending."""


class _Clock(msgspec.Struct, frozen=True):
    started: float  # perf_counter when the worker took the call
    received_ms: int  # wall clock when ingress accepted it


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class Pipeline:
    def __init__(
        self,
        redis: Redis,
        registry: Registry,
        calls: CallStore,
        dispatcher: Dispatcher,
        config: Config,
    ) -> None:
        self.redis = redis
        self.registry = registry
        self.calls = calls
        self.dispatcher = dispatcher
        self.config = config
        self._release_lease = redis.register_script(_RELEASE)

    async def handle_entry(
        self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int
    ) -> None:
        payload = fields.get(events.STREAM_FIELD)
        try:
            event = events.decode(payload or b"")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PoisonEntry(f"undecodable stream entry: {exc}") from exc
        with structlog.contextvars.bound_contextvars(call_id=event.call_id):
            await self.process(event, attempt=deliveries)

    async def process(self, event: events.InboundEvent, *, attempt: int = 1) -> CallRecord | None:
        existing = await self.calls.get(event.call_id)
        if existing is not None:
            log.info("call_already_decided", status=existing.status)
            return existing
        lease_key, token = keys.dispatch_lease(event.call_id), secrets.token_hex(8)
        if not await self.redis.set(lease_key, token, nx=True, px=keys.DISPATCH_LEASE_MS):
            raise LeaseBusy(f"call {event.call_id} is being decided by another worker")
        try:
            # Re-check under the lease: the holder before us may have just finished.
            existing = await self.calls.get(event.call_id)
            if existing is not None:
                return existing
            record = await self._decide_and_act(event, attempt)
            await self.calls.put(record)
            return record
        finally:
            await self._release(lease_key, token)

    async def _release(self, lease_key: str, token: str) -> None:
        # Only our own lease: a lease that expired and was taken over is not ours to delete.
        await self._release_lease(keys=[lease_key], args=[token])

    async def _decide_and_act(self, event: events.InboundEvent, attempt: int) -> CallRecord:
        clock = _Clock(time.perf_counter(), event.received_at_ms)
        region = self.config.default_region
        facts = CallFacts(
            call_id=event.call_id,
            provider="livekit",
            caller_number=to_e164(event.caller, region),
            dialed_number=to_e164(event.dialed, region),
            forwarding=forwarding.compute(sip_headers=event.sip_headers, region=region),
            room=event.room,
            sip={
                k: v
                for k, v in (
                    ("callId", event.call_id),
                    ("trunkId", event.trunk_id),
                    ("ruleId", event.rule_id),
                    ("participantIdentity", event.participant_identity),
                )
                if v
            },
        )
        record = CallRecord(
            call_id=event.call_id,
            provider=facts.provider,
            status="failed",
            room=event.room,
            participant_identity=event.participant_identity,
            caller_number=facts.caller_number,
            caller_raw=event.caller,
            dialed_number=facts.dialed_number,
            dialed_raw=event.dialed,
            forwarded_from_number=facts.forwarding.number,
            forwarded_from_withheld=facts.forwarding.withheld,
            forwarded_from_source=facts.forwarding.source,
            forwarding_chain=facts.forwarding.chain,
            attempts=attempt,
            received_at=_iso(event.received_at_ms),
            decided_at="",
        )
        age_ms = events.now_ms() - event.received_at_ms
        if age_ms > CALL_DEADLINE_MS:
            return self._finish(record, clock, "failed", error=f"expired: {age_ms} ms old")

        row, agent = (None, None)
        if facts.dialed_number is not None:
            row, agent = await self.registry.lookup(e164=facts.dialed_number)
        lookup_ms = (time.perf_counter() - clock.started) * 1000
        decision = decide(facts, row, agent, default_agent_name=self.config.default_agent_name)
        record = msgspec.structs.replace(
            record,
            matched_rule=decision.matched_rule,
            phone_number_id=decision.phone_number_id,
            agent_id=decision.agent_id,
            agent_name=decision.agent_name,
            metadata=decision.metadata,
            timings_ms={"lookup": round(lookup_ms, 3)},
        )
        if decision.action == "reject":
            return await self._reject(record, decision, clock)
        return await self._dispatch(record, decision, event, clock)

    async def _dispatch(
        self, record: CallRecord, decision: Decision, event: events.InboundEvent, clock: _Clock
    ) -> CallRecord:
        assert decision.agent_name is not None
        metadata = _json.encode(decision.metadata).decode()
        deadline = event.received_at_ms + CALL_DEADLINE_MS
        try:
            dispatch_id = await self._with_retries(
                lambda: self.dispatcher.dispatch(
                    room=event.room, agent_name=decision.agent_name or "", metadata=metadata
                ),
                deadline,
            )
        except DispatchError as exc:
            # The caller must not be left in silence: hang up, then record the failure.
            await self._remove_quietly(record)
            return self._finish(record, clock, "failed", error=str(exc))
        status: Status = "dry_run" if self.dispatcher.dry_run else "dispatched"
        return self._finish(record, clock, status, dispatch_id=dispatch_id)

    async def _reject(self, record: CallRecord, decision: Decision, clock: _Clock) -> CallRecord:
        error = await self._remove_quietly(record)
        return self._finish(
            record,
            clock,
            "rejected",
            reject_reason=f"{decision.reject_reason}: {decision.detail}",
            error=error,
        )

    async def _remove_quietly(self, record: CallRecord) -> str | None:
        if not record.room or not record.participant_identity:
            return None
        try:
            await self.dispatcher.remove(room=record.room, identity=record.participant_identity)
        except DispatchError as exc:
            log.warning("remove_participant_failed", error=str(exc))
            return f"remove participant failed: {exc}"
        return None

    async def _with_retries(self, call: object, deadline_ms: int) -> str:
        """Retry 5xx/transport failures with backoff while the call's deadline allows."""
        assert callable(call)
        for delay in (*_RETRY_DELAYS_S, None):
            try:
                result: str = await call()
                return result
            except DispatchRejected:
                raise
            except DispatchError as exc:
                left_s = (deadline_ms - events.now_ms()) / 1000
                if delay is None or left_s <= delay:
                    raise
                log.warning("dispatch_retry", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _finish(
        self, record: CallRecord, clock: _Clock, status: Status, **changes: str | None
    ) -> CallRecord:
        total_ms = (time.perf_counter() - clock.started) * 1000
        timings = {**record.timings_ms, "decide": round(total_ms, 3)}
        now = events.now_ms()
        timings["sinceReceived"] = float(now - clock.received_ms)
        done = msgspec.structs.replace(
            record, status=status, decided_at=_iso(now), timings_ms=timings, **changes
        )
        log.info(
            "call_decided",
            status=status,
            dialed=done.dialed_number,
            forwarded_from=done.forwarded_from_number,
            agent=done.agent_name,
            reason=done.reject_reason,
            error=done.error,
            ms=round(total_ms, 2),
        )
        return done
