"""Slow and idle clients are cut off; a flood of half-open connections does not keep genuine
webhooks out — tested on a real ``python -m router web`` process under a 1,024-descriptor
limit, as the attack was first reproduced."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from google.protobuf.json_format import MessageToJson

from tests import routerproc
from tests.conftest import API_KEY, API_SECRET, sign_webhook, sip_join_event
from tests.rawhttp import request_bytes, send_raw

FLOOD = 1000


@pytest.fixture(autouse=True, scope="module")
def _room_for_the_flood() -> None:
    """This test process holds the flood's client sockets: its own limit must allow them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and (hard == resource.RLIM_INFINITY or hard >= 4096):
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))


def _limit_descriptors() -> None:  # in the child, before exec: soft and hard 1,024
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


class WebProcess:
    """A ``web`` process under a 1,024-descriptor limit, and the port it listens on."""

    def __init__(self, process: routerproc.RouterProcess, port: int) -> None:
        self.process, self.port = process, port

    @property
    def log(self) -> list[dict[str, Any]]:
        return self.process.log


@pytest.fixture
async def web(valkey_url: str, redis: Any) -> AsyncIterator[Any]:
    started: list[WebProcess] = []

    async def start(**env: str) -> WebProcess:
        process = await routerproc.start(
            "web",
            env={
                "REDIS_URL": valkey_url, "PORT": "0", "ROUTER_ADMIN_TOKEN": "t" * 32,
                "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET, **env,
            },
            preexec_fn=_limit_descriptors,
        )  # fmt: skip
        started.append(WebProcess(process, await process.port()))
        return started[-1]

    yield start
    for web_process in started:
        await web_process.process.stop()


def _genuine(call_id: str, port: int) -> list[bytes]:
    body = MessageToJson(sip_join_event(call_id=call_id))
    head, raw = request_bytes(
        "POST",
        "/webhooks/livekit",
        body.encode(),
        [("Authorization", sign_webhook(body)), ("Content-Type", "application/webhook+json")],
        host=f"127.0.0.1:{port}",
    )
    return [head + raw]


async def _half_open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /webhooks/livekit HTTP/1.1\r\nHost: x\r\nContent-Le")  # and no more
    await writer.drain()
    return reader, writer


async def test_genuine_webhooks_are_served_during_a_flood_of_half_open_connections(web):
    process = await web()
    cap = next(e for e in process.log if e["event"] == "connection_limits")["max_connections"]
    assert cap == 1024 - 512  # the descriptor limit, less what the router's clients need
    flood = [await _half_open(process.port) for _ in range(FLOOD)]
    served = 0
    started = time.monotonic()
    for i in range(20):
        response = await send_raw(
            "127.0.0.1", process.port, _genuine(f"SCL_flood{i}", process.port)
        )
        served += response.status == 200
    elapsed = time.monotonic() - started
    assert served == 20
    assert elapsed < 5  # served at once, not after the flood's headers timed out (10 s)
    # The oldest slow connections were dropped to make room (the flood beyond the cap, then
    # up to one per genuine webhook); the newest are still open, on their header deadline.
    beyond = FLOOD - cap
    oldest = await asyncio.gather(*(asyncio.wait_for(r.read(), 5) for r, _ in flood[:beyond]))
    assert oldest == [b""] * beyond
    assert not any(reader.at_eof() for reader, _ in flood[beyond + 20 :])
    for _, writer in flood:
        writer.close()


async def test_a_request_whose_headers_stall_is_cut_off(web):
    process = await web(ROUTER_HEADER_TIMEOUT_S="0.5", ROUTER_KEEPALIVE_TIMEOUT_S="30")
    reader, writer = await _half_open(process.port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed without an answer
    assert 0.4 < time.monotonic() - started < 5
    writer.close()


async def test_an_idle_connection_is_closed_after_the_keepalive_limit(web):
    process = await web(ROUTER_KEEPALIVE_TIMEOUT_S="0.5", ROUTER_HEADER_TIMEOUT_S="30")
    reader, writer = await asyncio.open_connection("127.0.0.1", process.port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert 0.4 < time.monotonic() - started < 5
    writer.close()
    # After a request, the same: the connection is kept alive, then closed when idle.
    reader, writer = await asyncio.open_connection("127.0.0.1", process.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    assert answer.startswith(b"HTTP/1.1 200")
    writer.close()


async def test_two_web_processes_share_a_port_only_when_asked(valkey_url):
    """ROUTER_REUSE_PORT=1: a second web process binds the same PORT (the kernel spreads
    connections between them); without it the second one says the port is busy."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = {
        "REDIS_URL": valkey_url, "PORT": str(port), "ROUTER_HOST": "127.0.0.1",
        "ROUTER_ADMIN_TOKEN": "t" * 32,
    }  # fmt: skip
    first = await routerproc.start("web", env={**base, "ROUTER_REUSE_PORT": "1"})
    second = await routerproc.start("web", env={**base, "ROUTER_REUSE_PORT": "1"})
    try:
        refused = await routerproc.run("web", env=base)
        assert refused.code == 2
        assert f"port {port} is already in use" in refused.err
        async with aiohttp.ClientSession() as session:
            for _ in range(4):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
    finally:
        for process in (first, second):
            await process.stop()


async def test_event_streams_filling_the_connection_cap_give_way_to_webhooks(web):
    """Streams are busy for ever; at the cap the oldest stream is evicted (its client
    reconnects) so that a webhook is still served."""
    process = await web(
        ROUTER_MAX_CONNECTIONS="16", ROUTER_MAX_STREAMS="100", ROUTER_MAX_STREAMS_PER_KEY="100"
    )
    headers = {"Authorization": "Bearer " + "t" * 32}
    url = f"http://127.0.0.1:{process.port}/v1/calls/events"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        streams = []
        for _ in range(16):
            resp = await session.get(url, headers=headers)
            assert (await resp.content.readline()).startswith(b": listening")
            streams.append(resp)
        response = await send_raw("127.0.0.1", process.port, _genuine("SCL_cap", process.port))
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):  # the oldest was cut off mid-stream
            await asyncio.wait_for(streams[0].content.read(), 5)
        for stream in streams:
            stream.close()
