"""LiveKit's SIP service as the router meets it: the Twirp stand-in holds trunks to LiveKit's
own rules (tests/sip_standin.py names each source), spoken to with livekit-api's own client
and tokens — so a request LiveKit would refuse is refused here first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from livekit import api
from livekit.protocol import sip

from tests.conftest import API_KEY, API_SECRET
from tests.sip_standin import normalize


@pytest.fixture
async def lk(twirp: Any) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(twirp[1], API_KEY, API_SECRET)
    yield client
    await client.aclose()


async def _inbound(lk: api.LiveKitAPI, **fields: Any) -> sip.SIPInboundTrunkInfo:
    request = sip.CreateSIPInboundTrunkRequest(trunk=sip.SIPInboundTrunkInfo(**fields))
    trunk: sip.SIPInboundTrunkInfo = await lk.sip.create_inbound_trunk(request)
    return trunk


async def _refused(call: Any, words: str) -> None:
    with pytest.raises(api.TwirpError) as refused:
        await call
    assert words in refused.value.message, refused.value.message


def test_numbers_are_normalized_as_livekit_does():
    assert normalize("(201) 555-0123") == "+2015550123"
    assert normalize("+1 201 555 0123") == "+12015550123"
    assert normalize("sip-user") == "sip-user"


async def test_two_inbound_trunks_on_one_number_conflict_unless_callers_tell_them_apart(lk):
    await _inbound(lk, name="a", numbers=["+12015550123"], auth_username="a", auth_password="p")
    # Other credentials and other addresses do not tell two trunks apart (ValidateTrunksIter).
    await _refused(
        _inbound(lk, name="b", numbers=["12015550123"], allowed_addresses=["203.0.113.0/24"]),
        "Conflicting inbound SIP Trunks",
    )
    # Callers do: the same number from one caller only is another trunk's.
    made = await _inbound(lk, name="c", numbers=["+12015550123"], allowed_numbers=["+16175550177"])
    assert made.sip_trunk_id


async def test_two_inbound_trunks_without_numbers_conflict(lk):
    await _inbound(lk, name="a", allowed_addresses=["203.0.113.7"])
    await _refused(
        _inbound(lk, name="b", auth_username="u", auth_password="p"),
        "without AllowedNumbers set",
    )


async def test_an_inbound_update_may_not_make_a_conflict(lk):
    first = await _inbound(lk, name="a", numbers=["+12015550123"])
    second = await _inbound(lk, name="b", numbers=["+12015550124"])
    update = api.ListUpdate(add=["+12015550123"])
    await _refused(
        lk.sip.update_inbound_trunk_fields(second.sip_trunk_id, numbers=update),
        f"{first.sip_trunk_id!r}",
    )


async def test_an_outbound_trunk_needs_numbers_and_a_host(lk):
    def create(**fields: Any) -> Any:
        trunk = sip.SIPOutboundTrunkInfo(**fields)
        return lk.sip.create_outbound_trunk(sip.CreateSIPOutboundTrunkRequest(trunk=trunk))

    await _refused(create(name="x", address="sip.example.com"), "no trunk numbers specified")
    await _refused(create(name="x", numbers=["+12015550123"]), "no outbound address specified")
    await _refused(
        create(name="x", numbers=["+12015550123"], address="sip:pbx@example.com"),
        "should be a hostname or IP, not SIP URI",
    )
    await _refused(
        create(name="x", numbers=["+1201"], address="pbx.example.com;transport=tcp"),
        "should not contain transport parameter",
    )
    made = await create(
        name="x", numbers=["+12015550123"], address="pbx.example.com:5061",
        transport=sip.SIPTransport.SIP_TRANSPORT_TLS, auth_username="u", auth_password="p",
    )  # fmt: skip
    listed = await lk.sip.list_outbound_trunk(sip.ListSIPOutboundTrunkRequest())
    assert [t.sip_trunk_id for t in listed.items] == [made.sip_trunk_id]
    assert listed.items[0].transport == sip.SIPTransport.SIP_TRANSPORT_TLS
    await _refused(
        lk.sip.update_outbound_trunk_fields(
            made.sip_trunk_id, numbers=api.ListUpdate(remove=["+12015550123"])
        ),
        "no trunk numbers specified",
    )
    await _refused(
        lk.sip.update_outbound_trunk_fields("ST_nope", address="pbx.example.com"), "no trunk"
    )


async def test_an_outbound_call_needs_the_call_grant_and_a_trunk_that_exists(lk, twirp):
    standin = twirp[0].sip
    trunk = await lk.sip.create_outbound_trunk(
        sip.CreateSIPOutboundTrunkRequest(
            trunk=sip.SIPOutboundTrunkInfo(
                name="x", numbers=["+12015550123"], address="pbx.example.com"
            )
        )
    )
    call = sip.CreateSIPParticipantRequest(
        sip_trunk_id=trunk.sip_trunk_id, sip_call_to="+14155550100", room_name="out-1"
    )
    made = await lk.sip.create_sip_participant(call)
    assert (made.room_name, standin.participants[0].sip_call_to) == ("out-1", "+14155550100")
    unknown = sip.CreateSIPParticipantRequest(
        sip_trunk_id="ST_nope", sip_call_to="+14155550100", room_name="out-2"
    )
    await _refused(lk.sip.create_sip_participant(unknown), "no outbound trunk")
    # A token with the admin grant only (no call grant) is refused.
    admin_only = (
        api.AccessToken(API_KEY, API_SECRET).with_sip_grants(api.SIPGrants(admin=True)).to_jwt()
    )
    async with aiohttp.ClientSession() as session:
        answer = await session.post(
            f"{twirp[1]}/twirp/livekit.SIP/CreateSIPParticipant",
            data=call.SerializeToString(),
            headers={
                "Authorization": f"Bearer {admin_only}",
                "Content-Type": "application/protobuf",
            },
        )
        assert answer.status == 403
        assert "SIP call grant" in (await answer.json())["msg"]


async def test_two_dispatch_rules_on_one_trunk_and_pin_conflict(lk):
    trunk = await _inbound(lk, name="a", numbers=["+12015550123"])

    def rule(pin: str = "", trunks: tuple[str, ...] = (trunk.sip_trunk_id,)) -> Any:
        individual = sip.SIPDispatchRuleIndividual(room_prefix="call-", pin=pin)
        info = sip.SIPDispatchRuleInfo(
            rule=sip.SIPDispatchRule(dispatch_rule_individual=individual), trunk_ids=list(trunks)
        )
        return lk.sip.create_dispatch_rule(sip.CreateSIPDispatchRuleRequest(dispatch_rule=info))

    first = await rule()
    await _refused(rule(), f"already exists in dispatch rule {first.sip_dispatch_rule_id!r}")
    # Another PIN is another rule; so is a default rule (no trunks), once.
    assert (await rule(pin="1234")).sip_dispatch_rule_id
    assert (await rule(trunks=())).sip_dispatch_rule_id
    await _refused(rule(trunks=()), "already exists")
