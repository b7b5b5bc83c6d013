"""Lifecycle events to the agent's webhook: ``call.dispatched``, ``call.rejected``,
``call.failed``, and what supervision sees after a dispatch: ``call.agent_joined``,
``call.no_show``, ``call.ended`` (``worker.supervise``).

Delivered at least once, on a schedule kept in Redis so it survives a worker restart:

- ``enqueue`` stores the delivery under a deterministic id (call id + event type) with HSETNX
  and puts it on the due set, so enqueueing twice (a redelivered stream entry) is harmless.
  The worker enqueues after the call's record is final and before the stream entry is
  acknowledged, so a crash in between redelivers the entry and enqueues again.
- ``deliver_due`` (each worker tick) claims due deliveries atomically by pushing their due time
  a lease ahead, POSTs each (Standard Webhooks signed, same ``webhook-id`` on every attempt) and
  on a 2xx removes it; otherwise it reschedules with backoff, and after the last attempt moves it
  to a dead list. A worker that dies mid-delivery leaves it due again when the lease runs out.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import aiohttp
import msgspec
from redis.asyncio import Redis

from router import logs
from router.core.models import Agent
from router.core.records import CallRecord
from router.outbound.signing import secrets_of, sign_headers
from router.outbound.streams import read_capped
from router.outbound.urlguard import NOT_PUBLIC, is_blocked
from router.store import keys
from router.store.due_queue import DueQueue

log = logs.get(__name__)

_BY_STATUS = {
    "dispatched": "call.dispatched",
    "dry_run": "call.dispatched",
    "rejected": "call.rejected",
    "failed": "call.failed",
    "bridge_timeout": "call.failed",
}
BACKOFF_S = (1, 5, 30, 120, 600, 1800, 3600)
LEASE_S = 30
TIMEOUT_S = 10
MAX_RESPONSE = 64 * 1024


class Delivery(msgspec.Struct, kw_only=True):
    id: str  # also the webhook-id: stable across attempts
    url: str
    secrets: list[str]
    body: str
    attempts: int = 0
    last_error: str | None = None


_delivery = msgspec.json.Decoder(Delivery)
_encode = msgspec.json.Encoder().encode


def payload(event_type: str, record: CallRecord) -> dict[str, Any]:
    """Standard Webhooks' envelope: type, timestamp, data (snake_case call facts)."""
    return {
        "type": event_type,
        "timestamp": record.decided_at,
        "data": {
            "call_id": record.call_id,
            "provider": record.provider,
            "status": record.status,
            "caller_number": record.caller_number,
            "dialed_number": record.dialed_number,
            "forwarded_from_number": record.forwarded_from_number,
            "phone_number_id": record.phone_number_id,
            "agent_id": record.agent_id,
            "room": record.room,
            "dispatch_id": record.dispatch_id,
            "reject_reason": record.reject_reason,
            "error": record.error,
            "agent_joined_at": record.agent_joined_at,
            "time_to_agent_ms": record.timings_ms.get("toAgent"),
            "no_show": record.no_show,
            "ended_at": record.ended_at,
            "duration_s": record.duration_s,
            "ended_by": record.ended_by,
            "disconnect_reason": record.disconnect_reason,
        },
    }


class Lifecycle:
    def __init__(self, redis: Redis, session: aiohttp.ClientSession | None) -> None:
        self.redis = redis
        self.session = session
        self.queue = DueQueue(redis, keys.LIFECYCLE_ITEMS, keys.LIFECYCLE_DUE, keys.LIFECYCLE_DEAD)

    async def enqueue(
        self, record: CallRecord, agent: Agent | None, event_type: str | None = None
    ) -> bool:
        """Schedule the event (by default the one of this final record's status), if the
        agent wants it; True if new. One delivery per call and event type, however often."""
        event_type = event_type or _BY_STATUS.get(record.status)
        hook = agent.webhooks.lifecycle if agent is not None and agent.webhooks else None
        if event_type is None or hook is None:
            return False
        if hook.events is not None and event_type not in hook.events:
            return False
        digest = hashlib.sha256(f"{record.call_id}|{event_type}".encode()).hexdigest()[:32]
        delivery = Delivery(
            id=f"msg_{digest}",
            url=hook.url,
            secrets=secrets_of(hook.secret),
            body=_encode(payload(event_type, record)).decode(),
        )
        return await self.queue.enqueue(delivery.id, _encode(delivery), time.time())

    async def deliver_due(self, limit: int = 20) -> int:
        """Attempt the due deliveries; the number delivered."""
        if self.session is None:
            return 0
        claimed = await self.queue.claim(time.time(), LEASE_S, limit)
        session = self.session
        results = await asyncio.gather(
            *(self._attempt(session, _delivery.decode(raw)) for raw in claimed)
        )
        return sum(results)

    async def _attempt(self, session: aiohttp.ClientSession, delivery: Delivery) -> bool:
        body = delivery.body.encode()
        headers = sign_headers(delivery.secrets, body, delivery.id)
        error: str
        try:
            async with asyncio.timeout(TIMEOUT_S):
                async with session.post(
                    delivery.url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    await read_capped(resp.content, MAX_RESPONSE)  # drained: keep-alive
                    if 200 <= resp.status < 300:
                        await self._done(delivery)
                        return True
                    error = f"HTTP {resp.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if is_blocked(exc):  # the SSRF guard: no retry will make the address public
                await self._retry_later(delivery, NOT_PUBLIC, final=True)
                return False
            error = repr(exc)[:300]
        await self._retry_later(delivery, error)
        return False

    async def _done(self, delivery: Delivery) -> None:
        await self.queue.done(delivery.id)
        log.info("lifecycle_delivered", delivery=delivery.id, attempts=delivery.attempts + 1)

    async def _retry_later(self, delivery: Delivery, error: str, *, final: bool = False) -> None:
        attempts = delivery.attempts + 1
        failed = msgspec.structs.replace(delivery, attempts=attempts, last_error=error)
        if final or attempts > len(BACKOFF_S):
            await self.queue.bury(delivery.id, _encode(failed))
            log.error("lifecycle_gave_up", delivery=delivery.id, attempts=attempts, error=error)
        else:
            at = time.time() + BACKOFF_S[attempts - 1]
            await self.queue.retry(delivery.id, _encode(failed), at)
            log.warning("lifecycle_retry", delivery=delivery.id, attempts=attempts, error=error)
