"""Bodies the network delivers in pieces are read whole, on every endpoint, plain and TLS.

Each request is written as a real network may deliver it — head, then the body in two (or in
1,448-byte MSS-sized) segments with a pause between — and must be accepted exactly as if it
had come in one write. The same for a pre-call receiver that writes its answer in two parts.

Hostile bytes get a 4xx with the error body, never a 500: raw header bytes that are not UTF-8
on every endpoint, digits int() refuses, and JSON nested past every bound.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import trustme
from aiohttp import web
from google.protobuf.json_format import MessageToJson
from twilio.request_validator import RequestValidator

from router.core.events import now_ms
from router.core.models import PreCallWebhook
from router.outbound.precall import PreCallRequest, ask
from router.outbound.urlguard import webhook_session
from router.server.app import build_app
from router.store import keys
from router.web import connections
from tests.carrier_helpers import (
    LIVEKIT_SIP_URI,
    TELNYX_API_KEY,
    TELNYX_PUBLIC,
    TWILIO_TOKEN,
    call_initiated,
    telnyx_headers,
    twilio_form,
)
from tests.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    WHSEC,
    make_config,
    refused,
    sign_webhook,
    sip_join_event,
)
from tests.rawhttp import request_bytes, segments, send_raw

Request = tuple[str, str, bytes, list[tuple[str, str | bytes]]]  # method, path, body, headers


class LiveRouter:
    """The router's web side on a real TCP port (optionally TLS), as carriers reach it."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.scheme = "https" if tls else "http"

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    async def send(self, request: Request, split: Callable[[bytes], list[bytes]]) -> Any:
        method, path, body, headers = request
        head, body = request_bytes(method, path, body, headers, host=self.authority)
        return await send_raw(self.host, self.port, [head, *split(body)], tls=self.tls)


@pytest.fixture(scope="module")
def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.fixture(params=["plain", "tls"])
async def live(
    request: Any, redis: Any, valkey_url: str, tls_pair: Any
) -> AsyncIterator[LiveRouter]:
    config = make_config(
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TELNYX_PUBLIC_KEY=TELNYX_PUBLIC,
        TELNYX_API_KEY=TELNYX_API_KEY,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
        ROUTER_BODY_TIMEOUT_S=1.0,
    )
    runner = web.AppRunner(build_app(config, valkey_url, worker=False))
    await runner.setup()
    server_tls, client_tls = tls_pair if request.param == "tls" else (None, None)
    # Served as `python -m router` serves it: behind the connection guard.
    listening = await connections.serve(
        runner, host="127.0.0.1", port=0, max_connections=100, header_timeout_s=5,
        keepalive_timeout_s=5, ssl_context=server_tls,
    )  # fmt: skip
    port = listening.sockets[0].getsockname()[1]
    yield LiveRouter("127.0.0.1", port, client_tls)
    listening.close()
    await runner.cleanup()


def _livekit(live: LiveRouter, call_id: str) -> Request:
    # A long attribute makes the body span several MSS-sized segments.
    event = sip_join_event(call_id=call_id, extra_attributes={"note": "x" * 3000})
    body = MessageToJson(event)
    return (
        "POST",
        "/webhooks/livekit",
        body.encode(),
        [("Authorization", sign_webhook(body)), ("Content-Type", "application/webhook+json")],
    )


def _twilio(live: LiveRouter, call_id: str) -> Request:
    form = twilio_form(call_sid=call_id, CallerName="x" * 3000)
    url = f"{live.scheme}://{live.authority}/webhooks/twilio/voice"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    return (
        "POST",
        "/webhooks/twilio/voice",
        urlencode(form).encode(),
        [
            ("X-Twilio-Signature", signature),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
    )


def _texml(live: LiveRouter, call_id: str) -> Request:
    body = urlencode(twilio_form(call_sid=call_id, CallerName="x" * 3000)).encode()
    headers = [*telnyx_headers(body).items(), ("Content-Type", "application/x-www-form-urlencoded")]
    return "POST", "/webhooks/telnyx", body, headers


def _call_control(live: LiveRouter, call_id: str) -> Request:
    body = call_initiated(
        call_id, event_id=f"ev-{call_id}", sip_headers=[{"name": "X-Pad", "value": "x" * 3000}]
    )
    headers = [*telnyx_headers(body).items(), ("Content-Type", "application/json")]
    return "POST", "/webhooks/telnyx", body, headers


def _admin(live: LiveRouter, call_id: str) -> Request:
    body = json.dumps(
        {"name": call_id, "livekitAgentName": "support-agent", "prompt": "p" * 3000}
    ).encode()
    headers: list[tuple[str, str | bytes]] = [
        ("Authorization", f"Bearer {ADMIN_TOKEN}"),
        ("Content-Type", "application/json"),
    ]
    return "POST", "/v1/agents", body, headers


def _admin_import(live: LiveRouter, call_id: str) -> Request:
    template = {"note": "n" * 3000, "caller": "{{callerNumber}}"}
    body = json.dumps(
        {"e164": "+442079460018", "dispatchMetadataTemplate": template, "label": call_id}
    ).encode()
    headers: list[tuple[str, str | bytes]] = [
        ("Authorization", f"Bearer {ADMIN_TOKEN}"),
        ("Content-Type", "application/json"),
    ]
    return "POST", "/v1/phone-numbers/import", body, headers


ENDPOINTS = {
    "livekit": (_livekit, 200),
    "twilio": (_twilio, 200),
    "telnyx_texml": (_texml, 200),
    "telnyx_call_control": (_call_control, 200),
    "admin_json": (_admin, 201),
    "admin_import": (_admin_import, 201),
}
SPLITS: dict[str, Callable[[bytes], list[bytes]]] = {
    "halves": lambda body: [body[: len(body) // 2], body[len(body) // 2 :]],
    "mss": lambda body: segments(body, 1448),
    "first_byte": lambda body: [body[:1], body[1:]],
}


@pytest.mark.parametrize("split", sorted(SPLITS))
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
async def test_a_body_split_across_tcp_writes_is_read_whole(live, redis, endpoint, split):
    build, expected = ENDPOINTS[endpoint]
    call_id = f"CA{endpoint}{split}"
    response = await live.send(build(live, call_id), SPLITS[split])
    assert response.status == expected, response.body
    if not endpoint.startswith("admin"):
        assert await redis.xlen(keys.stream(0)) == 1  # accepted and queued, once


async def test_a_body_that_stops_arriving_is_answered_408(live):
    """The cap on waiting: the body never comes, the router does not wait forever."""
    method, path, body, headers = _admin(live, "slow")
    head, body = request_bytes(method, path, body, headers, host=live.authority)
    reader, writer = await asyncio.open_connection(
        live.host, live.port, ssl=live.tls, server_hostname="localhost" if live.tls else None
    )
    writer.write(head + body[:10])
    await writer.drain()
    answer = await asyncio.wait_for(reader.readuntil(b"}"), 30)  # the whole error body
    answered = time.monotonic()
    # The connection cannot carry another request (its body is unread): the router closes it
    # with the answer, not a keep-alive later.
    rest = await asyncio.wait_for(reader.read(), 30)
    closed_s = time.monotonic() - answered
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert b'"code":"REQUEST_TIMEOUT"' in answer
    assert rest == b""
    assert closed_s < 1.0


# ---- a pre-call receiver that writes its answer in two parts --------------------------------

_PRECALL_REQUEST = PreCallRequest(
    call_id="c", provider="livekit", caller_number=None, dialed_number=None,
    forwarded_from_number=None, forwarded_from_withheld=False, forwarding_chain=[],
    phone_number_id=None, agent_id=None, label=None, metadata={},
)  # fmt: skip


async def test_a_pre_call_answer_written_in_two_parts_is_read_whole():
    answer = json.dumps({"metadata": {"tier": "gold", "pad": "y" * 4000}}).encode()
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(answer)
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in request_head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(head + answer[:100])
        await writer.drain()
        await asyncio.sleep(0.05)  # the receiver's second write comes later
        writer.write(answer[100:])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    session = webhook_session(allow_private=True)
    try:
        parsed, outcome = await ask(
            session,
            PreCallWebhook(url=f"http://127.0.0.1:{port}/hook", secret=WHSEC),
            _PRECALL_REQUEST,
            received_at_ms=now_ms(),
            allow_private=True,
        )
    finally:
        await session.close()
        server.close()
    assert outcome.status == "ok", outcome
    assert parsed is not None
    assert parsed.metadata == {"tier": "gold", "pad": "y" * 4000}


# ---- hostile input: bytes that are not UTF-8, JSON nested past every bound ------------------

FORM = "application/x-www-form-urlencoded"
NOT_UTF8 = b"\xff\xfe\x80 \xc3\x28"


@pytest.fixture
async def carriers(make_router: Any) -> Any:
    return await make_router(
        worker=False,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TELNYX_PUBLIC_KEY=TELNYX_PUBLIC,
        TELNYX_API_KEY=TELNYX_API_KEY,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )


def _telnyx_body() -> bytes:
    return call_initiated("v3:bytes")


_TELNYX_SIGNATURE = telnyx_headers(_telnyx_body())["telnyx-signature-ed25519"].encode()
CASES = {
    # endpoint, content type, body, the hostile header, expected status
    "admin_token": (
        "GET", "/v1/agents", None, b"", [("Authorization", b"Bearer " + NOT_UTF8)], 401,
    ),
    "livekit_token": (
        "POST", "/webhooks/livekit", "application/webhook+json", b"{}",
        [("Authorization", b"Bearer " + NOT_UTF8)], 401,
    ),
    "twilio_signature": (
        "POST", "/webhooks/twilio/voice", FORM, b"CallSid=CA1", [("X-Twilio-Signature", NOT_UTF8)],
        403,
    ),
    "telnyx_signature": (
        "POST", "/webhooks/telnyx", "application/json", _telnyx_body(),
        [("telnyx-signature-ed25519", NOT_UTF8),
         ("telnyx-timestamp", telnyx_headers(_telnyx_body())["telnyx-timestamp"].encode())],
        403,
    ),
    "telnyx_superscript_timestamp": (
        "POST", "/webhooks/telnyx", "application/json", _telnyx_body(),
        [("telnyx-signature-ed25519", _TELNYX_SIGNATURE),
         ("telnyx-timestamp", "¹⁷⁰⁰⁰⁰⁰⁰⁰⁰".encode())],
        403,
    ),
    "telnyx_timestamp_bytes": (
        "POST", "/webhooks/telnyx", "application/json", _telnyx_body(),
        [("telnyx-signature-ed25519", b"AAAA"), ("telnyx-timestamp", NOT_UTF8)], 403,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
async def test_header_bytes_that_are_not_utf8_get_a_4xx_not_a_500(carriers, case, caplog):
    method, path, content_type, body, headers, expected = CASES[case]
    server = carriers.server
    all_headers = [*headers, *([("Content-Type", content_type)] if content_type else [])]
    head, body = request_bytes(method, path, body, all_headers, host=f"{server.host}:{server.port}")
    response = await send_raw(server.host, server.port, [head + body])
    assert response.status == expected, response.body
    assert json.loads(response.body)["code"] in ("UNAUTHORIZED", "INVALID_SIGNATURE")


async def _post_json(client: Any, path: str, raw: str) -> Any:
    return await client.post(
        path, data=raw.encode(), headers={**ADMIN, "Content-Type": "application/json"}
    )


@pytest.mark.parametrize(
    ("depth", "status", "named"),
    [
        (17, 400, True),  # past the router's own bound (16 levels): the field is named
        (900, 400, True),
        (1200, 400, False),  # past msgspec's bound: the body as a whole nests too deeply
        (100_000, 413, False),  # past the body limit before anything is decoded
    ],
)
@pytest.mark.parametrize("field", ["tools", "providerPreferences"])
async def test_nesting_bombs_in_admin_bodies_are_refused(carriers, field, depth, status, named):
    inner = "[" * depth + "]" * depth if field == "tools" else '{"a":' * depth + "1" + "}" * depth
    raw = '{"name":"n","livekitAgentName":"a","' + field + '":' + inner + "}"
    resp = await _post_json(carriers, "/v1/agents", raw)
    if status == 413:
        await refused(resp, 413, "PAYLOAD_TOO_LARGE")
    elif named:
        await refused(resp, 400, "VALIDATION_ERROR", field=field, says="deeper than 16 levels")
    else:
        await refused(resp, 400, "VALIDATION_ERROR", field="", says="nests too deeply")
    assert (await carriers.get("/v1/agents", headers=ADMIN)).status == 200


async def test_a_nesting_bomb_in_a_signed_livekit_webhook_is_refused(carriers):
    body = MessageToJson(sip_join_event(call_id="SCL_deep"))
    bomb = body.rstrip().rstrip("}") + ', "extra": ' + "[" * 1200 + "]" * 1200 + "}"
    resp = await carriers.post(
        "/webhooks/livekit",
        data=bomb,
        headers={"Authorization": sign_webhook(bomb), "Content-Type": "application/webhook+json"},
    )
    await refused(resp, 400, "VALIDATION_ERROR", field="", says="maximum recursion depth")


async def test_a_nesting_bomb_in_a_signed_telnyx_webhook_is_refused(carriers):
    body = (
        b'{"data": {"event_type": "call.initiated", "payload": ' + b"[" * 1200 + b"]" * 1200 + b"}}"
    )
    resp = await carriers.post(
        "/webhooks/telnyx",
        data=body,
        headers={**telnyx_headers(body), "Content-Type": "application/json"},
    )
    assert resp.status == 400, await resp.text()


async def test_unknown_routes_and_calls_answer_json_404(admin):
    await refused(await admin.get("/v1/calls/nope", headers=ADMIN), 404, "NOT_FOUND")
    await refused(await admin.get("/nowhere"), 404, "NOT_FOUND")
