"""The worker's entry points: which flow a stream entry takes, and what runs on each tick.

- a LiveKit SIP join without a correlation id → the direct flow (``direct``);
- a carrier call, or a LiveKit join carrying a carrier's correlation id → ``bridged``;
- each consumer tick fires due timers (bridge timeouts) and delivers due lifecycle events.

After any flow, a call whose record is final has its lifecycle event enqueued (idempotently)
before the entry is acknowledged.
"""

from __future__ import annotations

import time

import msgspec
import structlog

from router.core import events
from router.core.records import FINAL
from router.errors import PoisonEntry
from router.store import keys
from router.worker import bridged, direct, supervise
from router.worker.lifecycle import Lifecycle
from router.worker.notify import Notifier
from router.worker.services import Services

TIMER_CLAIM_S = 30.0  # a claimed timer comes due again after this, should its worker die
# Claim a due timer: move it ahead, if it is still due (exactly one worker wins).
_CLAIM_TIMER = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""
# Remove a fired timer, unless its work scheduled it anew (its score is not our claim's).
_TIMER_DONE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""


class Worker:
    def __init__(
        self,
        services: Services,
        lifecycle: Lifecycle | None = None,
        *,
        timer_claim_s: float = TIMER_CLAIM_S,
    ) -> None:
        self.services = services
        self.timer_claim_s = timer_claim_s
        self._rooms_timer_set = False
        self.lifecycle = lifecycle or Lifecycle(services.redis, services.webhook_http)
        self.notifier = Notifier(
            services.redis, services.webhook_http, services.config.slack_webhook_url
        )
        self._claim_timer = services.redis.register_script(_CLAIM_TIMER)
        self._timer_done = services.redis.register_script(_TIMER_DONE)

    async def handle_entry(
        self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int
    ) -> None:
        try:
            event = events.decode(fields.get(events.STREAM_FIELD) or b"")
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            raise PoisonEntry(f"undecodable stream entry: {exc}") from exc
        svc = self.services
        with structlog.contextvars.bound_contextvars(call_id=event.call_id):
            match event:
                case events.CarrierCall():
                    record = await bridged.prepare_carrier_call(svc, event)
                case events.LiveKitSipJoined(correlation_id=str()):
                    record = await bridged.join_bridged_leg(svc, event, deliveries)
                case events.LiveKitSipJoined():
                    record = await direct.handle_join(svc, event, deliveries)
                case events.CarrierLegEnded():
                    record = await bridged.transfer_leg_ended(svc, event)
                case events.LiveKitRoomEvent():
                    await supervise.room_event(svc, event, self.lifecycle)
                    record = None  # a supervised call's record is written under its lease
            if record is not None and record.status in FINAL:
                agent = await svc.rows.find_agent(record.agent_id or "")
                await self.lifecycle.enqueue(record, agent)
                await svc.calls.remember(record.call_id)

    async def tick(self) -> int:
        """Fire the due timers (bridge timeouts, the room check) and agents' watchdogs. A
        timer is claimed, not taken: the claim moves it ``TIMER_CLAIM_S`` ahead (one worker
        wins it), and it is removed only once its work is done — a worker killed while acting
        leaves it to come due again for another."""
        redis = self.services.redis
        now = time.time()
        if not self._rooms_timer_set:  # the periodic room check: one timer for all workers
            check = {supervise.ROOMS_TIMER: now + supervise.ROOM_CHECK_S}
            await redis.zadd(keys.TIMERS, check, nx=True)
            self._rooms_timer_set = True
        fired = 0
        for timers in (keys.TIMERS, keys.WATCHDOGS):
            fired += await self._fire(timers, now)
        delivered = await self.lifecycle.deliver_due() + await self.notifier.deliver_due()
        return fired + delivered

    async def _fire(self, timers: str, now: float) -> int:
        redis = self.services.redis
        due: list[bytes] = await redis.zrangebyscore(  # type: ignore[assignment, unused-ignore]
            timers, "-inf", now, start=0, num=100
        )
        fired = 0
        for raw in due:
            claimed = now + self.timer_claim_s
            if not await self._claim_timer(keys=[timers], args=[raw, now, claimed]):
                continue
            kind, _, call_id = raw.decode().partition(":")
            with structlog.contextvars.bound_contextvars(call_id=call_id):
                if kind == "bridge":
                    await bridged.bridge_timeout(self.services, call_id)
                elif kind == "agent":
                    await supervise.agent_timeout(self.services, call_id, self.lifecycle)
                elif kind == "rooms":
                    await supervise.check_rooms(self.services)
                    await redis.zadd(keys.TIMERS, {raw: time.time() + supervise.ROOM_CHECK_S})
            # Done: removed unless its work set it again (a fallback agent's own watchdog).
            await self._timer_done(keys=[timers], args=[raw, claimed])
            fired += 1
        return fired
