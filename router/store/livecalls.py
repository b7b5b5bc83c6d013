"""Live calls per organization and per agent, and what a dispatch sets up to be supervised.

``before_dispatch`` is one script over the ``{live}`` slot, run once per dispatch: it says
whether the caller already left the room (then nothing is dispatched), admits the call under
its organization's and agent's ``maxConcurrentCalls`` — adding it to their sets only if neither
limit is reached, so that concurrent dispatches across workers never admit one call over a
limit — ties the room to the call and sets the agent's watchdog. One command on the dispatch
path for all of it. A call is counted until its end releases it, or at most ``max_call_s`` (an
end event lost is healed by the lapse and the room check, not by a leak). A redelivered
dispatch of a call already counted is admitted again without counting twice.

An organization's limit is read from its row and kept ``limit_ttl_s`` in the process: a
change reaches every worker within that.
"""

from __future__ import annotations

import time
from typing import Literal

import msgspec
from redis.asyncio import Redis

from router.store import keys
from router.store.batching import Batcher

Verdict = Literal["OK", "GONE", "ORG", "AGENT"]

_BEFORE_DISPATCH = """
local gone = redis.call('GET', KEYS[4])
if gone then return {'GONE', gone} end
if ARGV[6] == '' then return {'OK', false} end
for i = 1, 3 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[2]) end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if ARGV[4] ~= '' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
    return {'ORG', false}
  end
  if ARGV[5] ~= '' and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
    return {'AGENT', false}
  end
  for i = 1, 3 do redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1]) end
end
redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[7])
redis.call('ZADD', KEYS[6], ARGV[6], 'agent:' .. ARGV[1])
return {'OK', false}
"""


class _Limit(msgspec.Struct):
    max_concurrent_calls: int | None = msgspec.field(default=None, name="maxConcurrentCalls")


_limit = msgspec.json.Decoder(_Limit)


class LiveCalls:
    def __init__(
        self,
        redis: Redis,
        batcher: Batcher | None = None,
        *,
        max_call_s: float = 4 * 3600,
        limit_ttl_s: float = 5.0,
    ) -> None:
        self.redis, self.max_call_s, self.limit_ttl_s = redis, max_call_s, limit_ttl_s
        self.batcher = batcher or Batcher(redis)  # the dispatch path's command, pipelined
        self._script = redis.register_script(_BEFORE_DISPATCH)
        self._limits: dict[str, tuple[float, int | None]] = {}

    async def org_limit(self, org: str) -> int | None:
        now = time.monotonic()
        hit = self._limits.get(org)
        if hit is not None and hit[0] > now:
            return hit[1]
        raw = await self.batcher.call(lambda pipe: pipe.hget(keys.ORGS, org))
        limit = _limit.decode(raw).max_concurrent_calls if raw else None
        self._limits[org] = (now + self.limit_ttl_s, limit)
        return limit

    async def before_dispatch(
        self,
        call_id: str,
        room: str,
        *,
        org: str,
        agent_id: str | None,
        agent_limit: int | None,
        watch_s: float | None,
    ) -> tuple[Verdict, int | None]:
        """The verdict and, for ``GONE``, when the caller left. ``watch_s`` None (a dry
        run): only whether the caller left; nothing counted, tied or watched."""
        org_limit = await self.org_limit(org) if watch_s is not None else None
        now = time.time()
        found = await self.batcher.script(
            self._script,
            [
                keys.live_calls(f"org:{org}"),
                keys.live_calls(f"agent:{agent_id or ''}"),
                keys.live_calls("all"),
                keys.caller_gone(room),
                keys.room_call(room),
                keys.WATCHDOGS,
            ],
            [
                call_id, now, now + self.max_call_s,
                str(org_limit) if org_limit is not None else "",
                str(agent_limit) if agent_limit is not None else "",
                str(now + watch_s) if watch_s is not None else "",
                keys.CALL_RECORD_TTL_S,
            ],
        )  # fmt: skip
        verdict = found[0].decode() if isinstance(found[0], bytes) else str(found[0])
        assert verdict in ("OK", "GONE", "ORG", "AGENT")
        return verdict, int(found[1]) if found[1] else None  # type: ignore[return-value]

    async def release(self, call_id: str, org: str | None, agent_id: str | None) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.live_calls(f"org:{org or ''}"), call_id)
            pipe.zrem(keys.live_calls(f"agent:{agent_id or ''}"), call_id)
            pipe.zrem(keys.live_calls("all"), call_id)
            pipe.zrem(keys.WATCHDOGS, f"agent:{call_id}")
            await pipe.execute()

    async def count(self, scope: str) -> int:
        """Live calls of ``org:<id>``, ``agent:<id>`` or ``all`` (lapsed ones not counted)."""
        return int(await self.redis.zcount(keys.live_calls(scope), time.time(), "+inf"))
