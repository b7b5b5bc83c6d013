"""Each organization's credits ledger (``core.credits``): the entries in a stream, the balance
beside them, and each idempotency key's entry — under one hash tag, written together by one
script, so a balance never disagrees with its entries and a key is used once.

A charge that would take the balance below zero is refused whole (``Short``); the same key
again answers the entry it made (``Replayed``) instead of a second one.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
from redis.asyncio import Redis

from router.core.credits import Kind, LedgerEntry
from router.core.models import now_iso
from router.store import keys

# KEYS: balance, entries, idempotency keys. ARGV: amount, key, entry JSON, floor ('' = none).
_WRITE = """
local seen = redis.call('HGET', KEYS[3], ARGV[2])
if seen then return {'SEEN', seen} end
local balance = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[4] ~= '' and balance + tonumber(ARGV[1]) < tonumber(ARGV[4]) then
  return {'SHORT', tostring(balance)}
end
local after = redis.call('INCRBY', KEYS[1], ARGV[1])
local id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[3], 'b', after)
redis.call('HSET', KEYS[3], ARGV[2], id)
return {'OK', id}
"""
_FIELD, _BALANCE = b"e", b"b"
_decoder = msgspec.json.Decoder(LedgerEntry)


class Short(Exception):
    """The balance does not cover the charge."""

    def __init__(self, balance_cents: int) -> None:
        super().__init__(balance_cents)
        self.balance_cents = balance_cents


class Replayed(Exception):
    """The idempotency key made an entry already (``entry``)."""

    def __init__(self, entry: LedgerEntry) -> None:
        super().__init__(entry.id)
        self.entry = entry


class Ledger:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._write = redis.register_script(_WRITE)

    async def write(self, entry: LedgerEntry, *, floor: int | None = 0) -> LedgerEntry:
        """Append the entry (the balance may not go below ``floor``; None: no floor), or
        raise ``Replayed`` with the key's earlier entry, or ``Short``."""
        org = entry.organization_id
        result: list[Any] = await self._write(
            keys=[keys.ledger_balance(org), keys.ledger_entries(org), keys.ledger_keys(org)],
            args=[
                entry.amount_cents,
                entry.idempotency_key,
                msgspec.json.encode(entry),
                "" if floor is None else floor,
            ],
        )
        outcome, value = result[0].decode(), result[1].decode()
        if outcome == "SHORT":
            raise Short(int(value))
        found = await self.entry(org, value)
        assert found is not None
        if outcome == "SEEN":
            raise Replayed(found)
        return found

    async def once(
        self, org: str, amount_cents: int, *, kind: Kind, reason: str, key: str,
        reference: str | None = None, floor: int | None = 0,
    ) -> None:  # fmt: skip
        """An entry the router makes (a charge, a refund) under ``key``, written once: a
        repeat (a retry, another process) finds it made and adds nothing. ``Short`` when the
        balance does not cover it."""
        entry = LedgerEntry(
            organization_id=org, amount_cents=amount_cents, kind=kind, reason=reason,
            who="router", at=now_iso(), idempotency_key=key, reference=reference,
        )  # fmt: skip
        with contextlib.suppress(Replayed):
            await self.write(entry, floor=floor)

    async def entry(self, org: str, entry_id: str) -> LedgerEntry | None:
        rows: Any = await self.redis.xrange(keys.ledger_entries(org), entry_id, entry_id)
        return _read(rows[0]) if rows else None

    async def balance(self, org: str) -> int:
        raw = await self.redis.get(keys.ledger_balance(org))
        return int(raw or 0)

    async def page(
        self, org: str, before: str | None, limit: int
    ) -> tuple[list[LedgerEntry], str | None]:
        """Up to ``limit`` entries older than ``before``, newest first, and the id to go on
        before when more follow."""
        top = f"({before}" if before else "+"
        rows: Any = await self.redis.xrevrange(keys.ledger_entries(org), max=top, count=limit + 1)
        entries = [_read(row) for row in rows[:limit]]
        return entries, entries[-1].id if len(rows) > limit else None


def _read(row: Any) -> LedgerEntry:
    entry_id, fields = row
    return msgspec.structs.replace(
        _decoder.decode(fields[_FIELD]),
        id=entry_id.decode(),
        balance_after_cents=int(fields[_BALANCE]),
    )
