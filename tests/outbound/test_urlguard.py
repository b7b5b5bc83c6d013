"""The SSRF guard: every spelling of an internal address is refused when a URL is saved, and
every internal address is refused when a socket is about to connect (pre-call and lifecycle)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from router.api.webhook_urls import check_webhook_url
from router.core.models import Agent, AgentWebhooks, LifecycleWebhook
from router.core.records import CallRecord
from router.errors import ValidationError
from router.outbound.urlguard import is_blocked, is_public_address, webhook_session
from router.store import keys
from router.worker.lifecycle import Lifecycle
from tests.conftest import WHSEC, make_config

# Each of these reaches this machine, or a network behind it, if it is ever connected to.
INTERNAL_HOSTS = [
    "127.0.0.1", "127.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0", "0.0.0.0",
    "10.1.2.3", "169.254.169.254", "100.64.0.1", "192.168.0.1", "localhost", "LOCALHOST.",
    "api.localhost", "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]",
    "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::7f00:1]", "[2002:7f00:1::1]",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "[fd00::1]", "[fe80::1]", "[ff02::1]",
    # Spellings the HTTP client reads as one of the above (IDNA / UTS #46, percent-encoding)
    "①②⑦.0.0.1", "127。0。0。1", "１２７.０.０.１", "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "%31%32%37.0.0.1",  # noqa: RUF001
    "%6c%6f%63%61%6c%68%6f%73%74", "api.ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "①⑨②.①⑥⑧.0.1",
]  # fmt: skip


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_internal_hosts_are_refused_when_a_url_is_saved(host):
    config = make_config(ROUTER_WEBHOOK_ALLOW_PRIVATE=False)
    with pytest.raises(ValidationError, match="not a public address"):
        check_webhook_url(f"https://{host}/hook", config, field="webhooks.preCall.url")


@pytest.mark.parametrize(
    "host",
    [
        "hooks.example.com", "8.8.8.8", "[2606:4700:4700::1111]", "bücher.example",
        "xn--bcher-kva.example", "ｈｏｏｋｓ.example.com",  # noqa: RUF001
    ],
)  # fmt: skip
def test_public_hosts_are_accepted_when_a_url_is_saved(host):
    config = make_config(ROUTER_WEBHOOK_ALLOW_PRIVATE=False)
    url = f"https://{host}/hook"
    assert check_webhook_url(url, config, field="webhooks.preCall.url") == url


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2606:4700:4700::1111", True), ("::ffff:8.8.8.8", False),
     ("64:ff9b::808:808", False), ("2002:808:808::1", False), ("2001:0:808:808::1", False)],
)  # fmt: skip
def test_ipv6_forms_carrying_an_ipv4_address_are_never_public(address, public):
    """A gateway carries them to the embedded address: refused even when it is public."""
    assert is_public_address(address) is public


class Listener:
    """A loopback TCP server that counts the connections it accepts (IPv4 and IPv6)."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[tuple[Listener, int]]:
    counter = Listener()
    server = await asyncio.start_server(counter.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # The same port on ::1, so that [::1] is reached too (bound by the number we were given).
    server6 = await asyncio.start_server(counter.handle, "::1", port)
    yield counter, port
    server.close()
    server6.close()
    server.close()


# The forms that reach this machine through an unguarded session, and the legacy numeric
# IPv4 spellings that aiohttp (3.13 and later) itself refuses to resolve.
REACHING = ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "[::1]"]
LEGACY_NUMERIC = ["127.1", "2130706433", "0177.0.0.1"]


@pytest.mark.parametrize("host", REACHING + LEGACY_NUMERIC)
async def test_the_guard_refuses_at_connect_time_what_the_open_session_reaches(listener, host):
    counter, port = listener
    url = f"http://{host}:{port}/hook"
    async with webhook_session(allow_private=True) as open_session:
        if host in REACHING:
            async with open_session.post(url, data=b"{}") as resp:
                assert resp.status == 200  # the form does reach this machine
        else:
            with pytest.raises(aiohttp.InvalidUrlClientError):
                await open_session.post(url, data=b"{}")
    reached = counter.accepted
    assert reached == (1 if host in REACHING else 0)
    async with webhook_session(allow_private=False) as guarded:
        with pytest.raises(aiohttp.ClientError) as caught:
            async with guarded.post(url, data=b"{}"):
                pass
    if host in REACHING:
        assert is_blocked(caught.value)
    assert counter.accepted == reached  # not one more connection


async def test_a_stored_loopback_lifecycle_url_is_never_connected_to(listener, redis):
    """A row written before the write-time rule (or by hand): dead-lettered, not connected."""
    counter, port = listener
    agent = Agent(
        id="ag_1", name="a", livekit_agent_name="a", created_at="t", updated_at="t",
        webhooks=AgentWebhooks(
            lifecycle=LifecycleWebhook(url=f"http://127.0.0.1:{port}/life", secret=WHSEC)
        ),
    )  # fmt: skip
    record = CallRecord(
        call_id="c1", provider="livekit", status="dispatched", received_at="t", decided_at="t"
    )
    async with webhook_session(allow_private=False) as session:
        lifecycle = Lifecycle(redis, session)
        assert await lifecycle.enqueue(record, agent)
        assert await lifecycle.deliver_due() == 0
    assert counter.accepted == 0
    dead = await redis.lrange(keys.LIFECYCLE_DEAD, 0, -1)
    assert len(dead) == 1
    delivery = json.loads(dead[0])
    # The same words whatever lies behind the address: nothing about an internal port.
    assert delivery["last_error"] == "the webhook host is not a public address"
