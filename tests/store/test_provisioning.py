"""Provisioning states (``store.provisioning``): each carrier's state kept as a tagged
``CarrierState``, and the states an older router wrote — coded strings in ``carrierPrevious``
— read as what their number's source says they are, then rewritten once. The stored bytes
below are exactly what the router wrote before the change (``Provisioning`` with
``carrierNumberId`` / ``carrierPrevious`` / ``twilioPrevious``)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from router.core.carrier_states import (
    LiveKitNumber,
    Provisioning,
    TelnyxConnection,
    TwilioRouting,
    TwilioTrunk,
    TwilioVoiceUrl,
)
from router.core.models import PhoneNumber
from router.store import keys
from router.store.provisioning import ProvisioningStates
from router.store.registry import Registry

_AT = '"checkedAt":"2026-12-04T21:00:00Z"'
WRITTEN_BEFORE: dict[str, tuple[str, bytes, Any]] = {
    "a Twilio voice URL with its whole routing": (
        "twilio",
        b'{"livekitTrunkId":"ST_a","ok":true,"issue":null,' + _AT.encode() + b',"carrierNumberId"'
        b':"PN1","carrierPrevious":null,"twilioPrevious":{"voiceUrl":"https://old.example/voice"'
        b',"voiceMethod":"GET","voiceApplicationSid":null,"trunkSid":null}}',
        TwilioVoiceUrl(
            number_sid="PN1",
            previous=TwilioRouting(voice_url="https://old.example/voice", voice_method="GET"),
        ),
    ),
    "a Twilio voice URL of an older router, as '<method> <url>'": (
        "twilio",
        b'{"livekitTrunkId":"ST_a","ok":true,"issue":null,' + _AT.encode() + b',"carrierNumberId"'
        b':"PN2","carrierPrevious":"POST https://older.example/v","twilioPrevious":null}',
        TwilioVoiceUrl(
            number_sid="PN2",
            previous=TwilioRouting(voice_url="https://older.example/v", voice_method="POST"),
        ),
    ),
    "a Twilio number on an Elastic SIP Trunk": (
        "twilio",
        b'{"livekitTrunkId":"ST_a","ok":true,"issue":null,' + _AT.encode() + b',"carrierNumberId"'
        b':"PN3","carrierPrevious":"trunk:TK9","twilioPrevious":null}',
        TwilioTrunk(number_sid="PN3", trunk_sid="TK9"),
    ),
    "a Telnyx number and the connection it had": (
        "telnyx",
        b'{"livekitTrunkId":"ST_a","ok":true,"issue":null,' + _AT.encode() + b',"carrierNumberId"'
        b':"tx-1","carrierPrevious":"conn-old","twilioPrevious":null}',
        TelnyxConnection(number_id="tx-1", previous="conn-old"),
    ),
    "a Telnyx number that had no connection": (
        "telnyx",
        b'{"livekitTrunkId":"ST_a","ok":true,"issue":null,' + _AT.encode() + b',"carrierNumberId"'
        b':"tx-2","carrierPrevious":null,"twilioPrevious":null}',
        TelnyxConnection(number_id="tx-2", previous=None),
    ),
    "a number bought from LiveKit": (
        "livekit",
        b'{"livekitTrunkId":"ST_a","ok":true,"issue":null,' + _AT.encode() + b',"carrierNumberId"'
        b':"PN_lk","carrierPrevious":null,"twilioPrevious":null}',
        LiveKitNumber(phone_number_id="PN_lk"),
    ),
    "a number no carrier touched, with its issue": (
        "byoc",
        b'{"livekitTrunkId":null,"ok":false,"issue":"LiveKit refused",' + _AT.encode() + b","
        b'"carrierNumberId":null,"carrierPrevious":null,"twilioPrevious":null}',
        None,
    ),
}


def _row(number_id: str, source: str) -> PhoneNumber:
    return msgspec.convert(
        {
            "id": number_id,
            "e164": "+12015550123",
            "source": source,
            "direction": "inbound",
            "createdAt": "2026-12-04T21:00:00Z",
            "updatedAt": "2026-12-04T21:00:00Z",
        },
        PhoneNumber,
    )


@pytest.mark.parametrize("case", sorted(WRITTEN_BEFORE))
async def test_a_state_written_before_is_read_as_its_carriers_state(redis: Redis, case: str):
    source, stored, expected = WRITTEN_BEFORE[case]
    await redis.hset(keys.PROVISIONING, "pn_1", stored)
    state = (await ProvisioningStates(redis).of([_row("pn_1", source)]))["pn_1"]
    assert state.carrier == expected
    assert (state.livekit_trunk_id, state.checked_at) == (
        msgspec.json.decode(stored)["livekitTrunkId"],
        "2026-12-04T21:00:00Z",
    )


async def test_upgrading_rewrites_every_older_state_once_and_leaves_new_ones(redis: Redis):
    registry, states = Registry(redis), ProvisioningStates(redis)
    expected = {}
    for i, case in enumerate(sorted(WRITTEN_BEFORE)):
        source, stored, carrier = WRITTEN_BEFORE[case]
        row = _row(f"pn_{i}", source)
        await redis.hset(keys.NUMBERS, row.id, msgspec.json.encode(row))
        await redis.hset(keys.PROVISIONING, row.id, stored)
        expected[row.id] = carrier
    fresh = Provisioning(
        ok=True, checked_at="now", carrier=TwilioTrunk(number_sid="PN", trunk_sid="TK")
    )
    await states.save("pn_new", fresh)
    await redis.hset(keys.PROVISIONING, "pn_gone", WRITTEN_BEFORE[sorted(WRITTEN_BEFORE)[0]][1])

    assert await states.upgrade_all(registry) == len(WRITTEN_BEFORE) + 1
    assert await states.upgrade_all(registry) == 0  # once
    raw = await redis.hgetall(keys.PROVISIONING)
    assert not any(b"carrierNumberId" in value for value in raw.values())
    decoded = {k.decode(): msgspec.json.decode(v, type=Provisioning) for k, v in raw.items()}
    assert {k: decoded[k].carrier for k in expected} == expected
    assert decoded["pn_new"] == fresh
    assert decoded["pn_gone"].carrier is None  # its number is gone: nothing to put back
