"""Each organization's request budget on the admin API: a token bucket in Redis, so every web
process draws from the same one. ``burst`` requests at once, refilled at ``rate`` a second;
the clock is Redis's own (``TIME``), so web processes' clocks need not agree."""

from __future__ import annotations

from redis.asyncio import Redis

from router.store import keys

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RateLimiter:
    def __init__(self, redis: Redis, rate_per_s: float, burst: int) -> None:
        self.rate_per_s, self.burst = rate_per_s, burst
        self._take = redis.register_script(_TAKE)

    async def take(self, organization: str) -> float:
        """Spend one request of the organization's budget: 0 if it may go ahead, else the
        seconds until it may."""
        wait = await self._take(
            keys=[keys.rate_bucket(organization)], args=[self.rate_per_s, self.burst]
        )
        return float(wait)
