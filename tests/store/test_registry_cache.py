"""The hot path's row cache: concurrent misses share one registry read (real Valkey)."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from router.web import state
from tests.conftest import create_agent, import_number


async def _evalsha_calls(redis: Redis) -> int:
    stats: Any = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_concurrent_misses_share_one_registry_read(make_router: Any, redis: Redis) -> None:
    client = await make_router(worker=False)
    agent = await create_agent(client)
    await import_number(client, e164="+12015550123", agentId=agent["id"])
    await import_number(client, e164="+12015550124", agentId=agent["id"])
    rows = client.app[state.ROWS]
    await rows.lookup(e164="+12015550124")  # the lookup script is loaded on the server now
    await redis.config_resetstat()

    answers = await asyncio.gather(*(rows.lookup(e164="+12015550123") for _ in range(50)))

    assert {(row.e164 if row else None, a.id if a else None) for row, a in answers} == {
        ("+12015550123", agent["id"])
    }
    assert await _evalsha_calls(redis) == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_read(make_router: Any) -> None:
    client = await make_router(worker=False)
    agent = await create_agent(client)
    await import_number(client, e164="+12015550125", agentId=agent["id"])
    rows = client.app[state.ROWS]
    first = asyncio.create_task(rows.lookup(e164="+12015550125"))
    second = asyncio.create_task(rows.lookup(e164="+12015550125"))
    await asyncio.sleep(0)  # both have joined the one read (a yield, not a timed wait)
    first.cancel()
    row, found = await second
    assert row is not None
    assert found is not None
    assert found.id == agent["id"]
