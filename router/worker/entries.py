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
from router.errors import PoisonEntry
from router.store import keys
from router.worker import bridged, direct
from router.worker.deciding import FINAL
from router.worker.lifecycle import Lifecycle
from router.worker.services import Services


class Worker:
    def __init__(self, services: Services, lifecycle: Lifecycle | None = None) -> None:
        self.services = services
        self.lifecycle = lifecycle or Lifecycle(services.redis, services.webhook_http)

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
            if record is not None and record.status in FINAL:
                agent = await svc.rows.find_agent(record.agent_id or "")
                await self.lifecycle.enqueue(record, agent)
                await svc.calls.remember(record.call_id)

    async def tick(self) -> int:
        """Fire the due timers; each is taken by exactly one worker (whoever ZREMs it)."""
        redis = self.services.redis
        due: list[bytes] = await redis.zrangebyscore(  # type: ignore[assignment, unused-ignore]
            keys.TIMERS, "-inf", time.time(), start=0, num=100
        )
        fired = 0
        for raw in due:
            if not await redis.zrem(keys.TIMERS, raw):
                continue
            kind, _, call_id = raw.decode().partition(":")
            if kind == "bridge":
                with structlog.contextvars.bound_contextvars(call_id=call_id):
                    await bridged.bridge_timeout(self.services, call_id)
                fired += 1
        return fired + await self.lifecycle.deliver_due()
