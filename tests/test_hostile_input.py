"""Hostile bytes get a 4xx with the error body, never a 500: raw header bytes that are not
UTF-8 on every endpoint, digits int() refuses, and JSON nested past every bound."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.json_format import MessageToJson

from tests.carrier_helpers import (
    LIVEKIT_SIP_URI,
    TELNYX_API_KEY,
    TELNYX_PUBLIC,
    TWILIO_TOKEN,
    call_initiated,
    telnyx_headers,
)
from tests.conftest import ADMIN, sign_webhook, sip_join_event
from tests.rawhttp import request_bytes, send_raw

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


@pytest.mark.parametrize("depth", [17, 900, 1200, 100_000])
@pytest.mark.parametrize("field", ["tools", "providerPreferences"])
async def test_nesting_bombs_in_admin_bodies_are_refused(carriers, field, depth):
    inner = "[" * depth + "]" * depth if field == "tools" else '{"a":' * depth + "1" + "}" * depth
    raw = '{"name":"n","livekitAgentName":"a","' + field + '":' + inner + "}"
    resp = await _post_json(carriers, "/v1/agents", raw)
    assert resp.status in (400, 413), await resp.text()
    assert (await resp.json())["code"] in ("VALIDATION_ERROR", "PAYLOAD_TOO_LARGE")
    assert (await carriers.get("/v1/agents", headers=ADMIN)).status == 200


async def test_a_nesting_bomb_in_a_signed_livekit_webhook_is_refused(carriers):
    body = MessageToJson(sip_join_event(call_id="SCL_deep"))
    bomb = body.rstrip().rstrip("}") + ', "extra": ' + "[" * 1200 + "]" * 1200 + "}"
    resp = await carriers.post(
        "/webhooks/livekit",
        data=bomb,
        headers={"Authorization": sign_webhook(bomb), "Content-Type": "application/webhook+json"},
    )
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["code"] == "VALIDATION_ERROR"


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
