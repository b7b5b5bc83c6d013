"""A bought number's months (#30 part 6): charged once per period whichever process charges it
and however often a pass is cut short; suspended without credits (its calls refused politely,
reason ``suspended``) and back when credits come; released after the grace period; released at
the provider on DELETE, a refusal keeping the row ``releasing`` until a reconcile succeeds."""

from __future__ import annotations

import asyncio
from typing import Any

from router.core.credits import LedgerEntry
from router.core.managed import month_after
from router.provisioning.billing import Biller
from router.store.ledger import Ledger
from router.web import state
from tests.conftest import ADMIN, create_agent, json_of, post_livekit, refused, wait_record
from tests.livekit_helpers import sip_join_event
from tests.provisioning.conftest import LIVEKIT_NUMBER, TWILIO_NUMBER, Shop

LATER = "2099-01-01T00:00:00.000Z"  # a "now" after the first month ran out


async def _bought(shop: Shop, credits: int, e164: str = LIVEKIT_NUMBER) -> dict[str, Any]:
    await shop.verified()
    if credits:
        await shop.credits(credits)
    await shop.search()
    agent = await create_agent(shop.router)
    row: dict[str, Any] = await json_of(await shop.buy(e164, f"b-{e164}", agentId=agent["id"]), 201)
    return row


async def _row(shop: Shop, row_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await json_of(
        await shop.router.get(f"/v1/phone-numbers/{row_id}", headers=ADMIN), 200
    )
    return found


async def test_each_month_is_charged_once_whoever_charges_it(shop):
    row = await _bought(shop, 1000)
    app = shop.router.app
    now = month_after(row["nextChargeAt"])[:10] + "T00:00:00.000Z"  # one month due, not two
    # Two processes' passes at once: the month is charged once.
    one, two = Biller(app[state.PURCHASER], 14), Biller(app[state.PURCHASER], 14)
    reports = await asyncio.gather(one.bill(now=now), two.bill(now=now))
    assert sum(len(r.charged) for r in reports) >= 1
    charges = [e for e in (await shop.ledger())["entries"] if e["kind"] == "charge"]
    assert [e["amountCents"] for e in charges] == [-100, -100]  # the purchase, one month
    after = await _row(shop, row["id"])
    assert after["lastChargedAt"] == row["nextChargeAt"]
    assert after["nextChargeAt"] == month_after(row["nextChargeAt"])
    # A pass that died after charging the next month and before moving the dates: the next
    # pass finds the charge made and only moves the dates on.
    period = after["nextChargeAt"]
    dying = LedgerEntry(
        organization_id="default", amount_cents=-100, kind="charge", reason="x", who="router",
        at=period, idempotency_key=f"renew:{row['id']}:{period}", reference=row["id"],
    )  # fmt: skip
    await Ledger(app[state.REDIS]).write(dying)
    await one.bill(now=month_after(period)[:10] + "T00:00:00.000Z")
    ledger = await shop.ledger()
    assert ledger["balanceCents"] == 1000 - 300  # purchase + two months, nothing twice
    assert (await _row(shop, row["id"]))["nextChargeAt"] == month_after(period)


async def test_without_credits_a_number_is_suspended_and_credits_bring_it_back(shop, redis):
    row = await _bought(shop, 100)  # exactly the purchase: nothing left for the next month
    due = await shop.due(row["id"])
    report = await shop.router.app[state.BILLER].bill()
    assert report.suspended == [row["id"]]
    suspended = await _row(shop, row["id"])
    assert suspended["suspendedAt"] > due
    assert suspended["setupStatus"]["inboundReady"] is False
    assert any("suspended since" in i for i in suspended["setupStatus"]["issues"])
    # Its calls are refused politely, and say why.
    event = sip_join_event(call_id="SCL_susp", room="room-susp", dialed=LIVEKIT_NUMBER)
    assert (await post_livekit(shop.router, event)).status == 200
    record = await wait_record(redis, "SCL_susp", status="rejected")
    assert (record.reject_reason or "").startswith("suspended: +14155550101 is suspended since")
    # Credits come: what is owed is charged and the number is back.
    await shop.credits(500)
    back = await _row(shop, row["id"])
    assert back["suspendedAt"] is None
    assert (back["lastChargedAt"], back["nextChargeAt"]) == (due, month_after(due))
    assert (await shop.ledger())["balanceCents"] == 400


async def test_a_number_suspended_past_the_grace_period_is_released(shop):
    row = await _bought(shop, 100)
    biller = shop.router.app[state.BILLER]
    await biller.bill(now=month_after(row["nextChargeAt"])[:10] + "T00:00:00.000Z")
    report = await biller.bill(now=LATER)  # far past 14 days
    assert report.released == [row["id"]]
    assert shop.livekit.released == [LIVEKIT_NUMBER]
    gone = await shop.router.get(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)
    await refused(gone, 404, "NOT_FOUND")


async def test_delete_releases_at_the_provider_and_a_refusal_keeps_the_row(shop):
    row = await _bought(shop, 1000)
    shop.livekit.fail_next = [503]
    resp = await shop.router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)
    await refused(resp, 502, "UPSTREAM_ERROR", says="the next reconcile tries again")
    kept = await _row(shop, row["id"])
    assert any("releasing at livekit" in i for i in kept["setupStatus"]["issues"])
    assert LIVEKIT_NUMBER in shop.livekit.numbers
    report = await json_of(
        await shop.router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN), 200
    )
    assert report["billing"]["released"] == [row["id"]]
    assert shop.livekit.released == [LIVEKIT_NUMBER]
    await refused(
        await shop.router.get(f"/v1/phone-numbers/{row['id']}", headers=ADMIN), 404, "NOT_FOUND"
    )
    # A Twilio number: given back at once.
    twilio_row = await _bought(shop, 0, TWILIO_NUMBER)
    resp = await shop.router.delete(f"/v1/phone-numbers/{twilio_row['id']}", headers=ADMIN)
    assert (await json_of(resp, 200))["released"] is True
    assert shop.twilio.inventory.released == [TWILIO_NUMBER]
