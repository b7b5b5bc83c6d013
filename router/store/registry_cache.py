"""An in-process cache of number and agent rows for the hot path, kept honest by pub/sub.

Every registry write bumps ``router:{registry}:version`` and publishes the new version on
``router:{registry}:changed`` (one Lua script, see ``registry``). This cache listens: on each
message it drops everything and remembers the version. A lookup stores its result only if it
was read at a version at least as new as the newest one announced — so a read that raced a
write is never kept — and entries older than ``max_age_s`` are read again regardless, which
bounds staleness even if a message is lost while the subscription reconnects (during which
the cache is bypassed).

Misses are single-flight: concurrent lookups of one key share one registry read. Without it a
worker starting with a full stream (or an entry expiring under load) sent one read per call in
flight at once — measured: 256 at once on a cluster node, past the client's connection cap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from router import logs
from router.core.models import Agent, ApiKey, PhoneNumber
from router.store import keys
from router.store.orgs import Organizations
from router.store.redis_client import where
from router.store.registry import Registry

log = logs.get(__name__)

Entry = tuple[float, PhoneNumber | None, Agent | None]
T = TypeVar("T")


class RegistryCache:
    def __init__(
        self,
        registry: Registry,
        redis: Redis,
        orgs: Organizations | None = None,
        *,
        max_age_s: float = 5.0,
    ) -> None:
        self.registry = registry
        self.orgs = orgs or Organizations(redis)
        self._keys: dict[str, tuple[float, ApiKey | None]] = {}
        self.redis = redis
        self.max_age_s = max_age_s
        self._numbers: dict[str, Entry] = {}
        self._agents: dict[str, tuple[float, Agent | None]] = {}
        self._trunks: dict[str, tuple[float, list[PhoneNumber], Agent | None]] = {}
        self._version = 0
        self._live = False  # subscribed: only then may results be cached
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._inflight: dict[tuple[str, str], asyncio.Future[Any]] = {}

    async def _single_flight(self, key: tuple[str, str], load: Callable[[], Awaitable[T]]) -> T:
        """``load()`` once for all concurrent callers asking for ``key``."""
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        # shield: one caller giving up (cancelled) does not cancel the read for the others
        result: T = await asyncio.shield(pending)
        return result

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="registry-cache")

    async def stop(self) -> None:
        """Stop now: the listener is cancelled rather than left to notice the flag at its next
        poll (which held every shutdown up to 0.2 s)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _clear(self, version: int | None = None) -> None:
        self._numbers.clear()
        self._agents.clear()
        self._trunks.clear()
        self._keys.clear()
        if version is not None:
            self._version = max(self._version, version)

    async def _listen(self) -> None:
        backoff = 0.1
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(keys.REGISTRY_CHANNEL)
                self._clear(int(await self.redis.get(keys.REGISTRY_VERSION) or 0))
                self._live, backoff = True, 0.1
                # get_message with a timeout, not listen(): redis-py's listen() does not
                # give way to task cancellation, so stopping is a flag checked here.
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                    if message is not None and message["type"] == "message":
                        self._clear(int(message["data"]))
            except (RedisError, OSError, ValueError) as exc:
                # redis-py may turn our own cancellation into a connection error.
                if self._stopping:
                    return
                log.warning("registry_cache_unsubscribed", store=where(self.redis), error=repr(exc))
            finally:
                self._live = False
                self._clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            if self._stopping:
                return
            await asyncio.sleep(backoff)  # reconnect backoff while Redis is away
            backoff = min(backoff * 2, 5.0)

    async def lookup(self, *, e164: str) -> tuple[PhoneNumber | None, Agent | None]:
        now = time.monotonic()
        hit = self._numbers.get(e164)
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1], hit[2]
        return await self._single_flight(("number", e164), lambda: self._load_number(e164))

    async def _load_number(self, e164: str) -> tuple[PhoneNumber | None, Agent | None]:
        now = time.monotonic()
        row, agent, version = await self.registry.lookup_versioned(e164=e164)
        if self._live and version >= self._version:
            self._numbers[e164] = (now, row, agent)
            if agent is not None:
                self._agents[agent.id] = (now, agent)
        return row, agent

    async def by_trunk(self, trunk_id: str) -> tuple[list[PhoneNumber], Agent | None]:
        now = time.monotonic()
        hit = self._trunks.get(trunk_id)
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1], hit[2]
        return await self._single_flight(("trunk", trunk_id), lambda: self._load_trunk(trunk_id))

    async def _load_trunk(self, trunk_id: str) -> tuple[list[PhoneNumber], Agent | None]:
        now = time.monotonic()
        rows, agent, version = await self.registry.by_trunk_versioned(trunk_id)
        if self._live and version >= self._version:
            self._trunks[trunk_id] = (now, rows, agent)
        return rows, agent

    async def find_agent(self, agent_id: str) -> Agent | None:
        now = time.monotonic()
        hit = self._agents.get(agent_id)
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1]
        return await self._single_flight(
            ("agent", agent_id), lambda: self.registry.find_agent(agent_id)
        )

    async def api_key(self, key_digest: str) -> ApiKey | None:
        """The API key stored under this digest (None: no such key, or revoked). A revocation
        bumps the registry version: every process forgets the key when it hears of it."""
        now = time.monotonic()
        hit = self._keys.get(key_digest)
        if hit is not None and now - hit[0] < self.max_age_s:
            return hit[1]
        return await self._single_flight(("key", key_digest), lambda: self._load_key(key_digest))

    async def _load_key(self, key_digest: str) -> ApiKey | None:
        now = time.monotonic()
        key, version = await self.orgs.find_key_versioned(key_digest)
        if self._live and version >= self._version:
            self._keys[key_digest] = (now, key)
        return key
