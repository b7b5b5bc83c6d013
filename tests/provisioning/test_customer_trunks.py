"""A number imported onto the customer's own LiveKit inbound trunk (``source: byoc`` with
``sipTrunkId``, the reference's "the number is registered against that trunk"): it joins that
trunk, not the organization's managed one; a dispatch rule covers the trunk (the customer's
own, or one the router adds); what the customer made is never narrowed, widened or deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit import api
from livekit.protocol import sip

from tests.conftest import ADMIN, API_KEY, API_SECRET, import_number, json_of
from tests.provisioning.conftest import managed, setup_status


@pytest.fixture
async def lk(twirp: Any) -> AsyncIterator[api.LiveKitAPI]:
    """The customer's own view of LiveKit (the same project's API)."""
    client = api.LiveKitAPI(twirp[1], API_KEY, API_SECRET)
    yield client
    await client.aclose()


async def _trunk(lk: api.LiveKitAPI, **fields: Any) -> str:
    info = sip.SIPInboundTrunkInfo(name="acme pbx", **fields)
    made = await lk.sip.create_inbound_trunk(sip.CreateSIPInboundTrunkRequest(trunk=info))
    return str(made.sip_trunk_id)


async def _rule(lk: api.LiveKitAPI, trunk_id: str) -> str:
    direct = sip.SIPDispatchRuleDirect(room_name="acme-lobby")
    info = sip.SIPDispatchRuleInfo(
        rule=sip.SIPDispatchRule(dispatch_rule_direct=direct), trunk_ids=[trunk_id], name="acme"
    )
    made = await lk.sip.create_dispatch_rule(sip.CreateSIPDispatchRuleRequest(dispatch_rule=info))
    return str(made.sip_dispatch_rule_id)


def _byoc(agent: dict[str, Any], e164: str, trunk_id: str) -> dict[str, Any]:
    return {"e164": e164, "agentId": agent["id"], "source": "byoc", "sipTrunkId": trunk_id}


async def test_a_byoc_number_joins_the_customer_s_trunk_and_a_rule_of_the_router_s(provisioned, lk):
    router, agent, standin = provisioned
    trunk_id = await _trunk(lk, numbers=["+12015550100"], auth_username="u", auth_password="p")
    row = await import_number(router, **_byoc(agent, "+12015550961", trunk_id))
    trunk = standin.trunks[trunk_id]
    assert list(trunk.numbers) == ["+12015550100", "+12015550961"]
    assert (trunk.auth_username, trunk.auth_password) == ("u", "p")  # nothing else touched
    assert managed(standin) == []  # not on the organization's managed trunk
    [rule] = standin.rules.values()  # no rule covered the trunk: the router's own
    assert list(rule.trunk_ids) == [trunk_id]
    assert rule.name == f"call-router/{row['organizationId']}/trunk/{trunk_id}"
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"
    status = await setup_status(router, row["id"])
    assert (status["sipConnectionReady"], status["inboundReady"]) == (True, True)
    # A second number on the same trunk: the rule is there already.
    second = await import_number(router, **_byoc(agent, "+12015550962", trunk_id))
    assert len(standin.rules) == 1
    # Released: each number the router added comes off; the rule goes with the last one,
    # the customer's trunk and its own number stay.
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert len(standin.rules) == 1
    assert (await router.delete(f"/v1/phone-numbers/{second['id']}", headers=ADMIN)).status == 200
    assert list(standin.trunks[trunk_id].numbers) == ["+12015550100"]
    assert standin.rules == {}


async def test_the_customer_s_own_rule_and_numbers_are_left_as_they_were(provisioned, lk):
    router, agent, standin = provisioned
    trunk_id = await _trunk(lk, numbers=["+12015550963"], allowed_addresses=["203.0.113.7"])
    rule_id = await _rule(lk, trunk_id)
    row = await import_number(router, **_byoc(agent, "+12015550963", trunk_id))
    # The trunk listed the number and the customer's rule covers it: nothing is made (a
    # second rule on the trunk with no PIN would be refused by LiveKit anyway).
    assert list(standin.rules) == [rule_id]
    assert list(standin.trunks[trunk_id].numbers) == ["+12015550963"]
    assert (await setup_status(router, row["id"]))["sipConnectionReady"] is True
    # Released: the number was the customer's own on the trunk before; it stays.
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert list(standin.trunks[trunk_id].numbers) == ["+12015550963"]
    assert list(standin.rules) == [rule_id]


async def test_a_trunk_that_takes_every_number_is_not_narrowed(provisioned, lk):
    """A trunk with no numbers takes calls to every number (ValidateTrunksIter's "" group):
    adding one would narrow it to that number and cut off the customer's other calls."""
    router, agent, standin = provisioned
    trunk_id = await _trunk(lk, auth_username="acme", auth_password="s3cret")
    row = await import_number(router, **_byoc(agent, "+442071838750", trunk_id))
    assert list(standin.trunks[trunk_id].numbers) == []
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert trunk_id in standin.trunks
    assert list(standin.trunks[trunk_id].numbers) == []


async def test_a_trunk_gone_or_changed_by_hand_is_reported_and_repaired(provisioned, lk):
    router, agent, standin = provisioned
    trunk_id = await _trunk(lk, numbers=["+12015550100"], auth_username="u", auth_password="p")
    row = await import_number(router, **_byoc(agent, "+12015550964", trunk_id))
    # By hand, in LiveKit's console: the number taken off, the router's rule deleted.
    update = api.ListUpdate(remove=["+12015550964"])
    await lk.sip.update_inbound_trunk_fields(trunk_id, numbers=update)
    [rule] = standin.rules.values()
    del standin.rules[rule.sip_dispatch_rule_id]
    resp = await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)
    [org] = (await json_of(resp, 200))["organizations"]
    assert org["customerTrunks"] == [
        f"+12015550964 is not on its trunk {trunk_id}",
        f"+12015550964: no dispatch rule covers its trunk {trunk_id}",
    ]
    assert "missing" not in org  # nothing expected on the managed trunk
    fixed = await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert (await json_of(fixed, 200))["organizations"][0]["fixed"] is True
    assert "+12015550964" in standin.trunks[trunk_id].numbers
    assert len(standin.rules) == 1
    again = await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)
    assert "customerTrunks" not in (await json_of(again, 200))["organizations"][0]
    # What reconcile put back is the router's to take off on release.
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert list(standin.trunks[trunk_id].numbers) == ["+12015550100"]
    # The customer deletes the trunk: the next reconcile says so in words.
    other = await import_number(router, **_byoc(agent, "+12015550965", trunk_id))
    await lk.sip.delete_trunk(sip.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id))
    resp = await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)
    assert (await json_of(resp, 200))["organizations"][0]["customerTrunks"] == [
        f"+12015550965: LiveKit has no inbound trunk {trunk_id} (its sipTrunkId)"
    ]
    assert other["sipTrunkId"] == trunk_id


async def test_moving_a_number_from_the_managed_trunk_to_the_customer_s(provisioned, lk):
    router, agent, standin = provisioned
    row = await import_number(router, e164="+12015550966", agentId=agent["id"])
    assert [list(t.numbers) for t in managed(standin)] == [["+12015550966"]]
    trunk_id = await _trunk(lk, numbers=["+12015550100"], auth_username="u", auth_password="p")
    moved = await router.patch(
        f"/v1/phone-numbers/{row['id']}", json={"sipTrunkId": trunk_id}, headers=ADMIN
    )
    assert (await json_of(moved, 200))["setupStatus"]["sipConnectionReady"] is True
    # Off the managed trunk (its last number: retired with its rule), on the customer's.
    assert managed(standin) == []
    assert list(standin.trunks[trunk_id].numbers) == ["+12015550100", "+12015550966"]
    assert [list(r.trunk_ids) for r in standin.rules.values()] == [[trunk_id]]
