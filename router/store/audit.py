"""Each organization's audit log: every write through the admin API, who made it, when, and
what changed in the fields that decide routing. A capped stream per organization (the newest
``MAX_ENTRIES``) that expires ``TTL_S`` after its last write; read newest first."""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from router.store import keys

MAX_ENTRIES = 10_000
TTL_S = 90 * 24 * 3600
_FIELD = "e"


class Change(msgspec.Struct, omit_defaults=True):
    before: Any = None
    after: Any = None


class AuditEntry(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    id: str = ""  # the stream entry id (set when read)
    at: str
    who: str  # "operator", or the API key's id
    role: str
    action: str  # e.g. phone_number.updated
    resource: str  # the id of what was written
    changes: dict[str, Change] = msgspec.field(default_factory=dict)


_decoder = msgspec.json.Decoder(AuditEntry)
_encode = msgspec.json.Encoder().encode


class AuditLog:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def add(self, organization: str, entry: AuditEntry) -> None:
        key = keys.audit_log(organization)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, {_FIELD: _encode(entry)}, maxlen=MAX_ENTRIES, approximate=True)
            pipe.expire(key, TTL_S)
            await pipe.execute()

    async def page(
        self, organization: str, before: str | None, limit: int
    ) -> tuple[list[AuditEntry], str | None]:
        """Up to ``limit`` entries older than ``before`` (a stream id), newest first, and the
        id to continue before when more follow."""
        top = f"({before}" if before else "+"
        rows: Any = await self.redis.xrevrange(
            keys.audit_log(organization), max=top, count=limit + 1
        )
        entries = [
            msgspec.structs.replace(_decoder.decode(fields[_FIELD.encode()]), id=entry.decode())
            for entry, fields in rows[:limit]
        ]
        more = entries[-1].id if len(rows) > limit else None
        return entries, more
