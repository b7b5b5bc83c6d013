"""The dead-letter stream, for operators: list what failed and why, put entries back.

``python -m router dead-letters list`` shows each dead entry (its id, the call it was about,
how many times it was delivered, the last error); ``python -m router dead-letters replay ID...
| --all`` puts the original payload back on the call stream as a new entry and removes it from
the dead-letter stream, atomically per entry (both keys share the stream's slot).
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from router.core import events
from router.store import keys


class DeadEntry(msgspec.Struct, rename="camel"):
    id: str
    shard: int
    source_id: str
    call_id: str | None
    kind: str | None
    deliveries: int
    failed_at: str
    error: str


def _describe(entry_id: bytes, fields: dict[bytes, bytes], shard: int) -> DeadEntry:
    call_id = kind = None
    try:
        event = events.decode(fields.get(events.STREAM_FIELD, b""))
        call_id, kind = event.call_id, type(event).__name__
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        pass
    text = {k.decode(): v.decode(errors="replace") for k, v in fields.items() if k != b"e"}
    return DeadEntry(
        id=entry_id.decode(),
        shard=shard,
        source_id=text.get("source_id", ""),
        call_id=call_id,
        kind=kind,
        deliveries=int(text.get("deliveries", "0") or 0),
        failed_at=text.get("failed_at", ""),
        error=text.get("error", ""),
    )


async def list_entries(redis: Redis, limit: int = 100, shards: int = 1) -> list[DeadEntry]:
    out: list[DeadEntry] = []
    for shard in range(shards):
        rows: Any = await redis.xrange(keys.dead_letters(shard), count=limit - len(out))
        out += [_describe(entry_id, fields, shard) for entry_id, fields in rows]
        if len(out) >= limit:
            break
    return out


async def replay(redis: Redis, ids: list[str] | None, shards: int = 1) -> list[str]:
    """Put entries (all when ``ids`` is None) back on their shard's stream; the ids replayed."""
    done = []
    for shard in range(shards):
        done += await _replay_shard(redis, ids, shard)
    return done


async def _replay_shard(redis: Redis, ids: list[str] | None, shard: int) -> list[str]:
    dead = keys.dead_letters(shard)
    if ids is None:
        rows: Any = await redis.xrange(dead)
    else:
        rows = []
        for entry_id in ids:
            rows.extend(await redis.xrange(dead, min=entry_id, max=entry_id))
    done = []
    for entry_id, fields in rows:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                keys.stream(shard), {events.STREAM_FIELD: fields.get(events.STREAM_FIELD, b"")}
            )
            pipe.xdel(dead, entry_id)
            await pipe.execute()
        done.append(entry_id.decode())
    return done
