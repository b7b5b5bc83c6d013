"""The reconcile pass (``provisioning.reconcile``): drift made by hand at LiveKit or a carrier
is reported, and repaired with fix — on request, from the CLI and in the background."""

from __future__ import annotations

import asyncio
import json

from livekit.protocol import sip

from tests.carrier_helpers import TELNYX_API_KEY
from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
)
from tests.provisioning.conftest import (
    PUBLIC,
    ROUTERS_APP,
    SECRETS_KEY,
    TWILIO_SID,
    TWILIO_TOKEN_,
    managed,
    setup_status,
    twilio_router,
)


async def test_reconcile_merges_trunks_made_twice(provisioned):
    """Two managed trunks of one organization (made at once by an older router): reconcile
    reports them, and with fix keeps one holding every inbound number, with one rule."""
    router, agent, standin = provisioned
    await import_number(router, e164="+12015550401", agentId=agent["id"])
    [first] = managed(standin)
    twin = sip.SIPInboundTrunkInfo()
    twin.CopyFrom(first)
    twin.sip_trunk_id = "ST_twin"
    del twin.numbers[:]
    twin.numbers.append("+12015550402")
    standin.trunks[twin.sip_trunk_id] = twin
    await import_number(router, e164="+12015550402", agentId=agent["id"])  # a row on the twin
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": False}, headers=ADMIN)
    ).json()
    assert report["organizations"][0]["duplicates"] == 1
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    ).json()
    assert report["organizations"][0]["fixed"] is True
    [kept] = managed(standin)
    assert sorted(kept.numbers) == ["+12015550401", "+12015550402"]
    assert [list(r.trunk_ids) for r in standin.rules.values()] == [[kept.sip_trunk_id]]


async def test_livekit_down_during_import_keeps_the_row_and_a_reconcile_brings_it_ready(
    provisioned,
):
    router, agent, standin = provisioned
    standin.fail_next = [503]
    resp = await router.post(
        "/v1/phone-numbers/import", json={"e164": "+12015550123", "agentId": agent["id"]},
        headers=ADMIN,
    )  # fmt: skip
    row = await resp.json()
    assert resp.status == 201  # the row is saved
    status = row["setupStatus"]
    assert status["sipConnectionReady"] is False
    assert status["status"] == "incomplete"
    assert any(i.startswith("LiveKit refused to list inbound trunks") for i in status["issues"])
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    ).json()
    [default] = [o for o in report["organizations"] if o["organizationId"] == "default"]
    assert default["trunkMissing"] is True
    assert default["fixed"] is True
    assert list(managed(standin)[0].numbers) == ["+12015550123"]
    assert (await setup_status(router, row["id"]))["status"] == "ready"


async def test_a_trunk_edited_by_hand_is_reported_then_repaired(provisioned):
    router, agent, standin = provisioned
    row = await import_number(router, e164="+12015550123", agentId=agent["id"])
    [trunk] = managed(standin)
    del trunk.numbers[:]
    trunk.numbers.append("+19995550000")  # someone edited it in the LiveKit console
    report = await (await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)).json()
    [default] = [o for o in report["organizations"] if o["organizationId"] == "default"]
    assert (default["missing"], default["extra"]) == (["+12015550123"], ["+19995550000"])
    assert "fixed" not in default
    status = await setup_status(router, row["id"])
    assert status["sipConnectionReady"] is False
    assert any("not on the organization's LiveKit inbound trunk" in i for i in status["issues"])
    await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert list(managed(standin)[0].numbers) == ["+12015550123"]
    assert (await setup_status(router, row["id"]))["status"] == "ready"


async def test_a_rule_or_trunk_deleted_by_hand_is_made_again(provisioned):
    router, agent, standin = provisioned
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    standin.rules.clear()
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    ).json()
    assert report["organizations"][0]["ruleMissing"] is True
    assert len(standin.rules) == 1
    standin.trunks.clear()
    standin.rules.clear()
    await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert [list(t.numbers) for t in managed(standin)] == [["+12015550123"]]
    assert len(standin.rules) == 1


async def test_reconcile_from_the_cli(provisioned):
    from tests.cli.conftest import cli

    router, agent, standin = provisioned
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    managed(standin)[0].numbers.append("+19995550000")
    code, out, err = await cli(router, "numbers", "reconcile")
    assert code == 1, err  # drift found and not fixed
    assert "extra on the trunk: +19995550000" in out
    code, out, _ = await cli(router, "numbers", "reconcile", "--json")  # the same, for scripts
    [org] = json.loads(out)["organizations"]
    assert (code, org["extra"]) == (1, ["+19995550000"])
    code, out, _ = await cli(router, "numbers", "reconcile", "--fix")
    assert code == 0
    assert "fixed" in out
    assert list(managed(standin)[0].numbers) == ["+12015550123"]


async def test_the_background_pass_repairs_drift(make_router, twirp):
    """Workers reconcile every ROUTER_RECONCILE_S (here 0.2 s), one at a time (a lease)."""
    router = await make_router(ROUTER_PROVISIONING=True, ROUTER_RECONCILE_S=0.2)
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    standin = twirp[0].sip
    del managed(standin)[0].numbers[:]  # a hand edit
    async with asyncio.timeout(10):
        # LiveKit's own state is what changes: asked again until the pass has put it right.
        while list(managed(standin)[0].numbers) != ["+12015550123"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_twilio_application_set_by_hand_is_drift(make_router, twirp, twilio_api):
    standin, base = twilio_api
    router = await twilio_router(make_router, base)
    agent = await create_agent(router)
    await import_number(router, e164="+14155550199", source="twilio", agentId=agent["id"])
    sid = "PN" + "1" * 32
    standin.numbers[sid]["voice_application_sid"] = "AP" + "5" * 32  # the voice URL unchanged
    report = await (await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)).json()
    assert report["organizations"][0]["carrier"] == [
        "+14155550199: Twilio sends the number's calls to its TwiML application AP" + "5" * 32
    ]
    await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert standin.routes_to(sid) == f"POST {PUBLIC}/webhooks/twilio/voice"


async def test_a_carrier_number_pointed_elsewhere_by_hand_is_reported_then_repaired(
    make_router, twirp, twilio_api, telnyx_api
):
    twilio, twilio_base = twilio_api
    telnyx, telnyx_base = telnyx_api
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY, ROUTER_PUBLIC_URL=PUBLIC,
        TWILIO_API_BASE_URL=twilio_base, TELNYX_API_BASE_URL=telnyx_base,
        TELNYX_CONNECTION_ID=ROUTERS_APP,
    )  # fmt: skip
    for carrier, body in (
        ("twilio", {"accountSid": TWILIO_SID, "authToken": TWILIO_TOKEN_}),
        ("telnyx", {"apiKey": TELNYX_API_KEY}),
    ):
        url = f"/v1/organizations/default/integrations/{carrier}"
        assert (await router.put(url, json=body, headers=ADMIN)).status == 200
    agent = await create_agent(router)
    by_twilio = await import_number(
        router, e164="+14155550199", source="twilio", agentId=agent["id"]
    )
    by_telnyx = await import_number(
        router, e164="+13125550111", source="telnyx", agentId=agent["id"]
    )
    # Someone points both numbers somewhere else in the carriers' consoles.
    twilio.numbers["PN" + "1" * 32]["voice_url"] = "https://elsewhere.example.com/voice"
    telnyx.numbers["1293384261075731499"]["connection_id"] = "999"
    report = await (await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)).json()
    [default] = [o for o in report["organizations"] if o["organizationId"] == "default"]
    assert sorted(default["carrier"]) == [
        "+13125550111: Telnyx number's connection points elsewhere: 999",
        "+14155550199: Twilio number's voice URL points elsewhere: "
        "https://elsewhere.example.com/voice",
    ]
    issues = (await setup_status(router, by_twilio["id"]))["issues"]
    assert issues == [
        "Twilio number's voice URL points elsewhere: "
        f"https://elsewhere.example.com/voice (checked {issues[0].split('(checked ')[1]}"
    ]
    await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert twilio.numbers["PN" + "1" * 32]["voice_url"] == f"{PUBLIC}/webhooks/twilio/voice"
    assert telnyx.numbers["1293384261075731499"]["connection_id"] == ROUTERS_APP
    for row in (by_twilio, by_telnyx):
        assert (await setup_status(router, row["id"]))["status"] == "ready"
    # What was there before the router is still what a release restores.
    assert (await router.delete(f"/v1/phone-numbers/{by_telnyx['id']}", headers=ADMIN)).status
    assert telnyx.numbers["1293384261075731499"]["connection_id"] == "1111111111111111111"
