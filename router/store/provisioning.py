"""What provisioning last saw of each number at LiveKit and its carrier
(``core.carrier_states.Provisioning``), kept beside the rows in the registry's slot, read with
them for ``setupStatus``.

A state written before carriers kept a tagged ``CarrierState`` (``carrierNumberId`` with
``carrierPrevious`` — ``"<method> <url>"``, ``"trunk:<sid>"`` or a Telnyx connection id — and
``twilioPrevious``) is read as the tagged state its number's source says it is (``upgrade``);
``upgrade_all`` rewrites every such state once, at start-up.
"""

from __future__ import annotations

import contextlib

import msgspec
from redis.asyncio import Redis

from router.core.carrier_states import (
    CarrierState,
    LiveKitNumber,
    Provisioning,
    TelnyxConnection,
    TwilioRouting,
    TwilioTrunk,
    TwilioVoiceUrl,
)
from router.core.models import PhoneNumber
from router.errors import NotFound
from router.store import keys
from router.store.mutex import mutex
from router.store.registry import Registry


class _Stored(Provisioning, kw_only=True):
    """A state as stored: today's fields, and those of the coded strings kept before."""

    carrier_number_id: str | None = None
    carrier_previous: str | None = None
    twilio_previous: TwilioRouting | None = None


_decoder = msgspec.json.Decoder(_Stored)
_encode = msgspec.json.Encoder().encode
_LEGACY = b'"carrierNumberId"'


def upgrade(stored: _Stored, row: PhoneNumber | None) -> Provisioning:
    """The state as it is kept now; the coded strings of an older state read by the source of
    its number (None: the row is gone, and so is what the state said of its carrier)."""
    carrier = stored.carrier
    if carrier is None and stored.carrier_number_id and row is not None:
        carrier = _carrier(row.source, stored)
    # Every field of today's state as stored (a field added later is never dropped here).
    kept = {name: getattr(stored, name) for name in Provisioning.__struct_fields__}
    return Provisioning(**{**kept, "carrier": carrier})


def _carrier(source: str, stored: _Stored) -> CarrierState | None:
    number_id, previous = stored.carrier_number_id or "", stored.carrier_previous
    if source == "twilio" and previous is not None and previous.startswith("trunk:"):
        return TwilioTrunk(number_sid=number_id, trunk_sid=previous.removeprefix("trunk:"))
    if source == "twilio":
        routing = stored.twilio_previous
        if routing is None:  # an older router kept "<method> <url>"
            method, _, url = (previous or "POST ").partition(" ")
            routing = TwilioRouting(voice_url=url or None, voice_method=method or "POST")
        return TwilioVoiceUrl(number_sid=number_id, previous=routing)
    if source == "telnyx":
        return TelnyxConnection(number_id=number_id, previous=previous)
    if source == "livekit":
        return LiveKitNumber(phone_number_id=number_id)
    return None


class ProvisioningStates:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def of(self, rows: list[PhoneNumber]) -> dict[str, Provisioning]:
        if not rows:
            return {}
        ids = [r.id for r in rows]
        raw: list[bytes | None] = await self.redis.hmget(keys.PROVISIONING, ids)  # type: ignore[assignment, unused-ignore]
        return {
            row.id: upgrade(_decoder.decode(found), row)
            for row, found in zip(rows, raw, strict=True)
            if found
        }

    async def save(self, number_id: str, state: Provisioning) -> None:
        await self.redis.hset(keys.PROVISIONING, number_id, _encode(state))

    async def forget(self, number_id: str) -> None:
        await self.redis.hdel(keys.PROVISIONING, number_id)

    async def upgrade_all(self, registry: Registry) -> int:
        """Rewrite every state still in the older form, read by its number's source; a state
        written meanwhile in today's form is left as it is. Answers how many."""
        done = 0
        async for number_id, found in self.redis.hscan_iter(keys.PROVISIONING):
            if _LEGACY not in found:
                continue
            key = number_id.decode() if isinstance(number_id, bytes) else number_id
            try:
                row: PhoneNumber | None = (await registry.get_number(key))[0]
            except NotFound:
                row = None
            state = upgrade(_decoder.decode(found), row)
            # Only over the very bytes read: a save that raced this pass wins.
            if await self._replace(key, found, _encode(state)):
                done += 1
        return done

    async def _replace(self, number_id: str, expected: bytes, state: bytes) -> bool:
        replaced = await self.redis.eval(  # type: ignore[misc, unused-ignore]
            "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then "
            "redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0",
            1,
            keys.PROVISIONING,
            number_id,
            expected,
            state,
        )
        return bool(replaced)

    def trunk_mutex(self, org: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held around every change to the organization's LiveKit trunk (``store.mutex``)."""
        return mutex(self.redis, keys.trunk_mutex(org))

    async def lease(self, holder: str, ttl_s: float) -> bool:
        """Take the reconcile lease (one pass at a time across the processes)."""
        taken = await self.redis.set(keys.RECONCILE_LEASE, holder, nx=True, px=int(ttl_s * 1000))
        return bool(taken)
