"""``POST /v1/calls/outbound``: a call from one of the organization's numbers reaches the
stand-in's ``CreateSIPParticipant`` on the number's connection's outbound trunk, with the agent
dispatched first into the same room and the inbound metadata envelope plus ``direction``; the
call is recorded like any decision; each refusal names its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ADMIN, bearer, import_number, json_of, make_key, make_org, refused
from tests.provisioning.conftest import SECRETS_KEY

CONNECTION = {
    "name": "Acme PBX",
    "inbound": {"allowedAddresses": ["203.0.113.7"]},
    "outbound": {"address": "pbx.acme.example", "username": "o", "password": "out-Pass-1"},
}


@pytest.fixture
async def calling(make_router: Any, twirp: Any) -> Any:
    router = await make_router(
        worker=False, ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY,
        ROUTER_OUTBOUND_PER_MINUTE=3,
    )  # fmt: skip
    connection = await json_of(
        await router.post("/v1/sip-connections", json=CONNECTION, headers=ADMIN), 201
    )
    agent = await json_of(
        await router.post(
            "/v1/agents", json={"name": "Sales", "livekitAgentName": "sales-agent"}, headers=ADMIN
        ),
        201,
    )
    number = await import_number(
        router, e164="+12015550961", direction="both", agentId=agent["id"], label="Sales line",
        sipConnectionInstallationId=connection["id"],
    )  # fmt: skip
    return router, twirp[0], number, agent


async def test_an_outbound_call_is_dialed_on_the_number_s_trunk_with_its_agent(calling):
    router, standin, number, _ = calling
    resp = await router.post(
        "/v1/calls/outbound", json={"from": "+12015550961", "to": "(415) 555-0100"}, headers=ADMIN
    )
    record = await json_of(resp, 201)
    [placed] = standin.sip.participants
    [trunk] = standin.sip.outbound.values()
    assert (placed.sip_trunk_id, placed.sip_number, placed.sip_call_to) == (
        trunk.sip_trunk_id, "+12015550961", "+14155550100",
    )  # fmt: skip
    dispatch = standin.dispatch_log[0]
    assert dispatch.room == placed.room_name == record["room"]
    assert dispatch.agent_name == "sales-agent"
    metadata = json.loads(dispatch.metadata)
    assert metadata["direction"] == "outbound"
    assert (metadata["callerNumber"], metadata["dialedNumber"]) == ("+12015550961", "+14155550100")
    assert (metadata["phoneNumberId"], metadata["label"]) == (number["id"], "Sales line")
    assert metadata["agent"]["livekitAgentName"] == "sales-agent"
    assert record["status"] == "dispatched"
    assert record["dispatchId"]
    shown = await json_of(await router.get(f"/v1/calls/{record['callId']}", headers=ADMIN), 200)
    assert (shown["callId"], shown["matchedRule"]) == (record["callId"], "outbound")


@pytest.mark.parametrize(
    ("body", "status", "code", "field", "says"),
    [
        ({"from": "+12015550999", "to": "+14155550100"}, 404, "NOT_FOUND", "from", "not a number"),
        ({"from": "+12015550961", "to": "not a number"}, 400, "VALIDATION_ERROR", "to", "valid"),
        ({"from": "+12015550961", "to": "+442071838750"}, 400, "VALIDATION_ERROR", "to",
         "calls to GB are not allowed"),
        ({"from": "+12015550961", "to": "+14155550100", "agentId": "ag_nope"}, 400,
         "VALIDATION_ERROR", "agentId", "no agent"),
    ],
)  # fmt: skip
async def test_refusals_name_the_field(calling, body, status, code, field, says):
    router, standin, _, _ = calling
    resp = await router.post("/v1/calls/outbound", json=body, headers=ADMIN)
    await refused(resp, status, code, field=field, says=says)
    assert standin.sip.participants == []


async def test_a_number_not_on_an_outbound_trunk_is_not_ready(calling):
    router, standin, _, agent = calling
    await import_number(router, e164="+12015550962", direction="both", agentId=agent["id"])
    await import_number(router, e164="+12015550963", agentId=agent["id"])  # inbound only
    body = {"from": "+12015550962", "to": "+14155550100"}
    resp = await router.post("/v1/calls/outbound", json=body, headers=ADMIN)
    await refused(resp, 409, "CONFLICT", says="outbound trunk")
    inbound = {"from": "+12015550963", "to": "+14155550100"}
    resp = await router.post("/v1/calls/outbound", json=inbound, headers=ADMIN)
    await refused(resp, 400, "VALIDATION_ERROR", field="from", says="does not allow outbound")
    assert standin.sip.participants == []


async def test_organizations_call_from_their_own_numbers_within_their_budget(calling):
    router, standin, _, _ = calling
    other = await make_org(router, "Other")
    theirs = bearer((await make_key(router, other["id"], "agent_manager"))["key"])
    body = {"from": "+12015550961", "to": "+14155550100"}
    await refused(await router.post("/v1/calls/outbound", json=body, headers=theirs), 404,
                  "NOT_FOUND")  # fmt: skip
    for _ in range(3):  # ROUTER_OUTBOUND_PER_MINUTE=3
        assert (await router.post("/v1/calls/outbound", json=body, headers=ADMIN)).status == 201
    over = await router.post("/v1/calls/outbound", json=body, headers=ADMIN)
    await refused(over, 429, "RATE_LIMITED", says="3 calls of the minute")
    assert over.headers["Retry-After"]
    assert len(standin.sip.participants) == 3


async def test_a_call_livekit_refuses_is_recorded_failed_and_its_agent_withdrawn(calling):
    router, standin, _, _ = calling
    standin.sip.fail_next.append(503)  # CreateSIPParticipant answers 503
    body = {"from": "+12015550961", "to": "+14155550100"}
    resp = await router.post("/v1/calls/outbound", json=body, headers=ADMIN)
    await refused(resp, 502, "UPSTREAM_ERROR", says="place the outbound call")
    [dispatched] = standin.dispatch_log
    [withdrawn] = standin.deleted  # the agent must not wait in an empty room
    assert (withdrawn.room, standin.created) == (dispatched.room, [])
    calls = await json_of(await router.get("/v1/calls", headers=ADMIN), 200)
    assert calls[0]["status"] == "failed"
    assert "place the outbound call" in calls[0]["error"]
