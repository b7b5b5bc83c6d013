"""Managed number purchases (``core.managed``): each organization's recent offers, and the
orders journal — every order under ``<org>:<Idempotency-Key>``, the open ones in a set the
background pass walks, and each number being bought claimed by one order (two orders never buy
one number). One hash tag: an order's start is one script."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import msgspec
from redis.asyncio import Redis

from router.core.managed import FINAL, OFFER_TTL_S, Offer, Order
from router.store import keys
from router.store.mutex import mutex

# KEYS: orders, claims, open. ARGV: order key, order JSON, e164.
_START = """
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {'EXISTS', existing} end
local claim = redis.call('HGET', KEYS[2], ARGV[3])
if claim and claim ~= ARGV[1] then return {'CLAIMED', claim} end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
return {'NEW', ARGV[2]}
"""
# KEYS: orders, claims, open. ARGV: order key, order JSON, e164, final ('1' or '').
_SAVE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] == '1' then
  redis.call('SREM', KEYS[3], ARGV[1])
  if redis.call('HGET', KEYS[2], ARGV[3]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[3]) end
end
return 1
"""
HOLD_S = 5.0  # a mover that dies lets go of its order this soon (the hold is renewed)
_order = msgspec.json.Decoder(Order)
_offer = msgspec.json.Decoder(Offer)


class Billing(msgspec.Struct, rename="camel", kw_only=True):
    """What a bought number costs each month and where it came from (its order), kept while
    the router holds it; ``releasing``: the provider has not taken it back yet."""

    row_id: str
    organization_id: str
    e164: str
    provider: str
    provider_id: str
    monthly_cents: int
    order: str  # "<org>:<Idempotency-Key>"
    releasing: bool = False
    release_error: str | None = None


_billing = msgspec.json.Decoder(Billing)


class Claimed(Exception):
    """Another order is buying the number."""


def order_key(org: str, idempotency_key: str) -> str:
    return f"{org}:{idempotency_key}"


class Purchases:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._start = redis.register_script(_START)
        self._save = redis.register_script(_SAVE)
        self._keys = [keys.PURCHASE_ORDERS, keys.PURCHASE_CLAIMS, keys.PURCHASE_OPEN]

    async def remember(self, org: str, offers: list[Offer]) -> None:
        """A search's offers, buyable for ``OFFER_TTL_S``."""
        if not offers:
            return
        key = keys.purchase_offers(org)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={o.e164: msgspec.json.encode(o) for o in offers})
            pipe.expire(key, OFFER_TTL_S)
            await pipe.execute()

    async def offer(self, org: str, e164: str) -> Offer | None:
        """The organization's unexpired offer of the number."""
        raw = await self.redis.hget(keys.purchase_offers(org), e164)
        found = _offer.decode(raw) if raw is not None else None
        return found if found is not None and found.expires_at > time.time() else None

    async def start(self, order: Order) -> tuple[Order, bool]:
        """Journal a new order (and claim its number), or find the one its key made before;
        whether it is new. ``Claimed`` when another open order is buying the number."""
        key = order_key(order.organization_id, order.idempotency_key)
        result: list[Any] = await self._start(
            keys=self._keys, args=[key, msgspec.json.encode(order), order.e164]
        )
        outcome = result[0].decode()
        if outcome == "CLAIMED":
            raise Claimed(result[1].decode())
        return _order.decode(result[1]), outcome == "NEW"

    async def save(self, order: Order) -> None:
        """The order's new state; a final one is closed and its number's claim let go."""
        key = order_key(order.organization_id, order.idempotency_key)
        final = "1" if order.state in FINAL else ""
        await self._save(keys=self._keys, args=[key, msgspec.json.encode(order), order.e164, final])

    async def get(self, key: str) -> Order | None:
        raw = await self.redis.hget(keys.PURCHASE_ORDERS, key)
        return _order.decode(raw) if raw is not None else None

    async def open_keys(self) -> list[str]:
        members: set[bytes] = await self.redis.smembers(keys.PURCHASE_OPEN)  # type: ignore[assignment, misc, unused-ignore]
        return sorted(m.decode() for m in members)

    async def billing(self, row_id: str) -> Billing | None:
        raw = await self.redis.hget(keys.PURCHASE_BILLING, row_id)
        return _billing.decode(raw) if raw is not None else None

    async def billings(self) -> list[Billing]:
        raw: dict[bytes, bytes] = await self.redis.hgetall(keys.PURCHASE_BILLING)  # type: ignore[assignment, misc, unused-ignore]
        return sorted((_billing.decode(v) for v in raw.values()), key=lambda b: b.row_id)

    async def bill(self, billing: Billing) -> None:
        await self.redis.hset(keys.PURCHASE_BILLING, billing.row_id, msgspec.json.encode(billing))

    async def unbill(self, row_id: str) -> None:
        await self.redis.hdel(keys.PURCHASE_BILLING, row_id)

    def held(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """One process at a time moves an order on (a retry meets the first still running)."""
        return mutex(self.redis, keys.purchase_mutex(key), hold_s=HOLD_S, wait_s=0.5, renew=True)
