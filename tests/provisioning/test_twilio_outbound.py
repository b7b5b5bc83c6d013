"""Outbound calls from a Twilio account's numbers (#29 part 3): the organization's Elastic SIP
Trunk gets a termination address and a credential on the account (Twilio's stand-in holds
them to Twilio's rules: tests/twilio_termination_standin.py), LiveKit an outbound trunk to
that address with that credential and the numbers; ``outboundReady`` follows only from that
trunk, and a verified caller ID rides the same one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import ADMIN, create_agent, import_number, json_of
from tests.provisioning.conftest import (
    TWILIO_SID,
    TWILIO_TOKEN_,
    twilio_router,
)


@pytest.fixture
async def twilio(make_router: Any, twirp: Any, twilio_api: Any) -> Any:
    standin, base = twilio_api
    router = await twilio_router(make_router, base)
    return router, standin, twirp[0].sip


async def test_a_twilio_number_places_calls_over_its_account_s_trunk(twilio):
    router, twilio_standin, livekit = twilio
    agent = await create_agent(router)
    row = await import_number(
        router, e164="+14155550199", source="twilio", direction="both", agentId=agent["id"]
    )
    assert row["setupStatus"]["outboundReady"] is True, row["setupStatus"]["issues"]
    # On Twilio: the organization's trunk with a termination address and the router's
    # credential associated with it.
    [(trunk_sid, trunk)] = twilio_standin.trunks.items()
    assert trunk["friendly_name"] == "call-router/default"
    assert trunk["domain_name"].endswith(".pstn.twilio.com")
    [(username, password)] = twilio_standin.termination.username_and_password(trunk_sid)
    assert username == "call-router"
    # On LiveKit: an outbound trunk to that address with that credential, field by field.
    [out] = livekit.outbound.values()
    assert out.name == "call-router/default/twilio"
    assert (out.address, out.auth_username, out.auth_password) == (
        trunk["domain_name"], username, password,
    )  # fmt: skip
    assert list(out.numbers) == ["+14155550199"]
    # The password Twilio checks is the router's secret: in no answer.
    for path in (f"/v1/phone-numbers/{row['id']}", "/v1/audit", "/metrics",
                 "/v1/organizations/default/integrations/twilio"):  # fmt: skip
        assert password not in await (await router.get(path, headers=ADMIN)).text()
    report = await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)
    assert password not in await report.text()
    # A verified caller ID of the account rides the same trunk; nothing is made twice.
    caller_id = await import_number(router, e164="+14155550188", source="twilio")
    assert caller_id["source"] == "verified_caller_id"
    assert caller_id["setupStatus"]["outboundReady"] is True, caller_id["setupStatus"]["issues"]
    assert list(livekit.outbound[out.sip_trunk_id].numbers) == ["+14155550199", "+14155550188"]
    assert len(twilio_standin.termination.lists) == 1
    assert len(twilio_standin.termination.passwords) == 1
    # A call from the caller ID goes out on that trunk.
    placed = await router.post(
        "/v1/calls/outbound",
        json={"from": "+14155550188", "to": "+14155550100", "agentId": agent["id"]},
        headers=ADMIN,
    )
    await json_of(placed, 201)
    [call] = livekit.participants
    assert (call.sip_trunk_id, call.sip_number) == (out.sip_trunk_id, "+14155550188")
    # Inbound-only now: off the outbound trunk, and not outbound-ready.
    inbound = await router.patch(
        f"/v1/phone-numbers/{row['id']}", json={"direction": "inbound"}, headers=ADMIN
    )
    assert (await json_of(inbound, 200))["setupStatus"]["status"] == "ready"
    assert list(livekit.outbound[out.sip_trunk_id].numbers) == ["+14155550188"]


async def test_without_the_account_it_says_to_connect_it(twilio):
    router, _, livekit = twilio
    assert (
        await router.delete("/v1/organizations/default/integrations/twilio", headers=ADMIN)
    ).status in (200, 204)
    agent = await create_agent(router)
    row = await import_number(
        router, e164="+14155550199", source="twilio", direction="both", agentId=agent["id"]
    )
    status = row["setupStatus"]
    assert status["outboundReady"] is False
    assert any(
        "connect its Twilio account (PUT /v1/organizations/default/integrations/twilio)" in i
        for i in status["issues"]
    ), status["issues"]
    assert livekit.outbound == {}


async def test_twilio_refusing_keeps_the_inbound_side_and_says_why(twilio):
    router, twilio_standin, livekit = twilio
    twilio_standin.termination.fail_next = [503]
    agent = await create_agent(router)
    row = await import_number(
        router, e164="+14155550199", source="twilio", direction="both", agentId=agent["id"]
    )
    status = row["setupStatus"]
    assert (status["inboundReady"], status["sipConnectionReady"]) == (True, True)
    assert status["outboundReady"] is False
    assert any(
        "outbound calls: Twilio refused to set the SIP trunk's termination address (503)" in i
        for i in status["issues"]
    ), status["issues"]
    # The next write of the number tries again, and makes it.
    again = await router.patch(
        f"/v1/phone-numbers/{row['id']}", json={"label": "main"}, headers=ADMIN
    )
    assert (await json_of(again, 200))["setupStatus"]["outboundReady"] is True
    assert len(livekit.outbound) == 1


async def test_a_lost_password_is_set_anew_on_the_existing_credential(twilio, redis):
    """Twilio keeps only a digest: a router that no longer knows the credential's password
    (its record gone, e.g. restored from an older backup) sets a new one on the same
    credential instead of making a second, and LiveKit gets that one."""
    router, twilio_standin, livekit = twilio
    agent = await create_agent(router)
    await import_number(
        router, e164="+14155550199", source="twilio", direction="both", agentId=agent["id"]
    )
    [(trunk_sid, _)] = twilio_standin.trunks.items()
    [(_, first)] = twilio_standin.termination.username_and_password(trunk_sid)
    from router.store import keys

    await redis.hdel(keys.INTEGRATIONS, "default:twilio-termination")
    twilio_standin.numbers["PN" + "2" * 32] = {
        **twilio_standin.numbers["PN" + "1" * 32], "sid": "PN" + "2" * 32,
        "phone_number": "+14155550198",
    }  # fmt: skip
    await import_number(
        router, e164="+14155550198", source="twilio", direction="outbound", agentId=agent["id"]
    )
    [(_, second)] = twilio_standin.termination.username_and_password(trunk_sid)
    assert second != first
    [out] = livekit.outbound.values()
    assert out.auth_password == second
    assert sorted(out.numbers) == ["+14155550198", "+14155550199"]


async def test_the_termination_stand_in_speaks_twilios_format(twilio_api):
    """The official twilio client drives the stand-in's trunk domain, credential lists and
    credentials, and the stand-in refuses what Twilio documents it refuses."""
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    standin, base = twilio_api
    client = Client(TWILIO_SID, TWILIO_TOKEN_)
    client.api.base_url = client.trunking.base_url = base.removesuffix("/2010-04-01")

    def use() -> list[Any]:
        trunk = client.trunking.v1.trunks.create(friendly_name="call-router/default")
        updated = client.trunking.v1.trunks(trunk.sid).update(domain_name="acme-1.pstn.twilio.com")
        listed = client.sip.credential_lists.create(friendly_name="call-router/default")
        refused = []
        for weak in ("short1A", "alllowercase123", "NoDigitsAtAllHere"):
            try:
                client.sip.credential_lists(listed.sid).credentials.create(
                    username="call-router", password=weak
                )
            except TwilioRestException as exc:
                refused.append(exc.status)
        made = client.sip.credential_lists(listed.sid).credentials.create(
            username="call-router", password="Strong-Passw0rd"
        )
        client.trunking.v1.trunks(trunk.sid).credentials_lists.create(
            credential_list_sid=listed.sid
        )
        try:
            client.trunking.v1.trunks(trunk.sid).update(domain_name="acme.example.com")
        except TwilioRestException as exc:
            refused.append(exc.status)
        return [
            updated.domain_name,
            [c.friendly_name for c in client.sip.credential_lists.list()],
            [c.username for c in client.sip.credential_lists(listed.sid).credentials.list()],
            [c.sid for c in client.trunking.v1.trunks(trunk.sid).credentials_lists.list()],
            made.username,
            refused,
        ]

    assert await asyncio.to_thread(use) == [
        "acme-1.pstn.twilio.com",
        ["call-router/default"],
        ["call-router"],
        ["CL" + "0" * 31 + "1"],
        "call-router",
        [400, 400, 400, 400],
    ]
    assert list(standin.termination.passwords.values()) == ["Strong-Passw0rd"]


async def test_an_outbound_trunk_deleted_by_hand_is_reported_and_made_again(twilio):
    router, _, livekit = twilio
    agent = await create_agent(router)
    await import_number(
        router, e164="+14155550199", source="twilio", direction="both", agentId=agent["id"]
    )
    [old] = list(livekit.outbound)
    del livekit.outbound[old]  # in LiveKit's console
    resp = await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)
    assert (await json_of(resp, 200))["organizations"][0]["connections"] == [
        "Twilio: its outbound trunk holds nothing, its numbers allowing outbound calls are "
        "['+14155550199']"
    ]
    fixed = await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert (await json_of(fixed, 200))["organizations"][0]["fixed"] is True
    [new] = list(livekit.outbound)
    # The number's state follows the new trunk: its calls go out there, not to the old id.
    placed = await router.post(
        "/v1/calls/outbound", json={"from": "+14155550199", "to": "+14155550100"}, headers=ADMIN
    )
    await json_of(placed, 201)
    assert [p.sip_trunk_id for p in livekit.participants] == [new]
    assert new != old
