"""Numbering outside one country: dialed numbers read as LiveKit reads them, every other
number read in the call's own country, RFC 3966 phone-context kept, new ranges not dropped.

Vectors: LiveKit puts the raw To user of the INVITE into ``sip.trunkPhoneNumber`` while it
matches trunks on ``NormalizeNumber`` (bare digits get a ``+``: livekit/protocol,
``livekit/sip.go``); the national numbers are the formats each country's operators present
(Australian 02/04, British 020, German 030, Russian 8 (3xx)); the ``tel:`` vector is RFC 3966
section 5.1.5's shape.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from router.core import forwarding
from router.core.phone import Reading, call_region, read, readings
from tests.conftest import (
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_record,
)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("61294964040", "+61294964040"), ("442079460018", "+442079460018"),
     ("74951234567", "+74951234567"), ("4930123456", "+4930123456")],
)  # fmt: skip
def test_bare_international_digits_are_read_as_livekit_reads_them(raw, e164):
    assert readings(raw, "US", international_first=True)[0] == Reading(e164, "international_digits")


def test_bare_digits_with_two_readings_keep_both_livekits_first():
    """+2015550123 is a valid Egyptian number: LiveKit's reading; the US one is kept too."""
    assert [r.e164 for r in readings("2015550123", "US", international_first=True)] == [
        "+2015550123",
        "+12015550123",
    ]
    assert read("2015550123", "US") == Reading("+12015550123", "national:US")


@pytest.mark.parametrize(
    ("raw", "dialed", "e164"),
    [
        ("0414674199", "+61294964040", "+61414674199"),  # an Australian mobile, national
        ("020 7946 0018", "+442079460018", "+442079460018"),
        ("030 123456", "+4930123456", "+4930123456"),
        ("8 (301) 123-45-67", "+74951234567", "+73011234567"),
    ],
)
def test_national_numbers_are_read_in_the_dialed_numbers_country(raw, dialed, e164):
    region = call_region(dialed, "US")
    assert read(raw, region) is not None
    assert read(raw, region).e164 == e164  # type: ignore[union-attr]
    assert read(raw, "US") is None or read(raw, "US").e164 != e164  # type: ignore[union-attr]


def test_the_default_region_reads_only_when_the_dialed_number_is_unknown():
    assert call_region(None, "GB") == "GB"
    assert call_region("+61294964040", "GB") == "AU"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("tel:555-0147;phone-context=+1-212", "+12125550147"),
        ("sip:5550147;phone-context=+1-212@gw.example.com;user=phone", "+12125550147"),
        ("tel:555-0147;phone-context=example.com", None),  # a domain names no number
        ("tel:+1-212-555-0147", "+12125550147"),  # a global number needs no context
    ],
)
def test_rfc_3966_phone_context_is_kept(raw, e164):
    found = readings(raw, "US")
    assert (found[0].e164 if found else None) == e164


def test_a_possible_number_outside_the_known_ranges_is_kept_unverified():
    """New ranges open before phonenumbers ships them: a + number of the right length is
    kept in forwarding headers, marked, never silently dropped."""
    assert readings("+6149157000", "US") == ()
    assert readings("+6149157000", "US", keep_possible=True) == (
        Reading("+6149157000", "e164", verified=False),
    )
    chain = forwarding.compute(sip_headers={"Diversion": "<sip:+6149157000@pbx>"}).chain
    assert (chain[0].number, chain[0].unverified) == ("+6149157000", True)
    garbage = forwarding.compute(sip_headers={"Diversion": "<sip:+99912345678@pbx>"})
    assert garbage.number is None  # no country has it: not a number at all


async def test_an_australian_call_with_bare_dialed_digits_is_routed_not_hung_up(
    router, twirp, redis
):
    standin, _ = twirp
    agent = await create_agent(router)
    template = {"caller": "{{callerNumber}}", "from": "{{forwardedFromNumber}}"}
    await import_number(
        router, e164="+61294964040", agentId=agent["id"], dispatchMetadataTemplate=template
    )
    event = sip_join_event(
        call_id="SCL_au",
        dialed="61294964040",  # the raw To user LiveKit passes on
        caller="0414674199",
        headers={"Diversion": "<sip:0298765432@pbx.example.com.au>;reason=unconditional"},
    )
    assert (await post_livekit(router, event)).status == 200
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert (meta["caller"], meta["from"]) == ("+61414674199", "+61298765432")
    record = await wait_record(redis, "SCL_au")
    assert (record.dialed_number, record.dialed_reading) == ("+61294964040", "international_digits")


async def test_national_digits_find_their_row_under_the_national_reading(router, twirp, redis):
    """2015550123 reads first as Egypt's +2015550123 (no row), then as +12015550123 (the
    row): the call is American, and its caller is read as American too."""
    standin, _ = twirp
    agent = await create_agent(router)
    await import_number(
        router,
        e164="+12015550123",
        agentId=agent["id"],
        dispatchMetadataTemplate={"caller": "{{callerNumber}}", "dialed": "{{dialedNumber}}"},
    )
    event = sip_join_event(call_id="SCL_us", dialed="2015550123", caller="4155550100")
    assert (await post_livekit(router, event)).status == 200
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert (meta["dialed"], meta["caller"]) == ("+12015550123", "+14155550100")
    record = await wait_record(redis, "SCL_us")
    assert (record.dialed_number, record.dialed_reading) == ("+12015550123", "national:US")
    assert record.status == "dispatched"


# ---- vectors from real INVITEs in public bug trackers ---------------------------------------


async def test_an_australian_forwarded_invite_from_a_public_trace(router, twirp, redis):
    """voipmonitor/sniffer#81 (2022): an Australian carrier's INVITE for a call to 0414674199
    diverted on no-answer to 61294964040 — Request-URI and From in bare international digits,
    the Diversion in national format:

        INVITE sip:61294964040@203.23.175.90;user=phone SIP/2.0
        From: <sip:61272091827@203.134.21.10>;tag=3871712453-1200387854
        Diversion: <sip:0414674199@203.134.21.10>;reason=no-answer;privacy=off;counter=1
    """
    standin, _ = twirp
    agent = await create_agent(router)
    await import_number(router, e164="+61294964040", agentId=agent["id"])
    event = sip_join_event(
        call_id="SCL_au_trace",
        dialed="61294964040",
        caller="61272091827",
        headers={
            "Diversion": "<sip:0414674199@203.134.21.10>;reason=no-answer;privacy=off;counter=1"
        },
    )
    assert (await post_livekit(router, event)).status == 200
    await asyncio.wait_for(standin.dispatches.get(), 10)
    record = await wait_record(redis, "SCL_au_trace")
    assert record.status == "dispatched"
    assert record.caller_number == "+61272091827"
    assert (record.forwarded_from_number, record.forwarding_chain[0].reason) == (
        "+61414674199",
        "no-answer",
    )


def test_a_russian_diversion_chain_from_a_public_trace():
    """OpenSIPS/opensips#1228 (2017): a Russian provider's Diversion, national numbers with
    and without the trunk prefix 8, display names with no space before '<':

        Diversion: "84999999999"<sip:84999999999@10.23.0.5:5060>;reason=unconditional;
          privacy=off;counter=1,"4999999999"<sip:4999999999@10.23.0.5:5060>;reason=unknown;
          privacy=off;counter=1

    Read in the call's country (a call to a Moscow number): both are +74999999999; the
    bottom-most entry is the first redirection (RFC 5806)."""
    value = (
        '"84999999999"<sip:84999999999@10.23.0.5:5060>;reason=unconditional;privacy=off;'
        'counter=1,"4999999999"<sip:4999999999@10.23.0.5:5060>;reason=unknown;privacy=off;'
        "counter=1"
    )
    region = call_region("+74951234567", "US")
    result = forwarding.compute(sip_headers={"Diversion": value}, region=region)
    assert [h.number for h in result.chain] == ["+74999999999", "+74999999999"]
    assert [h.reason for h in result.chain] == ["unknown", "unconditional"]
    # Read without the call's country the same digits become someone else's (+84: Vietnam).
    misread = forwarding.compute(sip_headers={"Diversion": value}, region="US").number
    assert misread != "+74999999999"
