"""X-Router-Call cannot be forged or stolen: a bridged leg's id must verify for its own dialed
number, be young, and be the first to join; anything else is decided at once, never waited on."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from router.core import correlation
from router.store import keys
from router.web import state
from tests.carrier_helpers import LIVEKIT_SIP_URI, TWILIO_TOKEN, post_twilio, twilio_form
from tests.conftest import (
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_record,
)

KEY = b"k" * 32
DIALED = "+12015550123"


def test_an_id_verifies_only_for_its_key_number_and_age():
    now = int(time.time())
    token = correlation.mint(KEY, DIALED, now)
    assert correlation.verify(KEY, token, DIALED, now, 60) == "valid"
    assert correlation.verify(KEY, token, "+12015550124", now, 60) == "forged"
    assert correlation.verify(b"x" * 32, token, DIALED, now, 60) == "forged"
    assert correlation.verify(KEY, token, DIALED, now + 61, 60) == "expired"
    # Dated beyond the clock skew allowed ahead of this machine: said as such, not "older".
    assert correlation.verify(KEY, token, DIALED, now - 31, 60) == "future"
    assert correlation.verify(KEY, token, DIALED, now - 30, 60) == "valid"
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert correlation.verify(KEY, tampered, DIALED, now, 60) == "forged"
    # A forged timestamp breaks the MAC; it cannot extend the id's life.
    _, _, nonce, mac = token.split(".")
    assert correlation.verify(KEY, f"rc1.{now + 3600}.{nonce}.{mac}", DIALED, now + 61, 60) == (
        "forged"
    )


@pytest.mark.parametrize(
    "garbage", ["", "rc_anything", "rc1...", "rc1.x.y.z", "rc1.¹².a.b", "a" * 500, "rc1.1.2.3.4"]
)
def test_garbage_ids_are_forged_not_errors(garbage):
    assert correlation.verify(KEY, garbage, DIALED, int(time.time()), 60) == "forged"


@pytest.fixture
async def bridged(make_router: Any, redis: Any) -> Any:
    client = await make_router(TWILIO_AUTH_TOKEN=TWILIO_TOKEN, LIVEKIT_SIP_URI=LIVEKIT_SIP_URI)
    agent = await create_agent(client, prompt="Victim's prompt")
    template = {"forwarded": "{{forwardedFromNumber}}"}
    await import_number(client, e164=DIALED, agentId=agent["id"], dispatchMetadataTemplate=template)
    await import_number(client, e164="+12015550124", agentId=agent["id"])
    return client


async def _blpops(redis: Any) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_blpop", {}).get("calls", 0))


async def _forwarded_twilio_call(client: Any, sid: str) -> str:
    twiml = await (await post_twilio(client, twilio_form(sid, ForwardedFrom="+16175550177"))).text()
    return twiml.split("X-Router-Call=")[1].split("<")[0]


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("rc_0123456789abcdef", "does not verify"),  # the old, unauthenticated format
        ("rc1.1700000000.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", "does not verify"),
    ],
)
async def test_a_forged_id_is_decided_at_once_on_the_legs_own_facts(
    bridged, twirp, redis, header, why
):
    standin, _ = twirp
    before = await _blpops(redis)
    join = sip_join_event(call_id="SCL_forged", headers={"X-Router-Call": header})
    assert (await post_livekit(bridged, join)).status == 200
    record = await wait_record(redis, "SCL_forged")
    assert record.status == "dispatched"
    assert record.matched_rule == "dialed_number"
    assert any(why in note for note in record.notes)
    assert await _blpops(redis) == before  # never waited on a signal
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert meta["forwarded"] is None  # nothing of any carrier call's facts


async def test_an_id_used_on_another_number_does_not_verify(bridged, twirp, redis):
    corr = await _forwarded_twilio_call(bridged, "CA" + "1" * 32)
    join = sip_join_event(
        call_id="SCL_other", dialed="+12015550124", headers={"X-Router-Call": corr}
    )
    assert (await post_livekit(bridged, join)).status == 200
    record = await wait_record(redis, "SCL_other")
    assert any("does not verify" in note for note in record.notes)
    assert record.forwarded_from_number is None


async def test_an_id_is_single_use_a_second_leg_gets_nothing_of_the_first(bridged, twirp, redis):
    standin, _ = twirp
    sid = "CA" + "2" * 32
    corr = await _forwarded_twilio_call(bridged, sid)
    first = sip_join_event(call_id="SCL_first", room="room-a", headers={"X-Router-Call": corr})
    assert (await post_livekit(bridged, first)).status == 200
    victim = await wait_record(redis, sid, status="dispatched")
    assert victim.sip_call_id == "SCL_first"
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert meta["forwarded"] == "+16175550177"

    second = sip_join_event(call_id="SCL_second", room="room-b", headers={"X-Router-Call": corr})
    assert (await post_livekit(bridged, second)).status == 200
    thief = await wait_record(redis, "SCL_second")
    assert any("already used by another leg" in note for note in thief.notes)
    assert thief.room == "room-b"
    assert thief.forwarded_from_number is None
    stolen = await asyncio.wait_for(standin.dispatches.get(), 10)
    assert stolen.room == "room-b"
    assert json.loads(stolen.metadata)["forwarded"] is None
    after = await wait_record(redis, sid)
    assert after.sip_call_id == "SCL_first"  # the victim's record is untouched
    assert after.room == "room-a"


async def test_an_id_older_than_the_bridge_timeout_is_void(bridged, twirp, redis):
    key = await bridged.app[state.CORRELATION].get()
    assert await redis.get(keys.CORRELATION_KEY) == key  # kept in Redis, shared by processes
    old = correlation.mint(key, DIALED, int(time.time()) - 3600)
    join = sip_join_event(call_id="SCL_old", headers={"X-Router-Call": old})
    assert (await post_livekit(bridged, join)).status == 200
    record = await wait_record(redis, "SCL_old")
    assert any("older than the bridge timeout" in note for note in record.notes)


async def test_forged_ids_do_not_hold_worker_slots(bridged, twirp, redis):
    """Fifty forged joins at once are all decided quickly (each used to wait 8 s)."""
    started = time.monotonic()
    for i in range(50):
        join = sip_join_event(call_id=f"SCL_flood{i}", headers={"X-Router-Call": f"rc_{i}"})
        assert (await post_livekit(bridged, join)).status == 200
    for i in range(50):
        await wait_record(redis, f"SCL_flood{i}")
    assert time.monotonic() - started < 8.0  # one join's old wait, for all fifty
