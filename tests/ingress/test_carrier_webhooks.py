"""Carrier calls end to end: Twilio / Telnyx webhook → answer → bridged LiveKit leg → dispatch."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any
from urllib.parse import unquote, urlencode

import pytest

from router.core import events
from router.ingress.livekit_webhook import to_event
from router.worker import bridged
from tests.carrier_helpers import (
    LIVEKIT_SIP_URI,
    TELNYX_API_KEY,
    TELNYX_PUBLIC,
    TelnyxStandIn,
    call_initiated,
    post_telnyx_json,
    post_twilio,
    telnyx_headers,
    twilio_form,
)
from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
    post_livekit,
    services_of,
    sip_join_event,
    wait_drained,
    wait_record,
)
from tests.livekit_helpers import as_received

TEMPLATE = {"forwarded": "{{forwardedFromNumber}}", "via": "{{provider}}", "desk": "{{label}}"}


@pytest.fixture
async def telnyx_api(aiohttp_server: Any) -> tuple[TelnyxStandIn, str]:
    standin = TelnyxStandIn()
    server = await aiohttp_server(standin.app())
    return standin, str(server.make_url("/v2"))


@pytest.fixture
async def carrier_router(make_router: Any, telnyx_api: tuple[TelnyxStandIn, str]) -> Any:
    client = await make_router(
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests",
        TELNYX_PUBLIC_KEY=TELNYX_PUBLIC,
        TELNYX_API_KEY=TELNYX_API_KEY,
        TELNYX_API_BASE_URL=telnyx_api[1],
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )
    agent = await create_agent(client, prompt="Help")
    await import_number(
        client,
        e164="+12015550123",
        agentId=agent["id"],
        label="Desk",
        dispatchMetadataTemplate=TEMPLATE,
    )
    await import_number(client, e164="+12015550124", direction="outbound", sipTrunkId="ST_1")
    return client


def _correlation(twiml: str) -> str:
    match = re.search(
        r"<Sip>sip:\+12015550123@router-test\.sip\.livekit\.cloud\?X-Router-Call=([^<]+)</Sip>",
        twiml,
    )
    assert match, twiml
    return unquote(match.group(1))


async def test_forwarded_twilio_call_is_bridged_and_dispatched_with_the_forwarding_number(
    carrier_router, twirp, redis
):
    standin, _ = twirp
    call_sid = "CA" + "a" * 32
    resp = await post_twilio(carrier_router, twilio_form(call_sid, ForwardedFrom="+16175550177"))
    assert resp.status == 200
    assert resp.content_type == "application/xml"
    twiml = await resp.text()
    assert '<Dial answerOnBridge="true"' in twiml
    corr = _correlation(twiml)

    # The bridged leg reaches LiveKit carrying X-Router-Call (include_headers → sip.h.*).
    join = sip_join_event(call_id="SCL_bridged", headers={"X-Router-Call": corr})
    assert (await post_livekit(carrier_router, join)).status == 200
    req = await asyncio.wait_for(standin.dispatches.get(), 10)
    meta = json.loads(req.metadata)
    assert meta["forwarded"] == "+16175550177"
    assert meta["forwardedFromNumber"] == "+16175550177"
    assert meta["via"] == "twilio"
    assert meta["desk"] == "Desk"
    assert meta["agent"]["prompt"] == "Help"
    assert meta["sip"]["callId"] == "SCL_bridged"

    record = await wait_record(redis, call_sid, status="dispatched")
    assert record.forwarded_from_source == "provider"
    assert [leg.kind for leg in record.legs] == ["carrier", "livekit"]
    assert record.legs[0].answer == "bridge"
    by_sip = await (await carrier_router.get("/v1/calls/SCL_bridged", headers=ADMIN)).json()
    by_carrier = await (await carrier_router.get(f"/v1/calls/{call_sid}", headers=ADMIN)).json()
    assert by_sip == by_carrier
    assert by_sip["sipCallId"] == "SCL_bridged"


async def test_bridged_leg_arriving_first_waits_for_the_decision(make_router, twirp, redis):
    """The LiveKit leg is handled before the carrier event: it blocks (BLPOP) until prepared."""
    standin, _ = twirp
    ingress = await make_router(
        worker=False,
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests",
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )
    agent = await create_agent(ingress)
    await import_number(ingress, e164="+12015550123", agentId=agent["id"])
    call_sid = "CA" + "b" * 32
    corr = _correlation(await (await post_twilio(ingress, twilio_form(call_sid))).text())
    svc = services_of(ingress)
    join = sip_join_event(call_id="SCL_early", headers={"X-Router-Call": corr})
    join_event = to_event(as_received(join), events.now_ms())
    waiting = asyncio.create_task(bridged.join_bridged_leg(svc, join_event, 1))
    async with asyncio.timeout(10):  # until Redis reports the join blocked on the signal
        while (await redis.info("clients"))["blocked_clients"] < 1:
            assert not waiting.done()
    [(_, fields)] = await redis.xrange("router:{calls:0}:stream")
    carrier_event = events.decode(fields[b"e"])
    assert isinstance(carrier_event, events.CarrierCall)
    await bridged.prepare_carrier_call(svc, carrier_event)
    await asyncio.wait_for(waiting, 10)
    assert (await asyncio.wait_for(standin.dispatches.get(), 10)).room == "call-room-1"
    record = await wait_record(redis, call_sid, status="dispatched")
    assert record.sip_call_id == "SCL_early"


async def test_twilio_unknown_and_outbound_only_numbers_are_rejected(carrier_router, redis):
    for sid, to in (("CA" + "c" * 32, "+12015550999"), ("CA" + "d" * 32, "+12015550124")):
        resp = await post_twilio(carrier_router, twilio_form(sid, To=to, Called=to))
        twiml = await resp.text()
        assert '<Reject reason="rejected"/>' in twiml
        assert "<Dial" not in twiml
        record = await wait_record(redis, sid)
        assert record.status == "rejected"
        assert record.reject_reason is not None
    assert record.reject_reason.startswith("outbound_only")


async def test_twilio_retry_of_the_same_call_gets_the_same_answer(carrier_router):
    form = twilio_form("CA" + "e" * 32)
    first = await (await post_twilio(carrier_router, form)).text()
    second = await (await post_twilio(carrier_router, form)).text()
    assert _correlation(first) == _correlation(second)


async def test_twilio_signature_checked_against_public_url(make_router):
    client = await make_router(
        worker=False,
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests",
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
        ROUTER_PUBLIC_URL="https://router.example.com",
    )
    form = twilio_form()
    ok = await post_twilio(client, form, url="https://router.example.com/webhooks/twilio/voice")
    assert ok.status == 200
    wrong = await post_twilio(client, form)  # signed for the URL we see, not the public one
    assert wrong.status == 403


@pytest.mark.parametrize("signature", ["", "bm90IGl0"])
async def test_twilio_bad_or_missing_signature_is_403(carrier_router, redis, signature):
    resp = await post_twilio(carrier_router, twilio_form(), signature=signature)
    assert resp.status == 403
    assert (await resp.json())["code"] == "INVALID_SIGNATURE"


async def test_twilio_malformed_bodies_are_clear_4xx(carrier_router):
    body = urlencode({"From": "+14155550100"})  # no CallSid
    from twilio.request_validator import RequestValidator

    url = str(carrier_router.make_url("/webhooks/twilio/voice"))
    sig = RequestValidator("twilio-auth-token-for-tests").compute_signature(
        url, {"From": "+14155550100"}
    )
    resp = await carrier_router.post(
        "/webhooks/twilio/voice",
        data=body,
        headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 400
    json_resp = await carrier_router.post(
        "/webhooks/twilio/voice", data="{}", headers={"Content-Type": "application/json"}
    )
    assert json_resp.status == 415


async def test_twilio_is_refused_without_token_or_sip_uri(make_router):
    no_token = await make_router(worker=False, LIVEKIT_SIP_URI=LIVEKIT_SIP_URI)
    resp = await post_twilio(no_token, twilio_form())
    assert resp.status == 503
    assert "TWILIO_AUTH_TOKEN" in (await resp.json())["error"]
    no_uri = await make_router(worker=False, TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests")
    resp = await post_twilio(no_uri, twilio_form())
    assert resp.status == 503
    assert "LIVEKIT_SIP_URI" in (await resp.json())["error"]


async def test_bridge_that_never_reaches_livekit_is_recorded(make_router, redis):
    client = await make_router(
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests",
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
        ROUTER_BRIDGE_TIMEOUT_S=0.2,
    )
    agent = await create_agent(client)
    await import_number(client, e164="+12015550123", agentId=agent["id"])
    sid = "CA" + "f" * 32
    assert (await post_twilio(client, twilio_form(sid))).status == 200
    record = await wait_record(redis, sid, status="bridge_timeout")
    assert record.notes


# ---- Telnyx ---------------------------------------------------------------------------------


async def test_telnyx_call_control_forwarded_call_transfers_then_dispatches(
    carrier_router, telnyx_api, twirp, redis
):
    telnyx, _ = telnyx_api
    standin, _ = twirp
    body = call_initiated(
        "v3:ctrl-fwd",
        sip_headers=[
            {
                "name": "Diversion",
                "value": "<sip:+16175550177@carrier.example>;reason=unconditional",
            }
        ],
    )
    resp = await post_telnyx_json(carrier_router, body)
    assert resp.status == 200
    assert (await resp.json())["queued"] is True
    call_id, action, command = await asyncio.wait_for(telnyx.commands.get(), 10)
    assert (call_id, action) == ("v3:ctrl-fwd", "transfer")
    assert command["to"] == "sip:+12015550123@router-test.sip.livekit.cloud"
    assert command["from"] == "+14155550100"
    [header] = command["custom_headers"]
    assert header["name"] == "X-Router-Call"

    join = sip_join_event(call_id="SCL_tx", headers={"X-Router-Call": header["value"]})
    assert (await post_livekit(carrier_router, join)).status == 200
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert meta["forwarded"] == "+16175550177"
    assert meta["via"] == "telnyx"
    record = await wait_record(redis, "v3:ctrl-fwd", status="dispatched")
    assert record.forwarded_from_source == "diversion"


async def test_telnyx_call_control_unknown_number_is_rejected_through_the_api(
    carrier_router, telnyx_api, redis
):
    telnyx, _ = telnyx_api
    resp = await post_telnyx_json(carrier_router, call_initiated("v3:ctrl-unk", to="+12015550999"))
    assert resp.status == 200
    call_id, action, command = await asyncio.wait_for(telnyx.commands.get(), 10)
    assert (call_id, action, command["cause"]) == ("v3:ctrl-unk", "reject", "CALL_REJECTED")
    record = await wait_record(redis, "v3:ctrl-unk")
    assert record.status == "rejected"


async def test_telnyx_outgoing_legs_and_other_events_are_not_routed(carrier_router, redis):
    outgoing = await post_telnyx_json(
        carrier_router, call_initiated("v3:out", direction="outgoing")
    )
    assert (await outgoing.json())["queued"] is False
    hangup = json.dumps({"data": {"event_type": "call.hangup", "id": "e", "payload": {}}}).encode()
    assert (await (await post_telnyx_json(carrier_router, hangup)).json())["queued"] is False
    assert await redis.xlen("router:{calls:0}:stream") == 0


async def test_telnyx_texml_form_is_answered_like_twiml(carrier_router, redis):
    body = urlencode(
        {
            "CallSid": "v3:texml-1",
            "From": "+14155550100",
            "To": "+12015550123",
            "Direction": "inbound",
        }
    ).encode()
    headers = {**telnyx_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    resp = await carrier_router.post("/webhooks/telnyx", data=body, headers=headers)
    assert resp.status == 200
    assert "X-Router-Call=" in await resp.text()
    record = await wait_record(redis, "v3:texml-1", status="prepared")
    assert record.provider == "telnyx"


@pytest.mark.parametrize("case", ["bad_signature", "replayed", "missing"])
async def test_telnyx_signature_failures_are_403(carrier_router, redis, case):
    body = call_initiated("v3:sig")
    headers = {**telnyx_headers(body), "Content-Type": "application/json"}
    if case == "bad_signature":
        headers["telnyx-signature-ed25519"] = telnyx_headers(b"other")["telnyx-signature-ed25519"]
    elif case == "replayed":
        headers.update(telnyx_headers(body, ts=1_700_000_000))
    else:
        del headers["telnyx-signature-ed25519"]
    resp = await carrier_router.post("/webhooks/telnyx", data=body, headers=headers)
    assert resp.status == 403
    assert await redis.xlen("router:{calls:0}:stream") == 0


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"data": {"event_type": "call.initiated", "payload": {"to": 5}}}', b"[]"],
)
async def test_telnyx_malformed_json_is_400(carrier_router, body):
    resp = await post_telnyx_json(carrier_router, body)
    assert resp.status == 400
    assert (await resp.json())["code"] == "VALIDATION_ERROR"


async def test_telnyx_api_failure_is_recorded(carrier_router, telnyx_api, redis):
    telnyx, _ = telnyx_api
    telnyx.fail_next = [422]
    assert (await post_telnyx_json(carrier_router, call_initiated("v3:ctrl-422"))).status == 200
    record = await wait_record(redis, "v3:ctrl-422")
    assert record.status == "failed"
    assert record.error is not None
    assert "422" in record.error


async def test_telnyx_transfer_from_is_e164_even_for_an_anonymous_caller(
    carrier_router, telnyx_api
):
    telnyx, _ = telnyx_api
    body = call_initiated("v3:anon", from_="anonymous")
    assert (await post_telnyx_json(carrier_router, body)).status == 200
    _, action, command = await asyncio.wait_for(telnyx.commands.get(), 10)
    assert action == "transfer"
    assert command["from"] == "+12015550123"  # the dialed number, not "anonymous"


async def test_a_refused_transfer_rejects_the_caller_at_once(carrier_router, telnyx_api, redis):
    telnyx, _ = telnyx_api
    telnyx.fail_next = [422]  # the transfer command is refused
    assert (await post_telnyx_json(carrier_router, call_initiated("v3:refused"))).status == 200
    call_id, action, command = await asyncio.wait_for(telnyx.commands.get(), 10)
    assert (call_id, action, command["cause"]) == ("v3:refused", "reject", "CALL_REJECTED")
    record = await wait_record(redis, "v3:refused")
    assert record.status == "failed"


def _hangup(leg: str, client_state: str, cause: str = "call_rejected") -> bytes:
    payload = {"call_control_id": leg, "client_state": client_state, "hangup_cause": cause}
    event = {"data": {"event_type": "call.hangup", "id": f"ev-{leg}", "payload": payload}}
    return json.dumps(event).encode()


async def test_a_transfer_leg_that_ends_before_livekit_answers_fails_the_call_at_once(
    carrier_router, telnyx_api, redis
):
    """Telnyx: an unsuccessful transfer sends call.hangup for leg B and keeps the caller's
    leg parked. The router rejects it at once instead of waiting for Telnyx's timeout."""
    telnyx, _ = telnyx_api
    assert (await post_telnyx_json(carrier_router, call_initiated("v3:lost"))).status == 200
    _, action, transfer = await asyncio.wait_for(telnyx.commands.get(), 10)
    assert action == "transfer"
    await wait_record(redis, "v3:lost", status="prepared")
    resp = await post_telnyx_json(carrier_router, _hangup("v3:leg-b", transfer["client_state"]))
    assert (await resp.json())["queued"] is True
    call_id, action, _ = await asyncio.wait_for(telnyx.commands.get(), 10)
    assert (call_id, action) == ("v3:lost", "reject")
    record = await wait_record(redis, "v3:lost", status="failed")
    assert record.error is not None
    assert "call_rejected" in record.error


async def test_the_transfer_legs_normal_end_after_the_call_changes_nothing(
    carrier_router, telnyx_api, twirp, redis
):
    telnyx, _ = telnyx_api
    standin, _ = twirp
    assert (await post_telnyx_json(carrier_router, call_initiated("v3:done"))).status == 200
    _, _, transfer = await asyncio.wait_for(telnyx.commands.get(), 10)
    [header] = transfer["custom_headers"]
    join = sip_join_event(call_id="SCL_done", headers={"X-Router-Call": header["value"]})
    assert (await post_livekit(carrier_router, join)).status == 200
    await asyncio.wait_for(standin.dispatches.get(), 10)
    await wait_record(redis, "v3:done", status="dispatched")
    ended = _hangup("v3:leg-done", transfer["client_state"], "normal_clearing")
    assert (await post_telnyx_json(carrier_router, ended)).status == 200
    await wait_drained(redis, standin, ["router:{calls:0}:stream"])
    assert telnyx.commands.empty()  # no reject after a call that happened
    assert (await wait_record(redis, "v3:done")).status == "dispatched"


async def test_a_hangup_whose_client_state_is_not_ours_is_ignored(carrier_router, redis):
    foreign = base64.b64encode(b"someone-else").decode()
    resp = await post_telnyx_json(carrier_router, _hangup("v3:x", foreign))
    assert (await resp.json())["queued"] is False
    assert await redis.xlen("router:{calls:0}:stream") == 0
