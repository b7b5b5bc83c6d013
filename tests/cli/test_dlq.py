"""``dead-letters list`` and ``dlq replay`` (its short name) over the admin API."""

from __future__ import annotations

import json

from router.store import keys
from tests.cli.conftest import cli
from tests.conftest import (
    ADMIN,
    wait_key,
)


async def test_dead_letters_list_and_replay_over_http(router, redis):
    await redis.xadd(keys.stream(0), {"e": b"not an event"})  # a poison entry: dead-lettered

    async def dead() -> bool:
        return await redis.xlen(keys.dead_letters(0)) == 1

    await wait_key(redis, keys.dead_letters(0), dead)
    code, out, _ = await cli(router, "dead-letters", "list", "--json")
    assert code == 0
    entry = json.loads(out)
    assert "undecodable" in entry["error"]
    code, out, err = await cli(router, "dlq", "replay", entry["id"], "1-1")
    assert code == 1  # one of the two was not there
    assert f"replayed 1: {entry['id']}" in out
    assert "not in the dead-letter stream: 1-1" in err
    code, out, _ = await cli(router, "dead-letters", "replay", "1-2", "--json")
    assert (code, json.loads(out)) == (1, {"replayed": [], "missing": ["1-2"]})
    resp = await router.post("/v1/dead-letters/replay", json={}, headers=ADMIN)
    assert resp.status == 400
    resp = await router.post("/v1/dead-letters/replay", json={"ids": ["$"]}, headers=ADMIN)
    assert resp.status == 400
