"""Jobs delivered at least once on a schedule kept in Redis, so it survives a restart: the
lifecycle webhooks (``worker.lifecycle``) and the operations team's notifications
(``worker.notify``).

A job is stored under a deterministic id in a hash and its due time in a sorted set (one hash
tag, so a cluster keeps both on one slot). ``enqueue`` is HSETNX + ZADD: enqueueing twice is
harmless. ``claim`` takes due jobs atomically by pushing their due time a lease ahead; a worker
that dies holding one leaves it due again when the lease runs out. ``done`` removes a job,
``retry`` puts it back with its next due time, ``bury`` moves it to the dead list.
"""

from __future__ import annotations

from redis.asyncio import Redis

_ENQUEUE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  return 1
end
return 0
"""
# Take up to ARGV[3] due jobs: push their due time to ARGV[2] (the lease) and return them.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[2], ARGV[2], id)
  local item = redis.call('HGET', KEYS[1], id)
  if item then table.insert(out, item) else redis.call('ZREM', KEYS[2], id) end
end
return out
"""


class DueQueue:
    def __init__(self, redis: Redis, items: str, due: str, dead: str) -> None:
        self.redis, self.items, self.due, self.dead = redis, items, due, dead
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)

    async def enqueue(self, job_id: str, raw: bytes, at: float) -> bool:
        """The job, due at ``at``, unless one of that id is queued already; True if new."""
        return bool(await self._enqueue(keys=[self.items, self.due], args=[job_id, raw, at]))

    async def claim(self, now: float, lease_s: float, limit: int) -> list[bytes]:
        """Up to ``limit`` jobs due by ``now``, each leased for ``lease_s`` seconds."""
        claimed: list[bytes] = await self._claim(
            keys=[self.items, self.due], args=[now, now + lease_s, limit]
        )
        return claimed

    async def done(self, job_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.items, job_id)
            pipe.zrem(self.due, job_id)
            await pipe.execute()

    async def retry(self, job_id: str, raw: bytes, at: float) -> None:
        """The job (with its attempts counted in ``raw``) due again at ``at``."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.items, job_id, raw)
            pipe.zadd(self.due, {job_id: at})
            await pipe.execute()

    async def bury(self, job_id: str, raw: bytes) -> None:
        """Given up on: off the schedule, onto the dead list."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.items, job_id)
            pipe.zrem(self.due, job_id)
            pipe.rpush(self.dead, raw)
            await pipe.execute()
