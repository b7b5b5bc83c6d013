"""The registry's lookups do not grow with it: shared landing numbers and trunk ids are indexed,
kept right by every write, and built once for a registry written before the indexes."""

from __future__ import annotations

from typing import Any

from router.store import keys
from router.store.registry import Registry
from router.web import state
from tests.conftest import ADMIN, create_agent, import_number

SCANS = ("cmdstat_hvals", "cmdstat_hgetall", "cmdstat_hkeys", "cmdstat_hscan", "cmdstat_scan")


async def _scans(redis: Any) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: stats[name]["calls"] for name in SCANS if name in stats}


async def test_single_number_reads_and_writes_scan_nothing(router, redis):
    agent = await create_agent(router)
    for i in range(20):
        await import_number(router, e164=f"+1201555{i:04d}", agentId=agent["id"])
    await import_number(router, e164="+12015559999", agentId=agent["id"], sharedLanding=True)
    await redis.config_resetstat()
    row = await import_number(router, e164="+12015558888", agentId=agent["id"], sipTrunkId="ST_a")
    url = f"/v1/phone-numbers/{row['id']}"
    got = await (await router.get(url, headers=ADMIN)).json()
    assert got["setupStatus"]["forwardingRequired"] is False
    patched = await router.patch(url, json={"label": "Desk"}, headers=ADMIN)
    assert patched.status == 200
    rows, _ = await router.app[state.REGISTRY].by_trunk("ST_a")
    assert [r.id for r in rows] == [row["id"]]
    assert (await router.delete(url, headers=ADMIN)).status == 200
    assert await _scans(redis) == {}


async def test_every_write_keeps_the_indexes_right(router, redis):
    registry: Registry = router.app[state.REGISTRY]
    agent = await create_agent(router)
    a = await import_number(router, e164="+12015550001", agentId=agent["id"], sipTrunkId="ST_1")
    b = await import_number(router, e164="+12015550002", agentId=agent["id"], sipTrunkId="ST_1")
    assert len((await registry.by_trunk("ST_1"))[0]) == 2  # ambiguous: both
    await router.patch(f"/v1/phone-numbers/{b['id']}", json={"sipTrunkId": "ST_2"}, headers=ADMIN)
    assert [r.id for r in (await registry.by_trunk("ST_1"))[0]] == [a["id"]]
    assert [r.id for r in (await registry.by_trunk("ST_2"))[0]] == [b["id"]]
    assert await registry.landing() is None
    url = f"/v1/phone-numbers/{a['id']}"
    await router.patch(url, json={"sharedLanding": True}, headers=ADMIN)
    landing = await registry.landing()
    assert landing is not None
    assert landing.id == a["id"]
    await router.delete(url, headers=ADMIN)
    assert await registry.landing() is None
    assert (await registry.by_trunk("ST_1"))[0] == []
    assert await redis.scard(keys.LANDING_INDEX) == 0


async def test_a_registry_written_before_the_indexes_is_indexed_once(router, redis):
    registry: Registry = router.app[state.REGISTRY]
    agent = await create_agent(router)
    row = await import_number(router, e164="+12015550001", agentId=agent["id"], sipTrunkId="ST_1")
    second = await import_number(
        router, e164="+12015550002", agentId=agent["id"], sharedLanding=True
    )
    # What an older router left: the rows, none of the indexes (nor the list orders).
    await redis.delete(
        keys.LANDING_INDEX,
        keys.trunk_index("ST_1"),
        keys.INDEX_VERSION,
        keys.NUMBER_ORDER,
        keys.AGENT_ORDER,
    )
    assert await registry.landing() is None
    assert await registry.page_numbers(None, 10) == ([], None)
    assert await registry.ensure_indexes() == 2
    assert await registry.ensure_indexes() == -1  # once
    assert [r.id for r in (await registry.by_trunk("ST_1"))[0]] == [row["id"]]
    numbers, _ = await registry.page_numbers(None, 10)
    assert [n.id for n in numbers] == [row["id"], second["id"]]  # in creation order
    assert [a.id for a in (await registry.page_agents(None, 10))[0]] == [agent["id"]]
    landing = await registry.landing()
    assert landing is not None
    assert landing.e164 == "+12015550002"
