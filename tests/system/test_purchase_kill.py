"""A purchase whose process is killed (``kill -9``) after the provider carried it out and
before the router wrote anything down: the order is finished exactly once — by the customer's
retry with the same Idempotency-Key, or by a reconcile pass — one number bought, one charge,
one row (#30 part 5)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest

from router.store import keys
from router.store.purchases import order_key
from tests import routerproc
from tests.conftest import ADMIN, ADMIN_TOKEN, API_KEY, API_SECRET, json_of, wait_key
from tests.provisioning.conftest import PUBLIC, SECRETS_KEY, TWILIO_SID, TWILIO_TOKEN_, Shop
from tests.provisioning.conftest import twilio_api as twilio_api  # the fixture, shared

NUMBER = "+12015550111"


@pytest.mark.parametrize("finisher", ["retry", "reconcile"])
async def test_a_purchase_killed_after_the_provider_answered_is_finished_once(
    make_router: Any, twirp: Any, twilio_api: Any, valkey_url: str, redis: Any, finisher: str
) -> None:
    twilio, base = twilio_api
    variables = {
        "ROUTER_PROVISIONING": "1", "ROUTER_SECRETS_KEY": SECRETS_KEY,
        "ROUTER_MANAGED_PROVIDERS": "twilio", "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN_, "TWILIO_API_BASE_URL": base,
        "ROUTER_PUBLIC_URL": PUBLIC,
    }  # fmt: skip
    shop = Shop(await make_router(worker=False, **variables), None, twilio, twirp[0].sip)
    twilio.inventory.stock(NUMBER, "Newark")
    await shop.verified()
    await shop.credits(500)
    await shop.search()
    twilio.inventory.hold = asyncio.Event()  # bought, then the answer waits
    web = await routerproc.start(
        "web",
        env={
            **variables, "REDIS_URL": valkey_url, "LIVEKIT_URL": twirp[1],
            "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET,
            "ROUTER_HOST": "127.0.0.1", "PORT": "0", "ROUTER_ADMIN_TOKEN": ADMIN_TOKEN,
        },
    )  # fmt: skip
    body = {"e164": NUMBER, "dispatchMetadataTemplate": {}}
    headers = {**ADMIN, "Idempotency-Key": "kill-me"}
    try:
        async with aiohttp.ClientSession() as http:
            request = asyncio.create_task(
                http.post(f"{await web.url()}/v1/phone-numbers", json=body, headers=headers)
            )
            async with asyncio.timeout(30):
                await twilio.inventory.held.wait()  # Twilio sold it; the answer is unread
            assert await web.stop(signal.SIGKILL) == -signal.SIGKILL
            with pytest.raises(aiohttp.ClientError):
                await request
    finally:
        twilio.inventory.hold.set()
        await web.stop(signal.SIGKILL)
    # Charged, bought, and nothing written down yet: the order is open.
    assert twilio.inventory.bought == [NUMBER]
    assert (await shop.ledger())["balanceCents"] == 500 - 115
    key = order_key("default", "kill-me")
    assert await redis.sismember(keys.PURCHASE_OPEN, key)

    async def let_go() -> bool:  # the killed process's hold on the order runs out
        return not await redis.exists(keys.purchase_mutex(key))

    await wait_key(redis, keys.purchase_mutex(key), let_go)
    if finisher == "retry":
        row = await json_of(await shop.router.post("/v1/phone-numbers", json=body,
                                                   headers=headers), 200)  # fmt: skip
        assert row["e164"] == NUMBER
    else:
        resp = await shop.router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)
        assert (await json_of(resp, 200))["purchasesFinished"] == [key]
    # One number bought (the lost answer found on the account, not bought again), one
    # charge, one row.
    assert twilio.inventory.bought == [NUMBER]
    ledger = await shop.ledger()
    assert ledger["balanceCents"] == 500 - 115
    assert [e["kind"] for e in ledger["entries"]] == ["charge", "credit"]
    rows = await json_of(await shop.router.get("/v1/phone-numbers", headers=ADMIN), 200)
    assert [r["e164"] for r in rows] == [NUMBER]
    assert rows[0]["providerResourceId"] == next(
        sid for sid, n in twilio.numbers.items() if n["phone_number"] == NUMBER
    )
