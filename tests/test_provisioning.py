"""The router wires numbers into LiveKit itself: each organization's managed inbound trunk
(SIP_ALL_HEADERS) and individual dispatch rule, kept in line with its numbers through
livekit-api's SipService, against the Twirp stand-in's ``livekit.SIP`` (real protobuf
messages, the JWT checked with TokenVerifier, the SIP admin grant required)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from livekit.protocol import sip

from tests.carrier_helpers import TELNYX_API_KEY, TelnyxStandIn, TwilioRestStandIn
from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_record,
)


@pytest.fixture
async def provisioned(make_router, twirp) -> Any:
    router = await make_router(ROUTER_PROVISIONING=True)
    agent = await create_agent(router)
    return router, agent, twirp[0].sip


def _managed(standin: Any) -> list[sip.SIPInboundTrunkInfo]:
    return [t for t in standin.trunks.values() if t.name.startswith("call-router/")]


async def _status(router: Any, number_id: str) -> dict[str, Any]:
    row = await (await router.get(f"/v1/phone-numbers/{number_id}", headers=ADMIN)).json()
    status: dict[str, Any] = row["setupStatus"]
    return status


async def test_an_imported_number_is_on_its_organizations_trunk_and_routes(provisioned, redis):
    router, agent, standin = provisioned
    row = await import_number(router, e164="+12015550123", agentId=agent["id"])
    [trunk] = _managed(standin)
    assert list(trunk.numbers) == ["+12015550123"]
    assert trunk.name == "call-router/default"
    assert json.loads(trunk.metadata) == {"managedBy": "call-router", "organizationId": "default"}
    assert trunk.include_headers == sip.SIPHeaderOptions.SIP_ALL_HEADERS
    [rule] = standin.rules.values()
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]
    assert rule.rule.HasField("dispatch_rule_individual")  # each caller a room; no agent in it
    assert not rule.HasField("room_config")
    status = row["setupStatus"]
    assert status["sipConnectionReady"] is True
    assert status["status"] == "ready", status["issues"]
    event = sip_join_event(call_id="SCL_prov", dialed="+12015550123")
    assert (await post_livekit(router, event)).status == 200
    assert (await wait_record(redis, "SCL_prov")).status == "dispatched"


async def test_patch_and_release_keep_the_trunk_right(provisioned):
    router, agent, standin = provisioned
    row = await import_number(router, e164="+12015550123", agentId=agent["id"])
    await import_number(router, e164="+12015550124", agentId=agent["id"])
    url = f"/v1/phone-numbers/{row['id']}"
    await router.patch(url, json={"direction": "outbound"}, headers=ADMIN)
    assert list(_managed(standin)[0].numbers) == ["+12015550124"]
    await router.patch(url, json={"direction": "both"}, headers=ADMIN)
    assert sorted(_managed(standin)[0].numbers) == ["+12015550123", "+12015550124"]
    await router.delete(url, headers=ADMIN)
    assert list(_managed(standin)[0].numbers) == ["+12015550124"]
    assert len(_managed(standin)) == 1
    assert len(standin.rules) == 1  # looked up before anything is made: nothing twice


async def test_concurrent_imports_do_not_overwrite_each_other(provisioned):
    """LiveKit's update loads, changes and stores without a lock (the stand-in's interleave
    makes concurrent updates overlap): the router serializes its own, so none is lost."""
    router, agent, standin = provisioned
    await import_number(router, e164="+12015550100", agentId=agent["id"])  # the trunk exists
    standin.interleave = 0.05
    numbers = [f"+120155502{i:02d}" for i in range(10)]
    await asyncio.gather(*(import_number(router, e164=n, agentId=agent["id"]) for n in numbers))
    [trunk] = _managed(standin)
    assert sorted(trunk.numbers) == sorted(["+12015550100", *numbers])
    updates = [c for c in standin.calls if c == "UpdateSIPInboundTrunk"]
    assert len(updates) == 10  # one field-level add each, no list replaced


async def test_concurrent_first_imports_make_one_trunk_and_one_rule(provisioned):
    """numbers import sends eight rows at once; LiveKit has no unique trunk name, so listing
    then creating would make a trunk (and a rule) per import."""
    router, agent, standin = provisioned
    standin.interleave = 0.02
    numbers = [f"+120155503{i:02d}" for i in range(8)]
    await asyncio.gather(*(import_number(router, e164=n, agentId=agent["id"]) for n in numbers))
    [trunk] = _managed(standin)
    assert sorted(trunk.numbers) == numbers
    assert len(standin.rules) == 1


async def test_releasing_the_last_inbound_number_retires_the_trunk_and_its_rule(provisioned):
    """LiveKit refuses a trunk left with no numbers, auth or addresses (the stand-in applies
    its rule): the last number's release deletes the trunk and rule instead; the next import
    makes them again, and a reconcile finds nothing to report."""
    router, agent, standin = provisioned
    row = await import_number(router, e164="+12015550123", agentId=agent["id"])
    resp = await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)
    assert resp.status == 200
    assert _managed(standin) == []
    assert standin.rules == {}
    again = await import_number(router, e164="+12015550123", agentId=agent["id"])
    assert [list(t.numbers) for t in _managed(standin)] == [["+12015550123"]]
    assert len(standin.rules) == 1
    # PATCH to outbound is a release of the inbound side: the same.
    url = f"/v1/phone-numbers/{again['id']}"
    assert (await router.patch(url, json={"direction": "outbound"}, headers=ADMIN)).status == 200
    assert _managed(standin) == []
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": False}, headers=ADMIN)
    ).json()
    assert report["organizations"] == [{"organizationId": "default"}]  # no drift


async def test_an_organizations_trunk_takes_calls_from_its_allowed_addresses_only(provisioned):
    """A stranger who knows the SIP URI must not ring the numbers: the organization names
    where its carrier sends SIP from, and its managed trunk follows (on creation, at once on a
    change, and in reconcile); with addresses set, the last number's release keeps the trunk
    (LiveKit accepts a trunk with addresses and no numbers)."""
    router, _, standin = provisioned
    org = await (
        await router.post(
            "/v1/organizations",
            json={"name": "Walled", "sipAllowedAddresses": ["54.172.60.0/30", "203.0.113.7"]},
            headers=ADMIN,
        )
    ).json()
    assert org["sipAllowedAddresses"] == ["54.172.60.0/30", "203.0.113.7/32"]
    row = await import_number(
        router, e164="+12015550701", organizationId=org["id"], dispatchMetadataTemplate={"a": 1}
    )
    [trunk] = _managed(standin)
    assert list(trunk.allowed_addresses) == ["54.172.60.0/30", "203.0.113.7/32"]
    url = f"/v1/organizations/{org['id']}"
    patched = await router.patch(
        url, json={"sipAllowedAddresses": ["198.51.100.0/24"]}, headers=ADMIN
    )
    assert patched.status == 200
    assert list(_managed(standin)[0].allowed_addresses) == ["198.51.100.0/24"]
    # Changed by hand at LiveKit: reported, then put back.
    _managed(standin)[0].allowed_addresses.append("0.0.0.0/0")
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    ).json()
    [walled] = [o for o in report["organizations"] if o["organizationId"] == org["id"]]
    assert walled["addressesDiffer"] is True
    assert list(_managed(standin)[0].allowed_addresses) == ["198.51.100.0/24"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    [kept] = _managed(standin)
    assert list(kept.numbers) == []
    bad = await router.patch(url, json={"sipAllowedAddresses": ["not-an-address"]}, headers=ADMIN)
    assert bad.status == 400
    assert (await bad.json())["field"] == "sipAllowedAddresses"


async def test_reconcile_merges_trunks_made_twice(provisioned):
    """Two managed trunks of one organization (made at once by an older router): reconcile
    reports them, and with fix keeps one holding every inbound number, with one rule."""
    router, agent, standin = provisioned
    await import_number(router, e164="+12015550401", agentId=agent["id"])
    [first] = _managed(standin)
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
    [kept] = _managed(standin)
    assert sorted(kept.numbers) == ["+12015550401", "+12015550402"]
    assert [list(r.trunk_ids) for r in standin.rules.values()] == [[kept.sip_trunk_id]]


async def test_a_number_bought_from_livekit_is_bound_to_the_organizations_rule(provisioned, twirp):
    """LiveKit lists a number it sold OFFLINE until it is bound to a dispatch rule: the
    router binds it (PhoneNumberService.UpdatePhoneNumber) and reads its status back; a
    release unbinds it."""
    router, agent, standin = provisioned
    numbers = twirp[0].phone_numbers
    numbers["+14155550177"] = {
        "id": "PN_lk1", "e164Format": "+14155550177", "status": "PHONE_NUMBER_STATUS_OFFLINE",
        "sipDispatchRuleIds": [],
    }  # fmt: skip
    row = await import_number(router, e164="+14155550177", source="livekit", agentId=agent["id"])
    [rule] = standin.rules.values()
    assert numbers["+14155550177"]["status"] == "PHONE_NUMBER_STATUS_ACTIVE"
    assert numbers["+14155550177"]["sipDispatchRuleIds"] == [rule.sip_dispatch_rule_id]
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert numbers["+14155550177"]["status"] == "PHONE_NUMBER_STATUS_OFFLINE"
    # A number LiveKit does not have in the project: the row says so in LiveKit's words.
    missing = await import_number(
        router, e164="+14155550178", source="livekit", agentId=agent["id"]
    )
    assert missing["setupStatus"]["status"] != "ready"
    assert any("phone number not found" in i for i in missing["setupStatus"]["issues"])


async def test_the_dispatch_rule_is_made_with_dispatch_rule_not_deprecated_fields(provisioned):
    router, agent, standin = provisioned
    await import_number(router, e164="+12015550501", agentId=agent["id"])
    [rule] = standin.rules.values()
    assert standin.deprecated_rule_fields == 0
    assert rule.name == "call-router/default"


async def test_a_connection_lost_mid_answer_keeps_the_row_with_the_issue(provisioned, twirp):
    """aiohttp's ServerDisconnectedError is no OSError: it once escaped as a 500 after the
    row was saved."""
    router, agent, _ = provisioned
    twirp[0].sip_drop_next = 1
    resp = await router.post(
        "/v1/phone-numbers/import", json={"e164": "+12015550601", "agentId": agent["id"]},
        headers=ADMIN,
    )  # fmt: skip
    assert resp.status == 201
    status = (await resp.json())["setupStatus"]
    assert status["sipConnectionReady"] is False
    assert any("LiveKit did not answer" in issue for issue in status["issues"]), status


async def test_each_organization_has_its_own_trunk(provisioned):
    router, _, standin = provisioned
    resp = await router.post("/v1/organizations", json={"name": "Acme"}, headers=ADMIN)
    org = await resp.json()
    await import_number(
        router, e164="+12015550301", organizationId=org["id"], dispatchMetadataTemplate={"a": 1}
    )
    await import_number(router, e164="+12015550302", dispatchMetadataTemplate={"a": 1})
    by_name = {t.name: list(t.numbers) for t in _managed(standin)}
    assert by_name == {
        f"call-router/{org['id']}": ["+12015550301"],
        "call-router/default": ["+12015550302"],
    }


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
    assert list(_managed(standin)[0].numbers) == ["+12015550123"]
    assert (await _status(router, row["id"]))["status"] == "ready"


async def test_a_trunk_edited_by_hand_is_reported_then_repaired(provisioned):
    router, agent, standin = provisioned
    row = await import_number(router, e164="+12015550123", agentId=agent["id"])
    [trunk] = _managed(standin)
    del trunk.numbers[:]
    trunk.numbers.append("+19995550000")  # someone edited it in the LiveKit console
    report = await (await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)).json()
    [default] = [o for o in report["organizations"] if o["organizationId"] == "default"]
    assert (default["missing"], default["extra"]) == (["+12015550123"], ["+19995550000"])
    assert "fixed" not in default
    status = await _status(router, row["id"])
    assert status["sipConnectionReady"] is False
    assert any("not on the organization's LiveKit inbound trunk" in i for i in status["issues"])
    await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert list(_managed(standin)[0].numbers) == ["+12015550123"]
    assert (await _status(router, row["id"]))["status"] == "ready"


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
    assert [list(t.numbers) for t in _managed(standin)] == [["+12015550123"]]
    assert len(standin.rules) == 1


async def test_provisioning_off_leaves_livekit_alone(make_router, twirp):
    router = await make_router(ROUTER_PROVISIONING=False)
    agent = await create_agent(router)
    row = await import_number(router, e164="+12015550123", agentId=agent["id"])
    assert twirp[0].sip.calls == []
    assert "no SIP connection recorded" in " ".join(row["setupStatus"]["issues"])
    resp = await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)
    assert resp.status == 501


async def test_reconcile_from_the_cli(provisioned):
    from tests.test_cli_http import cli

    router, agent, standin = provisioned
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    _managed(standin)[0].numbers.append("+19995550000")
    code, out, err = await cli(router, "numbers", "reconcile")
    assert code == 1, err  # drift found and not fixed
    assert "extra on the trunk: +19995550000" in out
    code, out, _ = await cli(router, "numbers", "reconcile", "--fix")
    assert code == 0
    assert "fixed" in out
    assert list(_managed(standin)[0].numbers) == ["+12015550123"]


async def test_the_background_pass_repairs_drift(make_router, twirp):
    """Workers reconcile every ROUTER_RECONCILE_S (here 0.2 s), one at a time (a lease)."""
    router = await make_router(ROUTER_PROVISIONING=True, ROUTER_RECONCILE_S=0.2)
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    standin = twirp[0].sip
    del _managed(standin)[0].numbers[:]  # a hand edit
    async with asyncio.timeout(10):
        # LiveKit's own state is what changes: asked again until the pass has put it right.
        while list(_managed(standin)[0].numbers) != ["+12015550123"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


# ---- carrier credentials and Telnyx numbers ----------------------------------------------------

SECRETS_KEY = "kM0lrXW3-8cbYH2e-7qDZmDqfcQfHqz4c4wO2AGpmrA="  # a Fernet key for the tests
ROUTERS_APP = "2680000000000000001"  # the router's TeXML application (TELNYX_CONNECTION_ID)


@pytest.fixture
async def telnyx_api(aiohttp_server: Any) -> Any:
    standin = TelnyxStandIn()
    standin.application(ROUTERS_APP)  # the platform's application (TELNYX_CONNECTION_ID)
    standin.application("1111111111111111111")  # where the number pointed before
    server = await aiohttp_server(standin.app())
    standin.numbers["1293384261075731499"] = {
        "id": "1293384261075731499", "phone_number": "+13125550111",
        "connection_id": "1111111111111111111", "record_type": "phone_number",
    }  # fmt: skip
    return standin, str(server.make_url("/v2"))


async def test_carrier_credentials_are_encrypted_and_never_shown(make_router, redis):
    from cryptography.fernet import Fernet

    router = await make_router(ROUTER_SECRETS_KEY=SECRETS_KEY)
    body = {"accountSid": "AC" + "1" * 32, "authToken": "the-twilio-auth-token-123"}
    url = "/v1/organizations/default/integrations/twilio"
    view = await (await router.put(url, json=body, headers=ADMIN)).json()
    assert view == {"carrier": "twilio", "configured": True, "accountSid": body["accountSid"]}
    stored = await redis.hget("router:{registry}:integrations", "default:twilio")
    assert b"the-twilio-auth-token-123" not in stored
    assert json.loads(Fernet(SECRETS_KEY).decrypt(stored))["authToken"] == body["authToken"]
    listed = await (
        await router.get("/v1/organizations/default/integrations", headers=ADMIN)
    ).json()
    assert "the-twilio-auth-token-123" not in json.dumps(listed)
    audit = await (await router.get("/v1/audit", headers=ADMIN)).json()
    assert "the-twilio-auth-token-123" not in json.dumps(audit)
    # A new key first, the old one after: old tokens still decrypt (rotation).
    rotated = await make_router(
        ROUTER_SECRETS_KEY=f"{Fernet.generate_key().decode()},{SECRETS_KEY}"
    )
    again = await (
        await rotated.get("/v1/organizations/default/integrations", headers=ADMIN)
    ).json()
    assert again[0]["configured"] is True
    # The old key dropped: the list still answers, naming the one it cannot read and the fix
    # (it was an opaque 500); an import that needs them says the same.
    dropped = await make_router(ROUTER_SECRETS_KEY=Fernet.generate_key().decode())
    resp = await dropped.get("/v1/organizations/default/integrations", headers=ADMIN)
    assert resp.status == 200
    twilio, telnyx = await resp.json()
    assert twilio["configured"] is True
    assert "twilio credentials of organization default do not decrypt" in twilio["issue"]
    assert "ROUTER_SECRETS_KEY" in twilio["issue"]
    assert "PUT /v1/organizations/default/integrations/twilio" in twilio["issue"]
    assert telnyx == {"carrier": "telnyx", "configured": False}
    assert (await router.delete(url, headers=ADMIN)).status == 200


async def _telnyx_router(make_router: Any, base: str) -> Any:
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY, TELNYX_CONNECTION_ID=ROUTERS_APP,
        TELNYX_API_BASE_URL=base,
    )  # fmt: skip
    url = "/v1/organizations/default/integrations/telnyx"
    assert (await router.put(url, json={"apiKey": TELNYX_API_KEY}, headers=ADMIN)).status == 200
    return router


async def test_a_telnyx_number_is_pointed_at_the_router_and_back(make_router, twirp, telnyx_api):
    standin, base = telnyx_api
    router = await _telnyx_router(make_router, base)
    agent = await create_agent(router)
    unknown = await router.post(
        "/v1/phone-numbers/import",
        json={"e164": "+13125550999", "source": "telnyx", "agentId": agent["id"]},
        headers=ADMIN,
    )
    body = await unknown.json()
    assert unknown.status == 400
    assert body["field"] == "e164"
    assert "not a number of the organization's Telnyx account" in body["error"]
    row = await import_number(router, e164="+13125550111", source="telnyx", agentId=agent["id"])
    number = standin.numbers["1293384261075731499"]
    assert number["connection_id"] == ROUTERS_APP
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    assert "+13125550111" in list(_managed(twirp[0].sip)[0].numbers)  # the bridged leg's way in
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert number["connection_id"] == "1111111111111111111"  # restored


async def test_telnyx_refusing_keeps_the_row_with_telnyxs_words(make_router, twirp, telnyx_api):
    standin, base = telnyx_api
    router = await _telnyx_router(make_router, base)
    agent = await create_agent(router)
    standin.fail_numbers_next = [500]
    row = await import_number(router, e164="+13125550111", source="telnyx", agentId=agent["id"])
    status = row["setupStatus"]
    assert status["status"] == "incomplete"
    assert any("Telnyx refused" in i and "Unexpected error — boom" in i for i in status["issues"])


# ---- Twilio numbers ---------------------------------------------------------------------------

TWILIO_SID, TWILIO_TOKEN_ = "AC" + "7" * 32, "twilio-account-token-0123456789"
PUBLIC = "https://router.example.com"


@pytest.fixture
async def twilio_api(aiohttp_server: Any) -> Any:
    standin = TwilioRestStandIn(TWILIO_SID, TWILIO_TOKEN_)
    standin.numbers["PN" + "1" * 32] = {
        "sid": "PN" + "1" * 32, "account_sid": TWILIO_SID, "phone_number": "+14155550199",
        "voice_url": "https://demo.twilio.com/welcome/voice/", "voice_method": "GET",
        "friendly_name": "(415) 555-0199",
    }  # fmt: skip
    standin.caller_ids.append("+14155550188")
    server = await aiohttp_server(standin.app())
    return standin, str(server.make_url("/2010-04-01"))


async def _twilio_router(make_router: Any, base: str) -> Any:
    router = await make_router(
        ROUTER_PROVISIONING=True,
        ROUTER_SECRETS_KEY=SECRETS_KEY,
        TWILIO_API_BASE_URL=base,
        ROUTER_PUBLIC_URL=PUBLIC,
    )
    body = {"accountSid": TWILIO_SID, "authToken": TWILIO_TOKEN_}
    url = "/v1/organizations/default/integrations/twilio"
    assert (await router.put(url, json=body, headers=ADMIN)).status == 200
    return router


async def test_a_twilio_number_is_pointed_at_the_router_and_restored(
    make_router, twirp, twilio_api
):
    standin, base = twilio_api
    router = await _twilio_router(make_router, base)
    agent = await create_agent(router)
    row = await import_number(router, e164="+14155550199", source="twilio", agentId=agent["id"])
    number = standin.numbers["PN" + "1" * 32]
    assert (number["voice_url"], number["voice_method"]) == (
        f"{PUBLIC}/webhooks/twilio/voice",
        "POST",
    )
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert (number["voice_url"], number["voice_method"]) == (
        "https://demo.twilio.com/welcome/voice/",
        "GET",
    )  # what was there before


@pytest.mark.parametrize(
    ("field", "value", "before"),
    [
        ("voice_application_sid", "AP" + "3" * 32, "application AP" + "3" * 32),
        ("trunk_sid", "TK" + "4" * 32, "trunk TK" + "4" * 32),
    ],
)
async def test_a_twilio_number_on_an_application_or_trunk_is_taken_off_it_and_put_back(
    make_router, twirp, twilio_api, field, value, before
):
    """Twilio ignores the voice URL of a number on a TwiML application or a SIP trunk (a
    trunk overrides both): pointing the voice URL alone left such a number 'ready' while its
    calls never came. Import empties them; release puts them back."""
    standin, base = twilio_api
    router = await _twilio_router(make_router, base)
    sid = "PN" + "1" * 32
    standin.numbers[sid][field] = value
    assert standin.routes_to(sid) == before
    agent = await create_agent(router)
    row = await import_number(router, e164="+14155550199", source="twilio", agentId=agent["id"])
    assert standin.routes_to(sid) == f"POST {PUBLIC}/webhooks/twilio/voice"
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert standin.routes_to(sid) == before
    assert standin.numbers[sid]["voice_url"] == "https://demo.twilio.com/welcome/voice/"


async def test_a_twilio_application_set_by_hand_is_drift(make_router, twirp, twilio_api):
    standin, base = twilio_api
    router = await _twilio_router(make_router, base)
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


async def test_a_verified_caller_id_is_imported_outbound_only_and_unknown_is_400(
    make_router, twirp, twilio_api
):
    standin, base = twilio_api
    router = await _twilio_router(make_router, base)
    row = await import_number(router, e164="+14155550188", source="twilio")
    assert (row["source"], row["direction"]) == ("verified_caller_id", "outbound")
    assert standin.updates == []  # nothing pointed: no calls come in on it
    unknown = await router.post(
        "/v1/phone-numbers/import",
        json={"e164": "+14155550177", "source": "twilio", "dispatchMetadataTemplate": {}},
        headers=ADMIN,
    )
    body = await unknown.json()
    assert unknown.status == 400
    assert "neither a number nor a verified caller ID" in body["error"]


async def test_twilio_refusing_keeps_the_row_and_says_twilios_words(make_router, twirp, twilio_api):
    standin, base = twilio_api
    router = await _twilio_router(make_router, base)
    agent = await create_agent(router)
    standin.fail_next = [500]
    row = await import_number(router, e164="+14155550199", source="twilio", agentId=agent["id"])
    issues = " ".join(row["setupStatus"]["issues"])
    assert "Twilio refused to point the number's voice URL (500): Internal Server Error" in issues
    # Retried: the next reconcile (here asked for, with fix) points it and the row is ready.
    report = await (await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)).json()
    assert any("Twilio refused" in c for c in report["organizations"][0]["carrier"])
    await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    number = standin.numbers["PN" + "1" * 32]
    assert number["voice_url"] == f"{PUBLIC}/webhooks/twilio/voice"
    assert (await _status(router, row["id"]))["status"] == "ready"


async def test_the_stand_in_speaks_twilios_format(twilio_api):
    """The official twilio client (the reference for Twilio's REST shapes) reads the
    stand-in's answers and sends the same update the router sends."""
    from twilio.rest import Client

    standin, base = twilio_api
    client = Client(TWILIO_SID, TWILIO_TOKEN_)
    client.api.base_url = base.removesuffix("/2010-04-01")

    def use() -> tuple[list[Any], Any]:
        found = client.incoming_phone_numbers.list(phone_number="+14155550199")
        updated = client.incoming_phone_numbers("PN" + "1" * 32).update(
            voice_url=f"{PUBLIC}/webhooks/twilio/voice", voice_method="POST",
            voice_application_sid="", trunk_sid="",
        )  # fmt: skip
        return found, updated

    found, updated = await asyncio.to_thread(use)
    assert [n.phone_number for n in found] == ["+14155550199"]
    assert updated.voice_method == "POST"
    assert standin.updates == [
        {"VoiceUrl": f"{PUBLIC}/webhooks/twilio/voice", "VoiceMethod": "POST",
         "VoiceApplicationSid": "", "TrunkSid": ""}
    ]  # fmt: skip


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
    issues = (await _status(router, by_twilio["id"]))["issues"]
    assert issues == [
        "Twilio number's voice URL points elsewhere: "
        f"https://elsewhere.example.com/voice (checked {issues[0].split('(checked ')[1]}"
    ]
    await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert twilio.numbers["PN" + "1" * 32]["voice_url"] == f"{PUBLIC}/webhooks/twilio/voice"
    assert telnyx.numbers["1293384261075731499"]["connection_id"] == ROUTERS_APP
    for row in (by_twilio, by_telnyx):
        assert (await _status(router, row["id"]))["status"] == "ready"
    # What was there before the router is still what a release restores.
    assert (await router.delete(f"/v1/phone-numbers/{by_telnyx['id']}", headers=ADMIN)).status
    assert telnyx.numbers["1293384261075731499"]["connection_id"] == "1111111111111111111"


async def test_sip_trunk_mode_attaches_the_number_to_an_elastic_sip_trunk(
    make_router, twirp, twilio_api
):
    from tests.carrier_helpers import LIVEKIT_SIP_URI

    standin, base = twilio_api
    trunking = base.removesuffix("/2010-04-01") + "/v1"
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY, TWILIO_API_BASE_URL=base,
        TWILIO_TRUNKING_BASE_URL=trunking, ROUTER_PUBLIC_URL=PUBLIC,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )  # fmt: skip
    body = {"accountSid": TWILIO_SID, "authToken": TWILIO_TOKEN_}
    url = "/v1/organizations/default/integrations/twilio"
    assert (await router.put(url, json=body, headers=ADMIN)).status == 200
    agent = await create_agent(router)
    row = await import_number(
        router, e164="+14155550199", source="twilio", mode="sip_trunk", agentId=agent["id"]
    )
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    [(trunk_sid, trunk)] = standin.trunks.items()
    assert trunk["friendly_name"] == "call-router/default"
    assert [o["sip_url"] for o in standin.originations[trunk_sid]] == [
        "sip:router-test.sip.livekit.cloud"
    ]
    assert standin.attached(trunk_sid) == ["PN" + "1" * 32]
    assert standin.updates == []  # the voice URL is not touched in this mode
    # A second number reuses the trunk and its origination URI.
    standin.numbers["PN" + "2" * 32] = {
        **standin.numbers["PN" + "1" * 32],
        "sid": "PN" + "2" * 32,
        "phone_number": "+14155550198",
    }
    await import_number(
        router, e164="+14155550198", source="twilio", mode="sip_trunk", agentId=agent["id"]
    )
    assert len(standin.trunks) == 1
    assert len(standin.originations[trunk_sid]) == 1
    standin.numbers["PN" + "1" * 32]["trunk_sid"] = None  # taken off the trunk by hand
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    ).json()
    assert report["organizations"][0]["carrier"] == [
        f"+14155550199: Twilio number is not on the Elastic SIP Trunk {trunk_sid} any more"
    ]
    assert standin.attached(trunk_sid) == ["PN" + "1" * 32, "PN" + "2" * 32]
    # A trunk with more numbers than one page holds (Twilio pages its lists): the number is
    # found on a later page, so it is not reported as taken off.
    for i in range(1001):
        sid = f"PN{i:032x}"
        standin.numbers[sid] = {"sid": sid, "phone_number": f"+1555{i:07d}", "trunk_sid": trunk_sid}
    report = await (await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)).json()
    assert report["organizations"][0].get("carrier") is None
    for i in range(1001):
        del standin.numbers[f"PN{i:032x}"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert standin.attached(trunk_sid) == ["PN" + "2" * 32]  # detached on release
    wrong = await router.post(
        "/v1/phone-numbers/import",
        json={"e164": "+12015550100", "mode": "sip_trunk", "agentId": agent["id"]},
        headers=ADMIN,
    )
    assert (await wrong.json())["field"] == "mode"


async def test_the_trunking_stand_in_speaks_twilios_format(twilio_api):
    """The official twilio client reads the trunking stand-in's lists and creations."""
    from twilio.rest import Client

    _, base = twilio_api
    client = Client(TWILIO_SID, TWILIO_TOKEN_)
    client.trunking.base_url = base.removesuffix("/2010-04-01")

    def use() -> list[str]:
        trunk = client.trunking.v1.trunks.create(friendly_name="call-router/default")
        trunk_ctx = client.trunking.v1.trunks(trunk.sid)
        trunk_ctx.origination_urls.create(
            friendly_name="LiveKit", sip_url="sip:x.sip.livekit.cloud", priority=10,
            weight=10, enabled=True,
        )  # fmt: skip
        trunk_ctx.phone_numbers.create(phone_number_sid="PN" + "1" * 32)
        names = [t.friendly_name for t in client.trunking.v1.trunks.list()]
        urls = [o.sip_url for o in trunk_ctx.origination_urls.list()]
        numbers = [n.sid for n in trunk_ctx.phone_numbers.list()]
        return [*names, *urls, *numbers]

    assert await asyncio.to_thread(use) == [
        "call-router/default",
        "sip:x.sip.livekit.cloud",
        "PN" + "1" * 32,
    ]


async def test_an_organizations_managed_trunk_id_cannot_be_named_by_another(provisioned):
    router, _, standin = provisioned
    await import_number(router, e164="+12015550401", dispatchMetadataTemplate={"a": 1})
    [managed] = _managed(standin)  # the default organization's
    resp = await router.post("/v1/organizations", json={"name": "Other"}, headers=ADMIN)
    other = await resp.json()
    refused = await router.post(
        "/v1/phone-numbers/import",
        json={
            "e164": "+12015550402", "organizationId": other["id"],
            "dispatchMetadataTemplate": {"a": 1}, "sipTrunkId": managed.sip_trunk_id,
        },
        headers=ADMIN,
    )  # fmt: skip
    assert refused.status == 404
    assert (await refused.json())["field"] == "sipTrunkId"


async def test_each_organizations_telnyx_account_has_its_own_application_and_key(
    make_router, twirp, telnyx_api
):
    """Telnyx applications and webhook keys belong to an account: an organization on its own
    Telnyx account gets an application made there (the stand-in refuses to point a number at
    another account's), and its webhooks are checked with its account's public key."""
    from urllib.parse import urlencode

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from tests.carrier_helpers import LIVEKIT_SIP_URI, TELNYX_PRIVATE, TELNYX_PUBLIC, telnyx_headers

    standin, base = telnyx_api
    standin.accounts["KEY_org_b"] = "account-b"
    standin.numbers["2293384261075731499"] = {
        "id": "2293384261075731499", "phone_number": "+13125550222", "account": "account-b",
        "connection_id": None, "record_type": "phone_number",
    }  # fmt: skip
    b_key = Ed25519PrivateKey.generate()
    b_public = base64.b64encode(b_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY, TELNYX_CONNECTION_ID=ROUTERS_APP,
        TELNYX_API_BASE_URL=base, ROUTER_PUBLIC_URL=PUBLIC, TELNYX_PUBLIC_KEY=TELNYX_PUBLIC,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )  # fmt: skip
    org = await (await router.post("/v1/organizations", json={"name": "B"}, headers=ADMIN)).json()
    url = f"/v1/organizations/{org['id']}/integrations/telnyx"
    foreign = {"apiKey": "KEY_org_b", "connectionId": ROUTERS_APP}
    refused = await router.put(url, json=foreign, headers=ADMIN)
    assert refused.status == 400  # the platform's application is not on B's account
    assert (await refused.json())["field"] == "connectionId"
    bad_key = await router.put(
        url, json={"apiKey": "KEY_org_b", "publicKey": "eA=="}, headers=ADMIN
    )
    assert (await bad_key.json())["field"] == "publicKey"
    body = {"apiKey": "KEY_org_b", "publicKey": b_public.decode()}
    view = await (await router.put(url, json=body, headers=ADMIN)).json()
    made = view["connectionId"]
    assert standin.applications[made]["account"] == "account-b"
    assert standin.applications[made]["voice_url"] == f"{PUBLIC}/webhooks/telnyx"
    row = await import_number(
        router, e164="+13125550222", source="telnyx", organizationId=org["id"],
        dispatchMetadataTemplate={"a": 1},
    )  # fmt: skip
    assert row["setupStatus"]["sipConnectionReady"] is True, row["setupStatus"]["issues"]
    assert standin.numbers["2293384261075731499"]["connection_id"] == made

    async def texml(connection: str, key: Any, sid: str) -> int:
        form = urlencode({"CallSid": sid, "From": "+14155550100", "To": "+13125550222",
                          "ConnectionId": connection}).encode()  # fmt: skip
        resp = await router.post(
            "/webhooks/telnyx", data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     **telnyx_headers(form, key=key)},
        )  # fmt: skip
        return resp.status

    assert await texml(made, b_key, "v3:b1") == 200  # B's account, B's key
    assert await texml(made, TELNYX_PRIVATE, "v3:b2") == 403  # the platform's key: not B's
    assert await texml(ROUTERS_APP, TELNYX_PRIVATE, "v3:p1") == 200  # the platform's own
    assert await texml(ROUTERS_APP, b_key, "v3:p2") == 403
