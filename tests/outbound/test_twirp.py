"""The lean Twirp pool to LiveKit, over real sockets: the stand-in for the protocol, and a raw
loopback server for what a real network does (chunked bodies, closes, silence, garbage, TLS)."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trustme
from livekit import api

from router.errors import DispatchUnavailable
from router.outbound.dispatch import LiveKitDispatcher
from router.outbound.tokens import room_admin_token
from router.outbound.twirp import TwirpServerError, TwirpTransport, TwirpTransportError
from tests.conftest import post_livekit, setup_number, wait_record
from tests.livekit_helpers import API_KEY, API_SECRET, sip_join_event

REPLY = api.AgentDispatch(id="AD_raw", agent_name="a", room="r").SerializeToString()
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/protobuf\r\nContent-Length: %d\r\n\r\n%s" % (
    len(REPLY),
    REPLY,
)


class RawServer:
    """Reads each request whole, then writes ``answer(head)``: bytes to send, b"" to stay
    silent, None to close the connection unanswered; ``close_after``: close once answered."""

    def __init__(self, answer: Callable[[bytes], bytes | None], close_after: bool) -> None:
        self.answer, self.close_after = answer, close_after
        self.heads: list[bytes] = []
        self.got_request = asyncio.Event()
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                self.heads.append(head)
                self.got_request.set()
                reply = self.answer(head)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def raw_server(
    answer: Callable[[bytes], bytes | None],
    tls: ssl.SSLContext | None = None,
    close_after: bool = False,
) -> AsyncIterator[tuple[RawServer, int]]:
    raw = RawServer(answer, close_after)
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield raw, server.sockets[0].getsockname()[1]
    finally:
        server.close()


def token(room: str = "r") -> str:
    return room_admin_token(API_KEY, API_SECRET, room)


async def test_calls_reuse_one_keep_alive_connection_and_are_verified_by_livekit(twirp):
    standin, url = twirp
    transport = TwirpTransport(url)
    dispatcher = LiveKitDispatcher(transport, API_KEY, API_SECRET)
    ids = [
        await dispatcher.dispatch(room=f"room-{i}", agent_name="agent", metadata=f'{{"n": {i}}}')
        for i in range(20)
    ]
    transport.close()
    assert len(set(ids)) == 20
    assert [(d.room, d.metadata) for d in standin.dispatch_log] == [
        (f"room-{i}", f'{{"n": {i}}}') for i in range(20)
    ]
    assert transport.connections_opened == 1


async def test_a_connection_idle_too_long_is_replaced_not_reused(twirp):
    standin, url = twirp
    transport = TwirpTransport(url, idle_s=0)  # every pooled connection is already too old
    dispatcher = LiveKitDispatcher(transport, API_KEY, API_SECRET)
    for i in range(3):
        await dispatcher.dispatch(room=f"room-{i}", agent_name="a", metadata="")
    transport.close()
    assert len(standin.dispatch_log) == 3
    assert transport.connections_opened == 3


async def test_concurrent_calls_are_capped_at_the_pool_size(twirp):
    standin, url = twirp
    transport = TwirpTransport(url, max_connections=3)
    dispatcher = LiveKitDispatcher(transport, API_KEY, API_SECRET)
    rooms = [f"room-{i}" for i in range(40)]
    await asyncio.gather(*(dispatcher.dispatch(room=r, agent_name="a", metadata="") for r in rooms))
    transport.close()
    assert sorted(d.room for d in standin.dispatch_log) == sorted(rooms)
    assert 1 <= transport.connections_opened <= 3


async def test_request_on_the_wire_matches_livekit_api():
    async with raw_server(lambda head: OK) as (raw, port):
        transport = TwirpTransport(f"ws://127.0.0.1:{port}/behind/proxy/")
        body = api.CreateAgentDispatchRequest(room="r", agent_name="a").SerializeToString()
        await transport.call("AgentDispatchService", "CreateDispatch", body, "TOKEN")
        await transport.call("AgentDispatchService", "CreateDispatch", body, "TOKEN")
        transport.close()
    first = raw.heads[0].decode()
    assert first.startswith(
        "POST /behind/proxy/twirp/livekit.AgentDispatchService/CreateDispatch HTTP/1.1\r\n"
    )
    for header in (
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/protobuf",
        "Authorization: Bearer TOKEN",
        f"Content-Length: {len(body)}",
    ):
        assert header in first.splitlines()
    request_ids = [re.search(r"X-Livekit-Request-Id: (\S+)", h.decode()) for h in raw.heads]
    assert request_ids[0]
    assert request_ids[1]
    assert request_ids[0].group(1) != request_ids[1].group(1)


async def test_chunked_answer_with_connection_close_is_read_whole_and_not_reused():
    half = len(REPLY) // 2
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, REPLY[:half], len(REPLY) - half, REPLY[half:])
    )
    async with raw_server(lambda head: chunked) as (raw, port):
        transport = TwirpTransport(f"http://127.0.0.1:{port}")
        assert await transport.call("S", "M", b"x", token()) == REPLY
        assert await transport.call("S", "M", b"x", token()) == REPLY
        transport.close()
    assert transport.connections_opened == raw.connections == 2


async def test_a_request_left_unanswered_is_a_transport_error_then_a_fresh_connection():
    answers = iter([None, OK])
    async with raw_server(lambda head: next(answers)) as (raw, port):
        transport = TwirpTransport(f"http://127.0.0.1:{port}")
        dispatcher = LiveKitDispatcher(transport, API_KEY, API_SECRET)
        with pytest.raises(DispatchUnavailable) as caught:
            await dispatcher.dispatch(room="r", agent_name="a", metadata="")
        assert caught.value.status is None  # no answer: it may or may not have been carried out
        assert await dispatcher.dispatch(room="r", agent_name="a", metadata="") == "AD_raw"
        transport.close()
    assert raw.connections == 2


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
async def test_a_request_ended_before_its_answer_does_not_leave_its_connection_pooled(ending):
    answers = iter([b"", OK])  # silent the first time
    async with raw_server(lambda head: next(answers)) as (raw, port):
        transport = TwirpTransport(f"http://127.0.0.1:{port}", timeout_s=0.2, max_connections=1)
        pending = asyncio.create_task(transport.call("S", "M", b"", token()))
        if ending == "cancel":
            await raw.got_request.wait()
            pending.cancel()
        with pytest.raises(asyncio.CancelledError if ending == "cancel" else TwirpTransportError):
            await pending
        assert await transport.call("S", "M", b"", token()) == REPLY
        transport.close()
    assert transport.connections_opened == 2


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\ntruncated", "closed by the server"),
    ],
)
async def test_garbage_or_truncated_answers_are_transport_errors(answer, match):
    async with raw_server(lambda head: answer, close_after=True) as (_, port):
        transport = TwirpTransport(f"http://127.0.0.1:{port}")
        with pytest.raises(TwirpTransportError, match=match):
            await transport.call("S", "M", b"", token())
        transport.close()


async def test_an_oversized_answer_is_refused_not_buffered():
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    async with raw_server(lambda head: big) as (_, port):
        transport = TwirpTransport(f"http://127.0.0.1:{port}", max_body=1000)
        with pytest.raises(TwirpTransportError, match="over 1000 bytes"):
            await transport.call("S", "M", b"", token())
        transport.close()


async def test_twirp_error_bodies_and_proxy_pages_become_server_errors(twirp):
    _, url = twirp
    transport = TwirpTransport(url)
    with pytest.raises(TwirpServerError) as caught:
        await transport.call("NoSuchService", "Nope", b"", token())
    assert (caught.value.status, caught.value.code) == (404, "bad_route")
    page = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 19\r\n\r\n<html>oops</html>\r\n"
    async with raw_server(lambda head: page) as (_, port):
        proxied = TwirpTransport(f"http://127.0.0.1:{port}")
        with pytest.raises(TwirpServerError) as caught:
            await proxied.call("S", "M", b"", token())
        proxied.close()
    assert (caught.value.status, caught.value.code) == (502, "unknown")
    assert "<html>oops</html>" in caught.value.message
    transport.close()


async def test_nothing_listening_fails_fast_and_frees_the_slot():
    async with raw_server(lambda head: OK) as (_, port):
        pass  # the port is closed again
    transport = TwirpTransport(f"http://127.0.0.1:{port}", max_connections=1)
    async with asyncio.timeout(10):  # a leaked slot would make the second call wait forever
        for _ in range(3):
            with pytest.raises(TwirpTransportError, match="cannot connect"):
                await transport.call("S", "M", b"", token())


async def test_https_is_verified_against_the_trusted_roots():
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_tls)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with raw_server(lambda head: OK, tls=server_tls) as (_, port):
        transport = TwirpTransport(f"https://localhost:{port}", ssl_context=trusting)
        assert await transport.call("S", "M", b"", token()) == REPLY
        transport.close()
        stranger = TwirpTransport(f"wss://localhost:{port}")  # the system's roots only
        with pytest.raises(TwirpTransportError, match="CERTIFICATE_VERIFY_FAILED"):
            await stranger.call("S", "M", b"", token())


async def test_a_dispatch_whose_answer_was_lost_is_adopted_not_sent_twice(router, twirp, redis):
    """LiveKit created the dispatch but the answer never came back: the retry asks first."""
    standin, _ = twirp
    await setup_number(router)
    standin.drop_answers = 1
    assert (await post_livekit(router, sip_join_event(call_id="SCL_lost"))).status == 200
    record = await wait_record(redis, "SCL_lost")
    assert record.status == "dispatched"
    assert [d.id for d in standin.created] == [record.dispatch_id]
    assert len(standin.dispatch_log) == 1


def test_only_http_and_websocket_urls_are_accepted() -> None:
    for bad in ("ftp://host", "http://", "host:7880"):
        with pytest.raises(ValueError, match="LiveKit URL"):
            TwirpTransport(bad)


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (503, b'{"code":"unavailable","msg":"busy"}', {"Content-Type": "application/json"}),
        (502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}),  # a proxy's page
        (504, b"", {}),
        (408, b'{"code":"deadline_exceeded","msg":"late"}', {"Content-Type": "application/json"}),
        (499, b'{"code":"canceled","msg":"gone"}', {"Content-Type": "application/json"}),
        (200, b"\xff\x00garbage", {"Content-Type": "application/protobuf"}),
    ],
)
async def test_an_ambiguous_answer_after_the_dispatch_is_made_is_adopted_not_repeated(
    router, twirp, redis, status, body, headers
):
    """LiveKit (or a proxy) made the dispatch but the answer does not say so: the retry asks
    ListDispatch first and adopts it — one agent per call, with the same request id."""
    standin, _ = twirp
    await setup_number(router)
    standin.after_create.append((status, body, headers))
    assert (await post_livekit(router, sip_join_event(call_id="SCL_ambig"))).status == 200
    record = await wait_record(redis, "SCL_ambig")
    assert record.status == "dispatched", record.error
    assert len(standin.dispatch_log) == 1  # never a second CreateDispatch
    assert record.dispatch_id == standin.created[0].id


@pytest.mark.parametrize(("status", "code"), [(429, "resource_exhausted"), (408, "malformed")])
async def test_rate_limits_are_retried_after_retry_after_with_one_request_id(
    router, twirp, redis, status, code
):
    standin, _ = twirp
    await setup_number(router)
    standin.refuse_next.append((status, code, "1"))
    started = asyncio.get_running_loop().time()
    assert (await post_livekit(router, sip_join_event(call_id="SCL_limited"))).status == 200
    record = await wait_record(redis, "SCL_limited")
    assert record.status == "dispatched", record.error  # not hung up as a rejection
    assert asyncio.get_running_loop().time() - started >= 1.0  # Retry-After honoured
    assert len(standin.request_ids) == 2
    assert standin.request_ids[0] == standin.request_ids[1] != ""
    assert standin.removals.empty()
