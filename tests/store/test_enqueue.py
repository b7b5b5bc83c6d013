"""Enqueueing on a real Valkey: events arriving together share one script run, and each
request still learns its own outcome (queued, or a duplicate with the first marker)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from router.core import events
from router.store import keys
from router.store.enqueue import Ingress


def _joined(call_id: str) -> events.LiveKitSipJoined:
    return events.LiveKitSipJoined(
        event_id=f"EV{call_id}",
        call_id=call_id,
        room=f"room-{call_id}",
        participant_identity=f"sip_{call_id}",
        received_at_ms=events.now_ms(),
    )


async def _stream_calls(redis: Redis, shards: int) -> list[str]:
    found = []
    for shard in range(shards):
        for _, fields in await redis.xrange(keys.stream(shard)):
            found.append(events.decode(fields[events.STREAM_FIELD]).call_id)
    return found


async def test_events_arriving_together_each_get_their_own_outcome(redis: Redis) -> None:
    ingress = Ingress(redis, shards=3)
    ids = [f"C{i}" for i in range(60)]
    # Every event twice, with different markers, in one burst: the first of each pair wins.
    outcomes = await asyncio.gather(
        *(
            ingress.enqueue(f"EV{call_id}", _joined(call_id), marker=f"{call_id}-{copy}")
            for call_id in ids
            for copy in (1, 2)
        )
    )
    assert outcomes == [
        outcome for call_id in ids for outcome in ((True, f"{call_id}-1"), (False, f"{call_id}-1"))
    ]
    assert sorted(await _stream_calls(redis, 3)) == sorted(ids)


async def test_enqueueing_survives_a_flushed_script_cache(redis: Redis) -> None:
    ingress = Ingress(redis)
    assert await ingress.enqueue("EVa", _joined("a")) == (True, "1")
    await redis.script_flush()  # as after a restart or failover: the SHA is unknown
    outcomes = await asyncio.gather(
        ingress.enqueue("EVb", _joined("b")), ingress.enqueue("EVa", _joined("a"))
    )
    assert outcomes == [(True, "1"), (False, "1")]
    assert await _stream_calls(redis, 1) == ["a", "b"]
