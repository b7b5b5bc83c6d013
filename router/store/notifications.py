"""The operations team's notifications (a business verification submitted): queued by the
admin API, delivered at least once by the workers (``worker.notify``) through the operator's
Slack incoming webhook (``ROUTER_SLACK_WEBHOOK_URL``)."""

from __future__ import annotations

import time
from typing import Literal

import msgspec
from redis.asyncio import Redis

from router.store import keys
from router.store.due_queue import DueQueue


class Notification(msgspec.Struct, kw_only=True):
    id: str  # the job id (``slackNotificationJobId``): one per submission
    kind: Literal["kyb_submitted"]
    organization_id: str
    text: str
    attempts: int = 0
    last_error: str | None = None


def queue_of(redis: Redis) -> DueQueue:
    return DueQueue(redis, keys.NOTIFY_ITEMS, keys.NOTIFY_DUE, keys.NOTIFY_DEAD)


async def enqueue(redis: Redis, notification: Notification) -> bool:
    """The notification, due now, unless its job is queued already; True if new."""
    return await queue_of(redis).enqueue(
        notification.id, msgspec.json.encode(notification), time.time()
    )
