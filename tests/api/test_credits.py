"""Prepaid credits (#30 part 4): an append-only ledger in integer cents; the operator adds with
an Idempotency-Key (a retry adds once, a reused key for another amount is refused), the
organization reads its balance and entries; the balance never goes below zero."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import ADMIN, bearer, json_of, make_key, make_org, refused


def _add(router: Any, org: str, amount: int, key: str, reason: str = "prepaid") -> Any:
    return router.post(
        f"/v1/organizations/{org}/credits",
        json={"amountCents": amount, "reason": reason},
        headers={**ADMIN, "Idempotency-Key": key},
    )


async def test_credits_are_added_once_per_key_and_read_by_the_organization(admin):
    org = await make_org(admin, "Acme")
    key = bearer((await make_key(admin, org["id"], "viewer"))["key"])
    entry = await json_of(await _add(admin, org["id"], 2550, "topup-1"), 201)
    assert (entry["amountCents"], entry["balanceAfterCents"], entry["kind"]) == (
        2550,
        2550,
        "credit",
    )
    assert (entry["who"], entry["idempotencyKey"]) == ("operator", "topup-1")
    again = await _add(admin, org["id"], 2550, "topup-1")  # a retry: the same entry, no second
    assert (await json_of(again, 200))["id"] == entry["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = await _add(admin, org["id"], 9900, "topup-1")
    await refused(reused, 409, "CONFLICT", field="Idempotency-Key", says="$25.50")
    back = await json_of(await _add(admin, org["id"], -550, "fix-1", "duplicate top-up"), 201)
    assert (back["kind"], back["balanceAfterCents"]) == ("adjustment", 2000)
    short = await _add(admin, org["id"], -2001, "fix-2", "too much")
    await refused(short, 402, "INSUFFICIENT_CREDITS", field="amountCents", says="$20.00")
    seen = await json_of(await admin.get("/v1/credits", headers=key), 200)
    assert (seen["organizationId"], seen["currency"], seen["balanceCents"]) == (
        org["id"], "USD", 2000,
    )  # fmt: skip
    assert [e["amountCents"] for e in seen["entries"]] == [-550, 2550]  # newest first
    # Another organization's balance is its own.
    other = await json_of(await admin.get("/v1/credits", headers=ADMIN), 200)
    assert (other["organizationId"], other["balanceCents"]) == ("default", 0)
    asked = await admin.get("/v1/credits?organizationId=default", headers=key)
    await refused(asked, 400, "VALIDATION_ERROR", field="organizationId")


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"amountCents": 100, "reason": "x"}, {}, "Idempotency-Key"),
        ({"amountCents": 100, "reason": "x"}, {"Idempotency-Key": "has space"}, "Idempotency-Key"),
        ({"amountCents": 0, "reason": "x"}, {"Idempotency-Key": "k"}, "amountCents"),
        ({"amountCents": 10**9, "reason": "x"}, {"Idempotency-Key": "k"}, "amountCents"),
        ({"amountCents": 1.5, "reason": "x"}, {"Idempotency-Key": "k"}, "amountCents"),
        ({"amountCents": 100, "reason": " "}, {"Idempotency-Key": "k"}, "reason"),
    ],
)
async def test_refusals_name_the_field(admin, body, headers, field):
    resp = await admin.post("/v1/organizations/default/credits", json=body,
                            headers={**ADMIN, **headers})  # fmt: skip
    await refused(resp, 400, "VALIDATION_ERROR", field=field)


async def test_an_unknown_organization_is_404(admin):
    await refused(await _add(admin, "org_nope", 100, "k"), 404, "NOT_FOUND")


async def test_concurrent_adds_and_retries_keep_the_balance_exact(admin):
    """Fifty different top-ups of 1 cent to 50 cents, each sent three times at once: each
    counted once, the balance their exact sum."""
    sends = [_add(admin, "default", n, f"k-{n}") for n in range(1, 51) for _ in range(3)]
    statuses = sorted(r.status for r in await asyncio.gather(*sends))
    assert statuses.count(201) == 50
    assert statuses.count(200) == 100
    seen = await json_of(await admin.get("/v1/credits?limit=1000", headers=ADMIN), 200)
    assert seen["balanceCents"] == sum(range(1, 51))
    assert len(seen["entries"]) == 50
    # Each entry's balance after it is the running sum, in ledger order.
    running = 0
    for entry in reversed(seen["entries"]):
        running += entry["amountCents"]
        assert entry["balanceAfterCents"] == running


async def test_the_ledger_pages_with_a_link(admin):
    for n in range(5):
        await json_of(await _add(admin, "default", 100, f"p-{n}"), 201)
    first = await admin.get("/v1/credits?limit=2", headers=ADMIN)
    page = await json_of(first, 200)
    assert len(page["entries"]) == 2
    seen = [e["id"] for e in page["entries"]]
    link = first.headers["Link"]
    while link:
        url = link[link.index("<") + 1 : link.index(">")]
        resp = await admin.get(url[url.index("/v1/") :], headers=ADMIN)
        seen += [e["id"] for e in (await json_of(resp, 200))["entries"]]
        link = resp.headers.get("Link", "")
    assert len(seen) == len(set(seen)) == 5
    bad = await admin.get("/v1/credits?cursor=bm90LWFuLWlk", headers=ADMIN)  # "not-an-id"
    await refused(bad, 400, "VALIDATION_ERROR", field="cursor")
