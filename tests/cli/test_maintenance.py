"""``maintenance``: break-glass, straight to Redis, and it says so."""

from __future__ import annotations

from tests.cli.conftest import cli


async def test_maintenance_is_break_glass_and_says_so(router, valkey_url):
    code, out, err = await cli(
        router, "maintenance", "reindex", REDIS_URL=valkey_url, ROUTER_ADMIN_TOKEN=""
    )
    assert code == 0, err
    assert "break-glass" in err
    assert "rebuilt the registry's indexes" in out
