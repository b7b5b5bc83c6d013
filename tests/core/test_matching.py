"""Routing that knows where the call came from, through the real webhook paths."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.carrier_helpers import LIVEKIT_SIP_URI, post_twilio, twilio_form
from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_record,
)

LANDING = "+12015550100"
BUSINESS = "+16175550177"
PBX_DIVERSION = f"<sip:{BUSINESS}@pbx.example>;reason=unconditional"


@pytest.fixture
async def setup(router: Any) -> dict[str, Any]:
    """A shared landing number (generic agent) and a business line forwarding to it."""
    generic = await create_agent(router, name="Generic", livekitAgentName="generic-agent")
    acme = await create_agent(router, name="Acme", livekitAgentName="acme-agent", prompt="Acme")
    landing = await import_number(
        router, e164=LANDING, agentId=generic["id"], sharedLanding=True, sipTrunkId="ST_landing"
    )
    business = await import_number(
        router, e164=BUSINESS, agentId=acme["id"], label="Acme main line",
        dispatchMetadataTemplate={"businessLine": "{{phoneNumberId}}", "via": "{{dialedNumber}}"},
    )  # fmt: skip
    return {"generic": generic, "acme": acme, "landing": landing, "business": business}


async def _dispatched(standin: Any) -> tuple[str, dict[str, Any]]:
    req = await asyncio.wait_for(standin.dispatches.get(), 10)
    return req.agent_name, json.loads(req.metadata)


async def test_call_to_shared_landing_number_routes_by_the_forwarding_business(
    router, setup, twirp, redis
):
    standin, _ = twirp
    event = sip_join_event(call_id="SCL_land", dialed=LANDING, headers={"Diversion": PBX_DIVERSION})
    assert (await post_livekit(router, event)).status == 200
    agent, meta = await _dispatched(standin)
    assert agent == "acme-agent"
    assert meta["businessLine"] == setup["business"]["id"]
    assert meta["via"] == LANDING
    assert meta["agent"]["prompt"] == "Acme"
    record = await wait_record(redis, "SCL_land")
    assert record.matched_rule == "forwarded_from"
    assert record.match_reason is not None
    assert "shared landing number" in record.match_reason
    assert BUSINESS in record.match_reason


async def test_unknown_dialed_number_routes_by_forwarded_from(router, setup, twirp, redis):
    standin, _ = twirp
    event = sip_join_event(
        call_id="SCL_unk", dialed="+12015550999", headers={"Diversion": PBX_DIVERSION}
    )
    assert (await post_livekit(router, event)).status == 200
    assert (await _dispatched(standin))[0] == "acme-agent"
    assert (await wait_record(redis, "SCL_unk")).matched_rule == "forwarded_from"


async def test_later_chain_entry_matches_when_the_original_is_unknown(router, setup, twirp, redis):
    standin, _ = twirp
    # Original party +13125550100 (not ours) forwarded to the Acme line, which forwards to us.
    diversion = (
        f"<sip:{BUSINESS}@pbx>;reason=no-answer, <sip:+13125550100@carrier>;reason=unconditional"
    )
    event = sip_join_event(call_id="SCL_chain", dialed=LANDING, headers={"Diversion": diversion})
    assert (await post_livekit(router, event)).status == 200
    assert (await _dispatched(standin))[0] == "acme-agent"
    record = await wait_record(redis, "SCL_chain")
    assert (record.matched_rule, record.forwarded_from_number) == (
        "forwarding_chain",
        "+13125550100",
    )


async def test_landing_row_takes_calls_nobody_else_claims(router, setup, twirp, redis):
    standin, _ = twirp
    assert (
        await post_livekit(router, sip_join_event(call_id="SCL_plain", dialed=LANDING))
    ).status == 200
    assert (await _dispatched(standin))[0] == "generic-agent"
    record = await wait_record(redis, "SCL_plain")
    assert record.matched_rule == "dialed_number"
    assert record.match_reason is not None
    assert "no forwarded-from row matched" in record.match_reason


async def test_origin_overrides_longest_prefix_wins(router, setup, twirp, redis):
    standin, _ = twirp
    vip = await create_agent(router, name="VIP", livekitAgentName="vip-agent")
    url = f"/v1/phone-numbers/{setup['landing']['id']}"
    overrides = [
        {"match": "+1617", "metadata": {"region": "boston"}},
        {"match": BUSINESS, "agentId": vip["id"], "metadata": {"tier": "vip"}},
    ]
    resp = await router.patch(
        url, json={"originOverrides": overrides, "sharedLanding": False}, headers=ADMIN
    )
    assert resp.status == 200, await resp.text()
    event = sip_join_event(call_id="SCL_ovr", dialed=LANDING, headers={"Diversion": PBX_DIVERSION})
    assert (await post_livekit(router, event)).status == 200
    agent, meta = await _dispatched(standin)
    assert (agent, meta["tier"]) == ("vip-agent", "vip")
    assert "region" not in meta
    assert (await wait_record(redis, "SCL_ovr")).origin_override == BUSINESS


@pytest.mark.parametrize(
    "override",
    [
        {"match": "1617", "metadata": {}},
        {"match": "+1617", "agentId": "ag_missing"},
        {"match": "+1617"},
    ],
)
async def test_origin_overrides_are_validated(router, setup, override):
    url = f"/v1/phone-numbers/{setup['landing']['id']}"
    resp = await router.patch(url, json={"originOverrides": [override]}, headers=ADMIN)
    assert resp.status == 400
    assert (await resp.json())["field"] == "originOverrides"


async def test_trunk_that_hides_numbers_routes_by_trunk_id(router, setup, twirp, redis):
    standin, _ = twirp
    event = sip_join_event(
        call_id="SCL_hidden", dialed=None, caller=None
    )  # sip.trunkID = ST_trunk1
    await router.patch(
        f"/v1/phone-numbers/{setup['business']['id']}",
        json={"sipTrunkId": "ST_trunk1"},
        headers=ADMIN,
    )
    assert (await post_livekit(router, event)).status == 200
    assert (await _dispatched(standin))[0] == "acme-agent"
    record = await wait_record(redis, "SCL_hidden")
    assert record.matched_rule == "trunk_id"


async def test_forwarded_twilio_call_to_landing_is_bridged_and_routed_to_the_business(
    make_router, twirp, redis
):
    standin, _ = twirp
    client = await make_router(
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests", LIVEKIT_SIP_URI=LIVEKIT_SIP_URI
    )
    acme = await create_agent(client, name="Acme", livekitAgentName="acme-agent")
    await import_number(client, e164=BUSINESS, agentId=acme["id"])
    sid = "CA" + "9" * 32
    form = twilio_form(sid, To="+12015550999", Called="+12015550999", ForwardedFrom=BUSINESS)
    twiml = await (await post_twilio(client, form)).text()
    assert "<Dial" in twiml  # not rejected: the forwarding business line is ours
    corr = twiml.split("X-Router-Call=")[1].split("<")[0]
    join = sip_join_event(call_id="SCL_tw", dialed="+12015550999", headers={"X-Router-Call": corr})
    assert (await post_livekit(client, join)).status == 200
    assert (await _dispatched(standin))[0] == "acme-agent"
    assert (await wait_record(redis, sid, status="dispatched")).matched_rule == "forwarded_from"


async def test_setup_status_tells_the_operator_to_forward_the_business_line(router, setup):
    business = await (
        await router.get(f"/v1/phone-numbers/{setup['business']['id']}", headers=ADMIN)
    ).json()
    status = business["setupStatus"]
    assert status["forwardingRequired"] is True
    assert f"forward {BUSINESS} to {LANDING}" in " ".join(status["issues"])
    landing = await (
        await router.get(f"/v1/phone-numbers/{setup['landing']['id']}", headers=ADMIN)
    ).json()
    assert landing["setupStatus"]["forwardingRequired"] is False


async def test_route_preview_shows_the_decision_without_dispatching(router, setup, twirp):
    standin, _ = twirp
    body = {
        "dialedNumber": LANDING,
        "callerNumber": "+14155550100",
        "headers": {"Diversion": PBX_DIVERSION},
    }
    resp = await router.post("/v1/route/preview", json=body, headers=ADMIN)
    assert resp.status == 200
    result = await resp.json()
    assert (result["action"], result["matchedRule"], result["agentName"]) == (
        "dispatch", "forwarded_from", "acme-agent",
    )  # fmt: skip
    assert result["forwardedFromNumber"] == BUSINESS
    assert result["metadata"]["businessLine"] == setup["business"]["id"]
    assert standin.requests == 0
