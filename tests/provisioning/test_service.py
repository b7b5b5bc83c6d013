"""The router wires numbers into LiveKit itself: each organization's managed inbound trunk
(SIP_ALL_HEADERS) and individual dispatch rule, kept in line with its numbers through
livekit-api's SipService, against the Twirp stand-in's ``livekit.SIP`` (real protobuf
messages, the JWT checked with TokenVerifier, the SIP admin grant required)."""

from __future__ import annotations

import asyncio
import json

from livekit.protocol import sip

from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_record,
)
from tests.provisioning.conftest import managed


async def test_an_imported_number_is_on_its_organizations_trunk_and_routes(provisioned, redis):
    router, agent, standin = provisioned
    row = await import_number(router, e164="+12015550123", agentId=agent["id"])
    [trunk] = managed(standin)
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
    assert list(managed(standin)[0].numbers) == ["+12015550124"]
    await router.patch(url, json={"direction": "both"}, headers=ADMIN)
    assert sorted(managed(standin)[0].numbers) == ["+12015550123", "+12015550124"]
    await router.delete(url, headers=ADMIN)
    assert list(managed(standin)[0].numbers) == ["+12015550124"]
    assert len(managed(standin)) == 1
    assert len(standin.rules) == 1  # looked up before anything is made: nothing twice


async def test_concurrent_imports_do_not_overwrite_each_other(provisioned):
    """LiveKit's update loads, changes and stores without a lock (the stand-in's interleave
    makes concurrent updates overlap): the router serializes its own, so none is lost."""
    router, agent, standin = provisioned
    await import_number(router, e164="+12015550100", agentId=agent["id"])  # the trunk exists
    standin.interleave = 0.05
    numbers = [f"+120155502{i:02d}" for i in range(10)]
    await asyncio.gather(*(import_number(router, e164=n, agentId=agent["id"]) for n in numbers))
    [trunk] = managed(standin)
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
    [trunk] = managed(standin)
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
    assert managed(standin) == []
    assert standin.rules == {}
    again = await import_number(router, e164="+12015550123", agentId=agent["id"])
    assert [list(t.numbers) for t in managed(standin)] == [["+12015550123"]]
    assert len(standin.rules) == 1
    # PATCH to outbound is a release of the inbound side: the same.
    url = f"/v1/phone-numbers/{again['id']}"
    assert (await router.patch(url, json={"direction": "outbound"}, headers=ADMIN)).status == 200
    assert managed(standin) == []
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": False}, headers=ADMIN)
    ).json()
    assert report["organizations"] == [{"organizationId": "default"}]  # no drift


async def test_an_organizations_trunk_takes_calls_from_its_allowed_addresses_only(provisioned):
    """A stranger who knows the SIP URI must not ring the numbers: the organization names
    where its carrier sends SIP from, and its managed trunk follows (on creation, at once on a
    change, and in reconcile)."""
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
    [trunk] = managed(standin)
    assert list(trunk.allowed_addresses) == ["54.172.60.0/30", "203.0.113.7/32"]
    url = f"/v1/organizations/{org['id']}"
    patched = await router.patch(
        url, json={"sipAllowedAddresses": ["198.51.100.0/24"]}, headers=ADMIN
    )
    assert patched.status == 200
    assert list(managed(standin)[0].allowed_addresses) == ["198.51.100.0/24"]
    # Changed by hand at LiveKit: reported, then put back.
    managed(standin)[0].allowed_addresses.append("0.0.0.0/0")
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    ).json()
    [walled] = [o for o in report["organizations"] if o["organizationId"] == org["id"]]
    assert walled["addressesDiffer"] is True
    assert list(managed(standin)[0].allowed_addresses) == ["198.51.100.0/24"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert managed(standin) == []  # its last number gone (the next test says why)
    bad = await router.patch(url, json={"sipAllowedAddresses": ["not-an-address"]}, headers=ADMIN)
    assert bad.status == 400
    assert (await bad.json())["field"] == "sipAllowedAddresses"


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
    by_name = {t.name: list(t.numbers) for t in managed(standin)}
    assert by_name == {
        f"call-router/{org['id']}": ["+12015550301"],
        "call-router/default": ["+12015550302"],
    }


async def test_provisioning_off_leaves_livekit_alone(make_router, twirp):
    router = await make_router(ROUTER_PROVISIONING=False)
    agent = await create_agent(router)
    row = await import_number(router, e164="+12015550123", agentId=agent["id"])
    assert twirp[0].sip.calls == []
    assert "no SIP connection recorded" in " ".join(row["setupStatus"]["issues"])
    resp = await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)
    assert resp.status == 501


async def test_an_organizations_managed_trunk_id_cannot_be_named_by_another(provisioned):
    router, _, standin = provisioned
    await import_number(router, e164="+12015550401", dispatchMetadataTemplate={"a": 1})
    [trunk] = managed(standin)  # the default organization's
    resp = await router.post("/v1/organizations", json={"name": "Other"}, headers=ADMIN)
    other = await resp.json()
    refused = await router.post(
        "/v1/phone-numbers/import",
        json={
            "e164": "+12015550402", "organizationId": other["id"],
            "dispatchMetadataTemplate": {"a": 1}, "sipTrunkId": trunk.sip_trunk_id,
        },
        headers=ADMIN,
    )  # fmt: skip
    assert refused.status == 404
    assert (await refused.json())["field"] == "sipTrunkId"


async def test_a_trunk_whose_last_number_goes_is_retired_even_with_allowed_addresses(provisioned):
    """A trunk with allowed addresses and no numbers would take calls to every number from
    those addresses (a carrier's ranges are shared by all its customers), and LiveKit refuses
    a second such trunk (ValidateTrunksIter: both claim every number): the last number's
    release retires the trunk and its rule whatever its addresses, for each organization."""
    router, _, standin = provisioned
    rows = []
    for name, addresses, e164 in (
        ("Walled A", ["54.172.60.0/30"], "+12015550711"),
        ("Walled B", ["203.0.113.7"], "+12015550712"),
    ):
        org = await (
            await router.post(
                "/v1/organizations",
                json={"name": name, "sipAllowedAddresses": addresses},
                headers=ADMIN,
            )
        ).json()
        rows.append(
            await import_number(
                router, e164=e164, organizationId=org["id"], dispatchMetadataTemplate={"a": 1}
            )
        )
    assert len(managed(standin)) == 2
    for row in rows:
        assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert managed(standin) == []
    assert not [r for r in standin.rules.values() if r.name.startswith("call-router/")]
