"""The operations team's notifications (``worker.notify``) against the Slack stand-in: a 5xx
or a lost connection is retried with backoff and shown as still queued with the last error;
after the last attempt the notification fails and goes to the dead list."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from router.core.kyb import KybSubmission
from router.store import keys
from router.store.kyb import Kyb, SlackState
from router.store.notifications import Notification, enqueue
from router.worker.notify import Notifier
from tests.slack_standin import SlackStandIn


@pytest.fixture
async def slack(aiohttp_server: Any) -> tuple[SlackStandIn, str]:
    standin = SlackStandIn()
    server = await aiohttp_server(standin.app())
    return standin, str(server.make_url("/services/T1/B1/secret"))


async def _submitted(redis: Any) -> None:
    now = "2026-12-05T00:00:00Z"
    await Kyb(redis).save(
        KybSubmission(id="kyb_1", organization_id="org_a", status="submitted",
                      slack_notification_job_id="job_1", created_at=now, updated_at=now)
    )  # fmt: skip
    await Kyb(redis).notified("org_a", SlackState(status="queued", job_id="job_1"))
    job = Notification(id="job_1", kind="kyb_submitted", organization_id="org_a", text="hi")
    assert await enqueue(redis, job) is True
    assert await enqueue(redis, job) is False  # one job per submission, however often


async def test_a_server_error_is_retried_then_sent(redis, slack):
    standin, url = slack
    standin.answers = [(500, "rollup_error", {})]
    await _submitted(redis)
    async with aiohttp.ClientSession() as http:
        notifier = Notifier(redis, http, url, backoff_s=(0, 0))
        assert await notifier.deliver_due() == 0
        found = await Kyb(redis).get("org_a")
        assert found is not None
        assert found.slack_notification_status == "queued"
        assert found.slack_notification_error == "Slack answered 500: rollup_error"
        assert await notifier.deliver_due() == 1
    found = await Kyb(redis).get("org_a")
    assert found is not None
    assert (found.slack_notification_status, found.slack_notification_error) == ("sent", None)
    assert standin.messages.get_nowait() == {"text": "hi"}
    assert await redis.zcard(keys.NOTIFY_DUE) == 0


async def test_after_the_last_attempt_it_fails(redis, slack, unused_tcp_port):
    await _submitted(redis)
    gone = f"http://127.0.0.1:{unused_tcp_port}/services/T1/B1/secret"  # nobody listens
    async with aiohttp.ClientSession() as http:
        notifier = Notifier(redis, http, gone, backoff_s=(0,))
        assert await notifier.deliver_due() == 0
        assert await notifier.deliver_due() == 0
        assert await notifier.deliver_due() == 0  # nothing left to try
    found = await Kyb(redis).get("org_a")
    assert found is not None
    assert found.slack_notification_status == "failed"
    assert found.slack_notification_error == "Slack did not answer: ClientConnectorError"
    assert await redis.llen(keys.NOTIFY_DEAD) == 1
