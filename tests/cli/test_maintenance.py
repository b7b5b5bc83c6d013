"""``maintenance``: break-glass, straight to Redis, and it says so."""

from __future__ import annotations

from tests.cli.conftest import cli


async def test_maintenance_is_break_glass_and_says_so(router, valkey_url):
    code, out, err = await cli(
        router, "maintenance", "reindex", REDIS_URL=valkey_url, ROUTER_ADMIN_TOKEN=""
    )
    assert code == 0, err
    assert err.splitlines()[:2] == [
        f"the store at REDIS_URL: {valkey_url}",
        "break-glass: talking to that store directly, bypassing the admin API and its "
        "authorization",
    ]
    assert "rebuilt the registry's indexes" in out


async def test_a_store_that_does_not_answer_is_one_line(router, unused_tcp_port):
    code, _, err = await cli(
        router, "maintenance", "reindex",
        REDIS_URL=f"redis://:hunter2@127.0.0.1:{unused_tcp_port}", ROUTER_ADMIN_TOKEN="",
    )  # fmt: skip
    assert code == 2
    assert f"the store at REDIS_URL: redis://:***@127.0.0.1:{unused_tcp_port}" in err
    assert "hunter2" not in err
    assert err.splitlines()[-1].startswith("error: the store does not answer: ")
    assert "Traceback" not in err
