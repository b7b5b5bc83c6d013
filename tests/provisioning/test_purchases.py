"""Buying managed numbers (#30 parts 1, 2, 5): search LiveKit Phone Numbers and the platform's
Twilio account (stand-ins: tests/phone_number_standin.py, tests/twilio_inventory_standin.py)
with the operator's prices; buy exactly once with an Idempotency-Key, charged from credits;
each refusal names what is missing; the bought number routes calls."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from router.store import keys
from router.store.purchases import Purchases
from tests.carrier_helpers import TELNYX_API_KEY, TELNYX_PUBLIC, post_telnyx_json
from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
    json_of,
    post_livekit,
    refused,
    sip_join_event,
    wait_key,
    wait_record,
)
from tests.provisioning.conftest import (
    LIVEKIT_NUMBER,
    PUBLIC,
    ROUTERS_APP,
    TWILIO_NUMBER,
    TWILIO_SID,
    TWILIO_TOKEN_,
    Shop,
)


async def test_search_answers_the_reference_s_shape_with_the_operator_s_prices(shop):
    found = await shop.search()
    assert {n["e164"] for n in found} == {
        LIVEKIT_NUMBER, "+14155550102", TWILIO_NUMBER, "+12015550112",
    }  # fmt: skip
    first = next(n for n in found if n["e164"] == TWILIO_NUMBER)
    assert first == {
        "e164": TWILIO_NUMBER, "friendlyName": "(201) 555-0111",
        "monthlyCostUsd": 1.15, "upfrontCostUsd": 0.0, "features": ["voice", "sms"],
        "region": {"locality": "Newark", "region": "NJ", "country": "US", "areaCode": "201"},
        "provider": "twilio", "numberType": "local",
    }  # fmt: skip
    assert [n["e164"] for n in await shop.search("?areaCode=415&locality=oakland")] == [
        "+14155550102"
    ]
    assert len(await shop.search("?limit=1")) == 1
    long = "x" * 101
    for query, field in (("?areaCode=41", "areaCode"), ("?limit=51", "limit"),
                         ("?limit=0", "limit"), (f"?locality={long}", "locality")):  # fmt: skip
        resp = await shop.router.get(f"/v1/phone-numbers/available{query}", headers=ADMIN)
        await refused(resp, 400, "VALIDATION_ERROR", field=field)


async def test_a_number_is_bought_once_charged_once_and_routes_calls(shop, redis):
    await shop.verified()
    await shop.credits(500)
    await shop.search()
    agent = await create_agent(shop.router)
    resp = await shop.buy(LIVEKIT_NUMBER, "buy-1", label="Support", agentId=agent["id"])
    row = await json_of(resp, 201)
    assert (row["source"], row["sipProviderName"], row["label"]) == (
        "managed",
        "livekit",
        "Support",
    )
    assert row["providerResourceId"] == shop.livekit.numbers[LIVEKIT_NUMBER]["id"]
    assert row["lastChargedAt"] is not None
    assert row["nextChargeAt"] > row["lastChargedAt"]
    assert row["sms10dlcProfileId"] is None
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    # Bound to the organization's dispatch rule on LiveKit: ACTIVE.
    bought = shop.livekit.numbers[LIVEKIT_NUMBER]
    assert bought["status"] == "PHONE_NUMBER_STATUS_ACTIVE"
    assert bought["sipDispatchRuleIds"][0] in shop.sip.rules
    # The same request again (a lost answer): the same row, nothing bought or charged twice.
    again = await shop.buy(LIVEKIT_NUMBER, "buy-1", label="Support", agentId=agent["id"])
    assert (await json_of(again, 200))["id"] == row["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert shop.livekit.bought == [LIVEKIT_NUMBER]
    ledger = await shop.ledger()
    assert ledger["balanceCents"] == 400
    assert [(e["kind"], e["amountCents"]) for e in ledger["entries"]] == [
        ("charge", -100), ("credit", 500),
    ]  # fmt: skip
    # A call to it is routed.
    event = sip_join_event(call_id="SCL_bought", room="room-bought", dialed=LIVEKIT_NUMBER)
    assert (await post_livekit(shop.router, event)).status == 200
    record = await wait_record(redis, "SCL_bought", status="dispatched")
    assert (record.phone_number_id, record.agent_id) == (row["id"], agent["id"])


async def test_a_twilio_number_is_bought_pointed_at_the_router(shop):
    await shop.verified()
    await shop.credits(500)
    await shop.search("?areaCode=201")
    row = await json_of(await shop.buy(TWILIO_NUMBER, "buy-t"), 201)
    assert (row["sipProviderName"], row["providerResourceId"][:2]) == ("twilio", "PN")
    number = shop.twilio.numbers[row["providerResourceId"]]
    assert (number["voice_url"], number["voice_method"]) == (
        f"{PUBLIC}/webhooks/twilio/voice", "POST",
    )  # fmt: skip
    assert (await shop.ledger())["balanceCents"] == 500 - 115


async def test_each_refusal_names_what_is_missing(shop):
    await shop.search()
    no_key = await shop.router.post(
        "/v1/phone-numbers", json={"e164": LIVEKIT_NUMBER, "dispatchMetadataTemplate": {}},
        headers=ADMIN,
    )  # fmt: skip
    await refused(no_key, 400, "VALIDATION_ERROR", field="Idempotency-Key")
    await refused(await shop.buy(LIVEKIT_NUMBER, "k1"), 402, "KYB_REQUIRED", says="missing")
    await shop.verified()
    await refused(await shop.buy(LIVEKIT_NUMBER, "k2"), 402, "INSUFFICIENT_CREDITS",
                  says="costs $1.00")  # fmt: skip
    await shop.credits(1000)
    await refused(await shop.buy("+14155550199", "k3"), 422, "NOT_OFFERED", field="e164")
    unlinked = await shop.buy(LIVEKIT_NUMBER, "k4", agentId="ag_nope")
    await refused(unlinked, 400, "VALIDATION_ERROR", field="agentId")
    # Sold to someone else since the search: the provider's words; the credits given back.
    del shop.livekit.inventory["+14155550102"]
    taken = await shop.buy("+14155550102", "k5")
    await refused(taken, 409, "NUMBER_UNAVAILABLE", says="phone numbers not available")
    ledger = await shop.ledger()
    assert ledger["balanceCents"] == 1000
    assert [e["kind"] for e in ledger["entries"][:2]] == ["refund", "charge"]
    # The same key again answers the same refusal, and charges nothing more.
    await refused(await shop.buy("+14155550102", "k5"), 409, "NUMBER_UNAVAILABLE")
    assert (await shop.ledger())["balanceCents"] == 1000
    # The purchase cap (2 here): the third is refused.
    await json_of(await shop.buy(LIVEKIT_NUMBER, "k6"), 201)
    await json_of(await shop.buy(TWILIO_NUMBER, "k7"), 201)
    await refused(await shop.buy("+12015550112", "k8"), 422, "PURCHASE_LIMIT", says="limit of 2")
    await refused(await shop.buy(LIVEKIT_NUMBER, "k9"), 409, "CONFLICT", field="e164")


async def test_a_provider_that_does_not_answer_loses_nothing(shop):
    await shop.verified()
    await shop.credits(500)
    await shop.search()
    shop.livekit.fail_next = [503]  # LiveKit unavailable: nothing carried out
    down = await shop.buy(LIVEKIT_NUMBER, "buy-down")
    await refused(down, 502, "UPSTREAM_ERROR", says="retry with the same Idempotency-Key")
    assert (await shop.ledger())["balanceCents"] == 400  # charged once, the order kept
    # The provider is back; the retry carries the same order on: bought, charged once.
    row = await json_of(await shop.buy(LIVEKIT_NUMBER, "buy-down"), 200)
    assert row["e164"] == LIVEKIT_NUMBER
    assert (await shop.ledger())["balanceCents"] == 400
    assert shop.livekit.bought == [LIVEKIT_NUMBER]


async def test_two_orders_for_one_number_buy_it_once(shop):
    await shop.verified()
    await shop.credits(1000)
    await shop.search()
    first, second = await asyncio.gather(
        shop.buy(TWILIO_NUMBER, "race-a"), shop.buy(TWILIO_NUMBER, "race-b")
    )
    assert sorted([first.status, second.status]) == [201, 409]
    assert shop.twilio.inventory.bought == [TWILIO_NUMBER]
    assert (await shop.ledger())["balanceCents"] == 1000 - 115


async def test_an_imported_number_is_not_for_sale_twice(shop):
    await shop.verified()
    await shop.credits(1000)
    await shop.search()
    await import_number(shop.router, e164=TWILIO_NUMBER, dispatchMetadataTemplate={})
    await refused(await shop.buy(TWILIO_NUMBER, "dup"), 409, "CONFLICT", field="e164")
    assert shop.twilio.inventory.bought == []


async def test_a_telnyx_number_is_ordered_shown_pending_and_bought_when_telnyx_says_so(
    make_router, twirp, telnyx_api, redis
):
    """Telnyx carries number orders out later: the row shows the order pending until the
    ``number_order.complete`` webhook (signed as Telnyx signs) or a reconcile finds it done; a
    failed order takes the row away and gives the credits back."""
    telnyx, base = telnyx_api
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_MANAGED_PROVIDERS="telnyx", TELNYX_API_KEY=TELNYX_API_KEY,
        TELNYX_API_BASE_URL=base, TELNYX_CONNECTION_ID=ROUTERS_APP, TELNYX_PUBLIC_KEY=TELNYX_PUBLIC,
    )  # fmt: skip
    shop = Shop(router, None, None, twirp[0].sip)
    telnyx.orders.stock("+12125550131", "New York")
    telnyx.orders.stock("+12125550132", "New York", monthly="2.50")
    await shop.verified()
    await shop.credits(1000)
    found = await shop.search("?locality=New%20York")
    assert [(n["e164"], n["monthlyCostUsd"], n["upfrontCostUsd"]) for n in found] == [
        ("+12125550131", 1.0, 1.0), ("+12125550132", 2.5, 1.0),  # Telnyx's own prices
    ]  # fmt: skip
    row = await json_of(await shop.buy("+12125550131", "tx-1"), 201)
    assert row["setupStatus"]["inboundReady"] is False
    assert any("carrying out the order ord-1" in i for i in row["setupStatus"]["issues"])
    assert (await shop.ledger())["balanceCents"] == 800  # charged at the order
    [order] = telnyx.orders.orders.values()
    assert (order["connection_id"], order["customer_reference"]) == (ROUTERS_APP, "default:tx-1")
    # Telnyx finishes it and says so.
    body = json.dumps(telnyx.orders.complete("ord-1")).encode()
    assert (await post_telnyx_json(router, body)).status == 200

    async def bought() -> bool:  # the order carried to its end (the row provisioned first)
        order = await Purchases(redis).get("default:tx-1")
        return order is not None and order.state == "done"

    await wait_key(redis, keys.PURCHASE_ORDERS, bought)
    done = await json_of(await router.get(f"/v1/phone-numbers/{row['id']}", headers=ADMIN), 200)
    number_id = next(i for i, n in telnyx.numbers.items() if n["phone_number"] == "+12125550131")
    assert (done["providerResourceId"], done["telnyxPhoneNumberId"]) == (number_id, number_id)
    assert not any("carrying out" in i for i in done["setupStatus"]["issues"])
    # A failed order: the row goes, the credits come back (found by a reconcile here).
    second = await json_of(await shop.buy("+12125550132", "tx-2"), 201)
    telnyx.orders.complete("ord-2", ok=False)
    report = await json_of(
        await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN), 200
    )
    assert "default:tx-2" in report["purchasesFinished"]
    await refused(
        await router.get(f"/v1/phone-numbers/{second['id']}", headers=ADMIN), 404, "NOT_FOUND"
    )
    assert (await shop.ledger())["balanceCents"] == 800
    again = await shop.buy("+12125550132", "tx-2")
    await refused(again, 409, "NUMBER_UNAVAILABLE", says="ended failure")


async def test_the_inventory_stand_in_speaks_twilios_format(twilio_api):
    """The official twilio client searches, buys and releases against the stand-in."""
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    standin, base = twilio_api
    standin.inventory.stock(TWILIO_NUMBER, "Newark")
    client = Client(TWILIO_SID, TWILIO_TOKEN_)
    client.api.base_url = base.removesuffix("/2010-04-01")

    def use() -> list[Any]:
        found = client.available_phone_numbers("US").local.list(area_code=201, in_locality="Newark")
        bought = client.incoming_phone_numbers.create(
            phone_number=TWILIO_NUMBER, voice_url=f"{PUBLIC}/webhooks/twilio/voice"
        )
        try:
            client.incoming_phone_numbers.create(phone_number=TWILIO_NUMBER)
            code = None
        except TwilioRestException as exc:
            code = exc.code
        deleted = client.incoming_phone_numbers(bought.sid).delete()
        return [[(n.phone_number, n.locality, n.capabilities["voice"]) for n in found],
                bought.voice_url, code, deleted]  # fmt: skip

    assert await asyncio.to_thread(use) == [
        [(TWILIO_NUMBER, "Newark", True)], f"{PUBLIC}/webhooks/twilio/voice", 21422, True,
    ]  # fmt: skip
    assert standin.inventory.released == [TWILIO_NUMBER]
