"""The worker's entry points: which flow a stream entry takes, and what runs on each tick.

- a LiveKit SIP join without a correlation id → the direct flow (``pipeline``);
- a carrier call, or a LiveKit join carrying a carrier's correlation id → ``bridge``;
- each consumer tick fires due timers (bridge timeouts) and delivers due lifecycle events.

After any flow, a call whose record is final has its lifecycle event enqueued (idempotently)
before the entry is acknowledged.
"""

from __future__ import annotations

import time

import msgspec
import structlog

from router import bridge, events, keys
from router.errors import PoisonEntry
from router.lifecycle import Lifecycle
from router.pipeline import FINAL, Pipeline


class Worker:
    def __init__(self, pipeline: Pipeline, lifecycle: Lifecycle | None = None) -> None:
        self.pipeline = pipeline
        self.lifecycle = lifecycle or Lifecycle(pipeline.redis, pipeline.webhook_http)

    async def handle_entry(
        self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int
    ) -> None:
        try:
            event = events.decode(fields.get(events.STREAM_FIELD) or b"")
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            raise PoisonEntry(f"undecodable stream entry: {exc}") from exc
        pipeline = self.pipeline
        with structlog.contextvars.bound_contextvars(call_id=event.call_id):
            match event:
                case events.CarrierCall():
                    record = await bridge.prepare_carrier_call(pipeline, event)
                case events.LiveKitSipJoined(correlation_id=str()):
                    record = await bridge.join_bridged_leg(pipeline, event, deliveries)
                case events.LiveKitSipJoined():
                    record = await pipeline.leases.exclusive(
                        event.call_id,
                        lambda r: r is not None,
                        lambda _: pipeline.route_direct(event, deliveries),
                    )
            if record is not None and record.status in FINAL:
                agent = await pipeline.registry.find_agent(record.agent_id or "")
                await self.lifecycle.enqueue(record, agent)
                await pipeline.calls.remember(record.call_id)

    async def tick(self) -> int:
        """Fire the due timers; each is taken by exactly one worker (whoever ZREMs it)."""
        redis = self.pipeline.redis
        due: list[bytes] = await redis.zrangebyscore(  # type: ignore[assignment]
            keys.TIMERS, "-inf", time.time(), start=0, num=100
        )
        fired = 0
        for raw in due:
            if not await redis.zrem(keys.TIMERS, raw):
                continue
            kind, _, call_id = raw.decode().partition(":")
            if kind == "bridge":
                with structlog.contextvars.bound_contextvars(call_id=call_id):
                    await bridge.bridge_timeout(self.pipeline, call_id)
                fired += 1
        return fired + await self.lifecycle.deliver_due()
