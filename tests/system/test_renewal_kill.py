"""Monthly charges across real worker processes (#30 part 6): two workers bill in their
background pass, one killed (``kill -9``) at once and the other once it charged, and a third
that starts later passes twice more; the month that came due is charged once."""

from __future__ import annotations

import signal
from typing import Any

from router.store import keys
from tests import routerproc
from tests.conftest import ADMIN, create_agent, json_of, wait_key
from tests.provisioning.conftest import PUBLIC, TWILIO_NUMBER, TWILIO_SID, TWILIO_TOKEN_, Shop
from tests.provisioning.conftest import twilio_api as twilio_api  # the fixture, shared


async def test_two_workers_and_a_kill_charge_the_month_once(
    make_router: Any, twirp: Any, twilio_api: Any, valkey_url: str, redis: Any
) -> None:
    twilio, base = twilio_api
    variables = {
        "ROUTER_PROVISIONING": "1", "ROUTER_MANAGED_PROVIDERS": "twilio",
        "TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN_,
        "TWILIO_API_BASE_URL": base, "ROUTER_PUBLIC_URL": PUBLIC,
    }  # fmt: skip
    shop = Shop(await make_router(worker=False, **variables), None, twilio, twirp[0].sip)
    twilio.inventory.stock(TWILIO_NUMBER, "Newark")
    await shop.verified()
    await shop.credits(1000)
    await shop.search()
    agent = await create_agent(shop.router)
    row = await json_of(await shop.buy(TWILIO_NUMBER, "r-1", agentId=agent["id"]), 201)
    period = await shop.due(row["id"])
    renewal = f"renew:{row['id']}:{period}"

    async def charged() -> bool:
        found = await redis.hget(keys.ledger_keys("default"), renewal)
        return found is not None

    env = {**variables, "ROUTER_RECONCILE_S": "0.2"}
    victim = await routerproc.worker(valkey_url, twirp[1], **env)
    survivor = await routerproc.worker(valkey_url, twirp[1], **env)
    try:
        await victim.stop(signal.SIGKILL)  # at once: whatever it held is cut short
        await wait_key(redis, keys.ledger_keys("default"), charged, limit_s=30)
        await survivor.stop(signal.SIGKILL)  # perhaps in the middle of its pass
        late = await routerproc.worker(valkey_url, twirp[1], **env)
        try:
            await late.until("reconciled", count=2, timeout_s=30)  # two passes after it
        finally:
            await late.stop(signal.SIGKILL)
    finally:
        await survivor.stop(signal.SIGKILL)
        await victim.stop(signal.SIGKILL)
    entries = (await shop.ledger())["entries"]
    renewals = [e for e in entries if e["idempotencyKey"].startswith("renew:")]
    assert [e["idempotencyKey"] for e in renewals] == [renewal]
    assert (await shop.ledger())["balanceCents"] == 1000 - 115 - 115
    moved = await json_of(await shop.router.get(f"/v1/phone-numbers/{row['id']}",
                                                headers=ADMIN), 200)  # fmt: skip
    assert (moved["lastChargedAt"], moved["suspendedAt"]) == (period, None)
