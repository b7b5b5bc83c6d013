"""Deliver the operations team's notifications (``store.notifications``) to the operator's
Slack incoming webhook, at least once, and say how it went on the submission
(``slackNotificationStatus``: queued → sent | failed, with Slack's words).

Slack answers ``200 ok``; a ``429`` says when to come back (``Retry-After``), a 5xx or a lost
connection is retried with backoff; any other refusal (``400 invalid_payload``, ``403
invalid_token``, ``404 no_service``, ``410 channel_is_archived``) will not change on a retry
and fails the notification at once. The URL is a secret: never logged.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import msgspec
from redis.asyncio import Redis

from router import logs
from router.outbound.streams import read_capped
from router.store.kyb import Kyb, SlackState
from router.store.notifications import Notification, queue_of

log = logs.get(__name__)
BACKOFF_S = (2, 10, 60, 300, 1800)
LEASE_S = 30
TIMEOUT_S = 10
MAX_RETRY_AFTER_S = 3600

_decode = msgspec.json.Decoder(Notification).decode


class Notifier:
    def __init__(
        self,
        redis: Redis,
        session: aiohttp.ClientSession | None,
        url: str | None,
        *,
        backoff_s: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        self.queue, self.kyb = queue_of(redis), Kyb(redis)
        self.session, self.url, self.backoff_s = session, url, backoff_s

    async def deliver_due(self, limit: int = 10) -> int:
        """Attempt the due notifications; the number delivered."""
        if self.session is None or self.url is None:
            return 0
        claimed = await self.queue.claim(time.time(), LEASE_S, limit)
        results = await asyncio.gather(*(self._attempt(_decode(raw)) for raw in claimed))
        return sum(results)

    async def _attempt(self, job: Notification) -> bool:
        assert self.session is not None
        assert self.url is not None
        retry_after: float | None = None
        try:
            async with asyncio.timeout(TIMEOUT_S):
                async with self.session.post(
                    self.url, json={"text": job.text}, allow_redirects=False
                ) as resp:
                    words = (await read_capped(resp.content, 4096)).decode("utf-8", "replace")
                    if 200 <= resp.status < 300:
                        await self.queue.done(job.id)
                        await self._say(job, SlackState(status="sent", job_id=job.id))
                        log.info("notification_sent", job=job.id, attempts=job.attempts + 1)
                        return True
                    error = f"Slack answered {resp.status}: {words.strip()[:200]}"
                    final = resp.status < 500 and resp.status != 429
                    if resp.status == 429:
                        retry_after = _seconds(resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error, final = f"Slack did not answer: {type(exc).__name__}", False
        await self._again(job, error, final=final, after=retry_after)
        return False

    async def _again(
        self, job: Notification, error: str, *, final: bool, after: float | None
    ) -> None:
        attempts = job.attempts + 1
        failed = msgspec.structs.replace(job, attempts=attempts, last_error=error)
        if final or attempts > len(self.backoff_s):
            await self.queue.bury(job.id, msgspec.json.encode(failed))
            await self._say(job, SlackState(status="failed", job_id=job.id, error=error))
            log.error("notification_failed", job=job.id, attempts=attempts, error=error)
            return
        at = time.time() + (after if after is not None else self.backoff_s[attempts - 1])
        await self.queue.retry(job.id, msgspec.json.encode(failed), at)
        await self._say(job, SlackState(status="queued", job_id=job.id, error=error))
        log.warning("notification_retry", job=job.id, attempts=attempts, error=error)

    async def _say(self, job: Notification, state: SlackState) -> None:
        if job.kind == "kyb_submitted":
            await self.kyb.notified(job.organization_id, state)


def _seconds(value: str | None) -> float | None:
    try:
        return min(max(float(value or ""), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return None
