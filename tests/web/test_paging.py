"""Lists that scale: cursor pages with ``Link: rel="next"`` on numbers, agents and calls, and
the calls filters — over real HTTP on a real Valkey, calls made by real signed webhooks."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from yarl import URL

from router.core.models import new_id
from router.store import keys
from router.store.calls import CallStore
from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_key,
    wait_record,
)

_NEXT = re.compile(r'<([^>]+)>; rel="next"')


async def _all_pages(client: Any, path: str) -> tuple[list[dict[str, Any]], int]:
    """Every row, following Link rel="next" as a client would (absolute URLs)."""
    rows: list[dict[str, Any]] = []
    pages = 0
    url: str | None = path
    while url is not None:
        resp = await client.get(URL(url).path_qs if url.startswith("http") else url, headers=ADMIN)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        assert isinstance(page, list)  # the documented body: a JSON array
        rows += page
        pages += 1
        link = _NEXT.search(resp.headers.get("Link", ""))
        url = link.group(1) if link else None
        if url is not None:
            assert url.startswith(str(client.make_url("")))  # absolute, as GitHub gives
    return rows, pages


async def test_numbers_page_in_import_order_and_every_row_once(router):
    agent = await create_agent(router)
    made = [
        (await import_number(router, e164=f"+1201555{i:04d}", agentId=agent["id"]))["id"]
        for i in range(23)
    ]
    rows, pages = await _all_pages(router, "/v1/phone-numbers?limit=5")
    assert [r["id"] for r in rows] == made
    assert pages == 5
    assert all("setupStatus" in r for r in rows)  # the documented row, whole
    # Without a limit one page holds up to 100 and says nothing more follows.
    resp = await router.get("/v1/phone-numbers", headers=ADMIN)
    assert len(await resp.json()) == 23
    assert "Link" not in resp.headers


async def test_a_row_deleted_between_pages_moves_nothing_else(router):
    agent = await create_agent(router)
    made = [
        (await import_number(router, e164=f"+1201555{i:04d}", agentId=agent["id"]))["id"]
        for i in range(6)
    ]
    first = await router.get("/v1/phone-numbers?limit=3", headers=ADMIN)
    assert [r["id"] for r in await first.json()] == made[:3]
    next_url = URL(_NEXT.search(first.headers["Link"]).group(1))
    # A row already shown and a row not yet shown go away; one is added.
    for gone in (made[1], made[4]):
        assert (await router.delete(f"/v1/phone-numbers/{gone}", headers=ADMIN)).status == 200
    added = (await import_number(router, e164="+12015559999", agentId=agent["id"]))["id"]
    rest = await (await router.get(next_url.path_qs, headers=ADMIN)).json()
    assert [r["id"] for r in rest] == [made[3], made[5], added]


async def test_agents_page_too(router):
    made = [(await create_agent(router, name=f"Agent {i}"))["id"] for i in range(7)]
    rows, pages = await _all_pages(router, "/v1/agents?limit=3")
    assert [r["id"] for r in rows] == made
    assert pages == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%25%25%25", "cursor"),
        ("cursor=" + "A" * 300, "cursor"),
    ],
)
async def test_bad_paging_parameters_are_400_naming_them(router, query, field):
    resp = await router.get(f"/v1/phone-numbers?{query}", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 400
    assert body["code"] == "VALIDATION_ERROR"
    assert body["field"] == field


@pytest.fixture
async def routed_calls(router, redis):
    """Twelve real calls: five to the front desk (agent Desk), four to sales (agent Sales),
    three to a number nobody imported (rejected)."""
    desk = await create_agent(router, name="Desk", livekitAgentName="desk-agent")
    sales = await create_agent(router, name="Sales", livekitAgentName="sales-agent")
    await import_number(router, e164="+12015550123", agentId=desk["id"])
    await import_number(router, e164="+12015550124", agentId=sales["id"])
    plan = ["+12015550123"] * 5 + ["+12015550124"] * 4 + ["+12015550199"] * 3
    ids = []
    for i, dialed in enumerate(plan):
        call_id = f"SCL_{new_id('p')}"
        event = sip_join_event(call_id=call_id, room=f"room-{i}", dialed=dialed)
        assert (await post_livekit(router, event)).status == 200
        await wait_record(redis, call_id)
        ids.append(call_id)
    store = CallStore(redis)

    async def all_noted() -> bool:  # noted in the calls list just after the record is written
        return len((await store.page(None, 100))[0]) == len(ids)

    await wait_key(redis, keys.RECENT_CALLS, all_noted)
    return ids, desk, sales


async def test_calls_page_newest_first_every_call_once(router, routed_calls):
    ids, _, _ = routed_calls
    rows, pages = await _all_pages(router, "/v1/calls?limit=5")
    assert [r["callId"] for r in rows] == ids[::-1]
    assert pages == 3


@pytest.mark.parametrize(
    ("query", "expect"),
    [
        ("status=rejected", lambda ids: ids[9:]),
        ("status=dispatched,rejected", lambda ids: ids),
        ("number=(201) 555-0124", lambda ids: ids[5:9]),  # national format, read as E.164
        ("number=%2B12015550123&limit=2", lambda ids: ids[:5]),
        ("agent=sales-agent", lambda ids: ids[5:9]),
        ("since=1d", lambda ids: ids),
    ],
)
async def test_calls_filters(router, routed_calls, query, expect):
    ids, _, _ = routed_calls
    rows, _ = await _all_pages(router, f"/v1/calls?{query}")
    assert [r["callId"] for r in rows] == expect(ids)[::-1]


async def test_calls_filter_by_agent_id_and_since_a_time(router, routed_calls):
    ids, desk, _ = routed_calls
    rows, _ = await _all_pages(router, f"/v1/calls?agent={desk['id']}")
    assert [r["callId"] for r in rows] == ids[:5][::-1]
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    resp = await router.get("/v1/calls", params={"since": later}, headers=ADMIN)
    assert resp.status == 200
    assert await resp.json() == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("number=hello", "number"),
        ("since=yesterday", "since"),
        ("cursor=bm90LWEtcG9zaXRpb24", "cursor"),  # base64 of "not-a-position"
    ],
)
async def test_bad_calls_filters_are_400_naming_them(router, query, field):
    resp = await router.get(f"/v1/calls?{query}", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 400, body
    assert body["field"] == field


async def test_a_rare_filter_answers_a_short_page_and_a_way_on(router, redis):
    """A page examines a bounded number of calls: a filter that matches little answers what
    it found and a next link, rather than walking the whole history in one request."""
    store = CallStore(redis)
    ids = [f"SCL_{i}" for i in range(30)]
    await asyncio.gather(*(store.remember(i) for i in ids))
    page, position = await store.page(None, 10, lambda r: True, scan_max=7)
    assert page == []
    assert position is not None
    page, position = await store.page(position, 10, lambda r: True, scan_max=100)
    assert page == []
    assert position is None
