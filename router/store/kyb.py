"""Each organization's business verification (``core.kyb``): the submission under
``router:{registry}:kyb`` (field: the organization), and apart from it — so the worker never
rewrites what the customer or the operator wrote — how the operations team's notification went
(field ``<org>:slack``)."""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from router.core.kyb import KybSubmission, SlackStatus
from router.store import keys


class SlackState(msgspec.Struct, rename="camel", kw_only=True):
    status: SlackStatus = "not_queued"
    job_id: str | None = None
    error: str | None = None


_submission = msgspec.json.Decoder(KybSubmission)
_slack = msgspec.json.Decoder(SlackState)


class Kyb:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def get(self, org: str) -> KybSubmission | None:
        """The organization's submission, with how its notification went."""
        raw, slack = await self.redis.hmget(keys.KYB, [org, f"{org}:slack"])  # type: ignore[misc, unused-ignore]
        if raw is None:
            return None
        row = _submission.decode(raw)
        if slack is None:
            return row
        state = _slack.decode(slack)
        if state.job_id is not None and state.job_id != row.slack_notification_job_id:
            return row  # an earlier submission's notification
        return msgspec.structs.replace(
            row,
            slack_notification_status=state.status,
            slack_notification_error=state.error,
        )

    async def save(self, row: KybSubmission) -> None:
        await self.redis.hset(keys.KYB, row.organization_id, msgspec.json.encode(row))

    async def notified(self, org: str, state: SlackState) -> None:
        """How the notification of the organization's submission went (the worker's)."""
        await self.redis.hset(keys.KYB, f"{org}:slack", msgspec.json.encode(state))

    async def forget(self, org: str) -> None:
        await self.redis.hdel(keys.KYB, org, f"{org}:slack")
