"""Number and agent rows in Redis, written atomically.

Every write is one Lua script over keys in the ``{registry}`` slot (see ``keys``): it checks the
rules that involve other rows — one row per E.164 number, a linked agent exists, an agent
still linked cannot be deleted — and compares the stored JSON with what the caller read
(compare-and-set), so two concurrent PATCHes cannot silently overwrite each other. Each
write bumps a version counter and publishes it, for in-process caches.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from router.core.models import DEFAULT_ORG, Agent, PhoneNumber
from router.errors import Conflict, LimitReached, NotFound, ValidationError
from router.store import keys
from router.store.registry_scripts import (
    BY_TRUNK,
    INDEX_VERSION,
    LOOKUP,
    REINDEX,
    SAVE_AGENT,
    SAVE_NUMBER,
)

_number_decoder = msgspec.json.Decoder(PhoneNumber)
_agent_decoder = msgspec.json.Decoder(Agent)
_encode = msgspec.json.Encoder().encode


async def _page(
    redis: Redis, order: str, rows: str, after: str | None, limit: int
) -> tuple[list[bytes], str | None]:
    """Up to ``limit`` stored rows created after place ``after`` in creation order, and the
    place to continue after when more follow."""
    start = f"({after}" if after else "-inf"
    places: list[tuple[bytes, float]] = await redis.zrange(  # type: ignore[assignment, unused-ignore]
        order, start, "+inf", byscore=True, offset=0, num=limit + 1, withscores=True
    )
    more = len(places) > limit
    places = places[:limit]
    if not places:
        return [], None
    raw: list[bytes | None] = await redis.hmget(rows, [i for i, _ in places])  # type: ignore[assignment, unused-ignore]
    return [r for r in raw if r is not None], str(int(places[-1][1])) if more else None


def _place(after: str | None) -> str | None:
    if after is not None and not (after.isascii() and after.isdigit() and len(after) < 17):
        raise ValidationError(
            "cursor: not a cursor this API gave (take it from the Link header)", field="cursor"
        )
    return after


def _outcome(result: Any) -> str:
    return result.decode() if isinstance(result, bytes) else str(result)


class Registry:
    """Reads and writes rows; the Redis client belongs to whoever created it."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._save_number = redis.register_script(SAVE_NUMBER)
        self._save_agent = redis.register_script(SAVE_AGENT)
        self._lookup = redis.register_script(LOOKUP)
        self._by_trunk = redis.register_script(BY_TRUNK)
        self._reindex = redis.register_script(REINDEX)

    async def ensure_indexes(self) -> int:
        """Build the lookup indexes if this registry predates them; rows indexed (-1: none
        needed). Idempotent, and safe while others write (one script)."""
        result = await self._reindex(
            keys=[
                keys.NUMBERS,
                keys.LANDING_INDEX,
                keys.INDEX_VERSION,
                keys.NUMBER_ORDER,
                keys.AGENTS,
                keys.AGENT_ORDER,
                keys.ORDER_SEQUENCE,
            ],
            args=[
                INDEX_VERSION,
                keys.TRUNK_INDEX_PREFIX,
                keys.org_numbers(""),
                keys.org_agents(""),
                DEFAULT_ORG,
            ],
        )
        return int(result)

    # ---- numbers ----------------------------------------------------------------------------

    async def get_number(self, number_id: str) -> tuple[PhoneNumber, bytes]:
        raw: bytes | None = await self.redis.hget(keys.NUMBERS, number_id)  # type: ignore[assignment, unused-ignore]
        if raw is None:
            raise NotFound(f"phone number {number_id} not found")
        return _number_decoder.decode(raw), raw

    async def landing(self, org: str | None = None) -> PhoneNumber | None:
        """The shared landing number (the first made, if several; of ``org`` when given),
        from its index."""
        rows = await self._landings()
        rows = [r for r in rows if org is None or r.organization_id == org]
        return min(rows, key=lambda r: (r.created_at, r.id), default=None)

    async def landings(self) -> dict[str, PhoneNumber]:
        """Each organization's shared landing number (the first made), in one read."""
        first: dict[str, PhoneNumber] = {}
        for row in sorted(await self._landings(), key=lambda r: (r.created_at, r.id)):
            first.setdefault(row.organization_id, row)
        return first

    async def _landings(self) -> list[PhoneNumber]:
        ids = await self.redis.smembers(keys.LANDING_INDEX)
        if not ids:
            return []
        raw = await self.redis.hmget(keys.NUMBERS, sorted(ids))
        return [_number_decoder.decode(r) for r in raw if r is not None]

    async def list_numbers(self) -> list[PhoneNumber]:
        rows = [_number_decoder.decode(r) for r in await self.redis.hvals(keys.NUMBERS)]
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    async def page_numbers(
        self, after: str | None, limit: int, org: str | None = None
    ) -> tuple[list[PhoneNumber], str | None]:
        """One page of numbers (of ``org``, or all) in creation order, and where the next page
        starts (or None)."""
        order = keys.org_numbers(org) if org is not None else keys.NUMBER_ORDER
        raw, more = await _page(self.redis, order, keys.NUMBERS, _place(after), limit)
        return [_number_decoder.decode(r) for r in raw], more

    async def numbers_of(self, org: str, connection: str | None = None) -> list[PhoneNumber]:
        """Every number of the organization in creation order (with ``connection``: those
        imported onto that SIP connection), read a page at a time."""
        rows: list[PhoneNumber] = []
        after = None
        while True:
            page, after = await self.page_numbers(after, 1000, org)
            rows += [r for r in page if connection in (None, r.sip_connection_installation_id)]
            if after is None:
                return rows

    async def agents_of(self, agent_ids: set[str]) -> dict[str, Agent]:
        if not agent_ids:
            return {}
        ids = sorted(agent_ids)
        raw: list[bytes | None] = await self.redis.hmget(keys.AGENTS, ids)  # type: ignore[assignment, unused-ignore]
        return {i: _agent_decoder.decode(r) for i, r in zip(ids, raw, strict=True) if r is not None}

    async def write_number(
        self,
        new: PhoneNumber | None,
        *,
        old: PhoneNumber | None,
        old_raw: bytes = b"",
        number_limit: int | None = None,
    ) -> None:
        """Create (old None), update (both) or delete (new None) one row atomically; a
        creation is refused when the organization holds ``number_limit`` numbers already."""
        current = new or old
        assert current is not None
        old_trunk = (old.sip_trunk_id or "") if old else ""
        new_trunk = (new.sip_trunk_id or "") if new else ""
        result = _outcome(
            await self._save_number(
                keys=[
                    keys.NUMBERS,
                    keys.E164_INDEX,
                    keys.AGENTS,
                    keys.AGENT_LINKS,
                    keys.REGISTRY_VERSION,
                    keys.LANDING_INDEX,
                    keys.trunk_index(old_trunk),
                    keys.trunk_index(new_trunk),
                    keys.NUMBER_ORDER,
                    keys.ORDER_SEQUENCE,
                    keys.org_numbers(current.organization_id),
                    keys.TRUNK_OWNERS,
                ],
                args=[
                    current.id,
                    old_raw,
                    _encode(new) if new else b"",
                    current.e164,
                    (old.agent_id or "") if old else "",
                    (new.agent_id or "") if new else "",
                    keys.REGISTRY_CHANNEL,
                    "1" if old and old.shared_landing else "",
                    "1" if new and new.shared_landing else "",
                    old_trunk,
                    new_trunk,
                    str(number_limit) if number_limit is not None else "",
                    current.organization_id,
                    DEFAULT_ORG,
                ],
            )
        )
        if result == "CONFLICT":
            raise Conflict(f"{current.e164} is already imported", field="e164")
        if result == "LIMIT":
            raise LimitReached(
                f"organization {current.organization_id} holds its limit of {number_limit} "
                "numbers; release one, or ask the operator to raise the limit"
            )
        if result == "NO_AGENT":
            raise ValidationError(
                f"agentId: agent {current.agent_id} does not exist", field="agentId"
            )
        if result == "FOREIGN_TRUNK":  # 404 as every foreign resource: no existence oracle
            raise NotFound(
                f"sipTrunkId: trunk {current.sip_trunk_id} not found", field="sipTrunkId"
            )
        if result == "STALE":
            raise Conflict("the phone number changed while it was being written; retry")
        if result != "OK":
            raise Conflict(f"phone number write refused: {result}")

    async def lookup(self, *, e164: str) -> tuple[PhoneNumber | None, Agent | None]:
        row, agent, _ = await self.lookup_versioned(e164=e164)
        return row, agent

    async def lookup_versioned(
        self, *, e164: str | None = None, number_id: str | None = None
    ) -> tuple[PhoneNumber | None, Agent | None, int]:
        row, agent, version = await self._lookup(
            keys=[keys.NUMBERS, keys.E164_INDEX, keys.AGENTS, keys.REGISTRY_VERSION],
            args=[e164 or "", number_id or ""],
        )
        return (
            _number_decoder.decode(row) if row else None,
            _agent_decoder.decode(agent) if agent else None,
            int(version),
        )

    async def claim_trunk(self, trunk_id: str, org: str) -> None:
        """Record ``org`` as the owner of a trunk it was given (its managed trunk): another
        organization's rows can then not name it. The first claim stands."""
        await self.redis.hsetnx(keys.TRUNK_OWNERS, trunk_id, org)

    async def by_trunk_versioned(
        self, trunk_id: str
    ) -> tuple[list[PhoneNumber], Agent | None, int]:
        rows, agent, version = await self._by_trunk(
            keys=[keys.NUMBERS, keys.AGENTS, keys.REGISTRY_VERSION, keys.trunk_index(trunk_id)]
        )
        return (
            [_number_decoder.decode(r) for r in rows],
            _agent_decoder.decode(agent) if agent else None,
            int(version),
        )

    async def by_trunk(self, trunk_id: str) -> tuple[list[PhoneNumber], Agent | None]:
        rows, agent, _ = await self.by_trunk_versioned(trunk_id)
        return rows, agent

    # ---- agents -----------------------------------------------------------------------------

    async def get_agent(self, agent_id: str) -> tuple[Agent, bytes]:
        raw: bytes | None = await self.redis.hget(keys.AGENTS, agent_id)  # type: ignore[assignment, unused-ignore]
        if raw is None:
            raise NotFound(f"agent {agent_id} not found")
        return _agent_decoder.decode(raw), raw

    async def find_agent(self, agent_id: str) -> Agent | None:
        raw = await self.redis.hget(keys.AGENTS, agent_id)
        return _agent_decoder.decode(raw) if raw is not None else None

    async def agents_by_id(self) -> dict[str, Agent]:
        raw: dict[bytes, bytes] = await self.redis.hgetall(keys.AGENTS)  # type: ignore[assignment, unused-ignore]
        return {k.decode(): _agent_decoder.decode(v) for k, v in raw.items()}

    async def list_agents(self) -> list[Agent]:
        rows = list((await self.agents_by_id()).values())
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    async def page_agents(
        self, after: str | None, limit: int, org: str | None = None
    ) -> tuple[list[Agent], str | None]:
        """One page of agents (of ``org``, or all) in creation order, and where the next page
        starts (or None)."""
        order = keys.org_agents(org) if org is not None else keys.AGENT_ORDER
        raw, more = await _page(self.redis, order, keys.AGENTS, _place(after), limit)
        return [_agent_decoder.decode(r) for r in raw], more

    async def write_agent(
        self, new: Agent | None, *, old: Agent | None, old_raw: bytes = b""
    ) -> None:
        current = new or old
        assert current is not None
        result = _outcome(
            await self._save_agent(
                keys=[
                    keys.AGENTS,
                    keys.AGENT_LINKS,
                    keys.REGISTRY_VERSION,
                    keys.AGENT_ORDER,
                    keys.ORDER_SEQUENCE,
                    keys.org_agents(current.organization_id),
                ],
                args=[current.id, old_raw, _encode(new) if new else b"", keys.REGISTRY_CHANNEL],
            )
        )
        if result == "LINKED":
            raise Conflict(f"agent {current.id} is still linked to a phone number; unlink it first")
        if result == "STALE":
            raise Conflict("the agent changed while it was being written; retry")
        if result != "OK":
            raise Conflict(f"agent write refused: {result}")
