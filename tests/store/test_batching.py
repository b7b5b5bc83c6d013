"""Auto-pipelining on a real Valkey: each caller gets its own reply and only its own error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from router.store.batching import Batcher
from router.store.redis_client import connect
from tests.conftest import valkey


async def test_concurrent_commands_each_get_their_own_reply(redis: Redis) -> None:
    batcher = Batcher(redis)
    replies = await asyncio.gather(
        *(batcher.call(lambda pipe, i=i: pipe.incrby(f"t:batch:{i % 7}", i)) for i in range(200))
    )
    # incrby replies are running totals per key: replay them in submission order.
    totals: dict[int, int] = {}
    expected = []
    for i in range(200):
        totals[i % 7] = totals.get(i % 7, 0) + i
        expected.append(totals[i % 7])
    assert replies == expected


async def test_a_failing_command_fails_only_its_caller(redis: Redis) -> None:
    batcher = Batcher(redis)
    await redis.set("t:batch:string", "x")
    ok, wrong, also_ok = await asyncio.gather(
        batcher.call(lambda pipe: pipe.set("t:batch:a", "1")),
        batcher.call(lambda pipe: pipe.lpush("t:batch:string", "y")),  # WRONGTYPE
        batcher.call(lambda pipe: pipe.get("t:batch:string")),
        return_exceptions=True,
    )
    assert ok is True
    assert isinstance(wrong, ResponseError)
    assert "WRONGTYPE" in str(wrong)
    assert also_ok == b"x"


async def test_scripts_survive_a_flushed_script_cache(redis: Redis) -> None:
    batcher = Batcher(redis)
    script = redis.register_script("return redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])")
    await redis.script_flush()  # as after a restart or failover: the SHA is unknown
    assert await asyncio.gather(
        batcher.script(script, ["t:batch:s"], [10]), batcher.script(script, ["t:batch:s"], [10])
    ) in ([11, 12], [12, 11])
    assert await batcher.script(script, ["t:batch:s"], [0]) == 3


async def test_a_lost_server_fails_every_waiting_caller() -> None:
    with valkey(save="", appendonly="no") as server:
        client = connect(str(server.connection_url))
        batcher = Batcher(client)
        assert await batcher.call(lambda pipe: pipe.ping()) is True
    # The server is gone: each caller hears the connection failure, none hangs.
    results = await asyncio.wait_for(
        asyncio.gather(
            *(batcher.call(lambda pipe: pipe.get("k")) for _ in range(5)), return_exceptions=True
        ),
        10,
    )
    assert all(isinstance(r, ConnectionError) for r in results), results
    await client.aclose()


async def test_a_bad_argument_fails_only_its_caller(redis: Redis) -> None:
    batcher = Batcher(redis)

    def bad(pipe: object) -> object:
        raise TypeError("not a command")

    results = await asyncio.gather(
        batcher.call(bad), batcher.call(lambda pipe: pipe.ping()), return_exceptions=True
    )
    assert isinstance(results[0], TypeError)
    assert results[1] is True
    with pytest.raises(TypeError):
        await batcher.call(bad)


async def test_commands_queued_while_a_pipeline_is_out_go_together_in_the_next(redis: Redis):
    batcher = Batcher(redis, in_flight=1)
    pipes: list[object] = []  # held, so no two pipelines can share an id()
    second_wave: list[asyncio.Task[object]] = []

    def ping(pipe: Any) -> object:
        pipes.append(pipe)
        if not second_wave:  # staged in the first pipeline: issue 50 more while it is out
            second_wave.extend(
                asyncio.create_task(batcher.call(lambda p: ping(p))) for _ in range(50)
            )
        return pipe.ping()

    first = await asyncio.gather(*(batcher.call(ping) for _ in range(10)))
    second = await asyncio.gather(*second_wave)
    assert first == [True] * 10
    assert second == [True] * 50
    assert len({id(p) for p in pipes}) == 2  # one pipeline for the first ten, one for the fifty


async def test_gathered_items_become_one_command(redis: Redis) -> None:
    batcher = Batcher(redis)
    commands: list[list[str]] = []

    def note(pipe: Any, items: list[str]) -> object:
        commands.append(list(items))
        return pipe.sadd("t:batch:set", *items)

    replies = await asyncio.gather(*(batcher.gather("set", f"m{i}", note) for i in range(20)))
    assert commands == [[f"m{i}" for i in range(20)]]  # one SADD of all twenty
    assert replies == [20] * 20  # every caller sees that command's reply
    assert await redis.scard("t:batch:set") == 20
    # Once staged, the group is closed: the next item starts a new command.
    assert await batcher.gather("set", "m20", note) == 1
    assert commands[-1] == ["m20"]


async def test_a_cancelled_gatherer_does_not_cancel_the_others(redis: Redis) -> None:
    batcher = Batcher(redis)
    first = asyncio.create_task(batcher.gather("k", "a", lambda p, i: p.sadd("t:batch:c", *i)))
    second = asyncio.create_task(batcher.gather("k", "b", lambda p, i: p.sadd("t:batch:c", *i)))
    await asyncio.sleep(0)  # both joined the group (a yield, not a timed wait)
    first.cancel()
    assert await second == 2
    assert await redis.smembers("t:batch:c") == {b"a", b"b"}
