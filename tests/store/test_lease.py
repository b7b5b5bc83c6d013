"""The per-call lease: held as long as its holder works, and only by its holder."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from router.core.records import CallRecord
from router.store import keys
from router.store.lease import LeaseBusy
from tests.conftest import services_of


async def test_a_call_that_outlasts_the_lease_keeps_it_until_done(
    make_router: Any, redis: Redis
) -> None:
    # A 300 ms lease renewed every 100 ms; the holder works for 1 s (over three lifetimes).
    router = await make_router(worker=False, ROUTER_LEASE_S=0.3, ROUTER_LEASE_RENEW_S=0.1)
    svc = services_of(router)
    lease = keys.dispatch_lease("SCL_long")
    seen: list[bool] = []

    async def act(_: CallRecord | None) -> CallRecord | None:
        for _ in range(10):
            await asyncio.sleep(0.1)  # the call's own work, longer than one lease lifetime
            seen.append(bool(await redis.exists(lease)))
        with pytest.raises(LeaseBusy):  # a second worker is kept out all along
            await svc.leases.exclusive("SCL_long", lambda r: False, lambda r: asyncio.sleep(0))
        return None

    await svc.leases.exclusive("SCL_long", lambda r: False, act)
    assert seen == [True] * 10
    assert not await redis.exists(lease)  # released when done


async def test_a_lease_no_longer_held_is_not_renewed(make_router: Any, redis: Redis) -> None:
    svc = services_of(await make_router(worker=False, ROUTER_LEASE_RENEW_S=0.05))
    lease = keys.dispatch_lease("SCL_taken")

    async def act(_: CallRecord | None) -> CallRecord | None:
        # Our lease lapsed and another worker took the call: its token must stay untouched.
        await redis.set(lease, "other-worker", px=60_000)
        await asyncio.sleep(0.2)  # several renewal rounds
        return None

    await svc.leases.exclusive("SCL_taken", lambda r: False, act)
    assert await redis.get(lease) == b"other-worker"
    assert 50_000 < await redis.pttl(lease) <= 60_000  # not re-expired by our keeper
