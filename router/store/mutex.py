"""A short mutual exclusion across processes: one holder at a time for a named resource.

What provisioning needs around a LiveKit trunk: LiveKit has no unique trunk name (two first
imports at once would each make one) and its ``UpdateSIPInboundTrunk`` loads, changes and
stores without a lock (two updates at once can lose one). So every change to an
organization's trunk is made under ``mutex(redis, keys.trunk_mutex(org))``: ``SET NX PX``
with a token of our own, released only by its holder (compare and delete), expiring by itself
if the holder dies. A waiter retries with a short backoff until ``wait_s``, then gives up
with ``MutexBusy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from router.errors import RetryLater

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class MutexBusy(RetryLater):
    """Another process held the resource for longer than we could wait."""


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


@contextlib.asynccontextmanager
async def mutex(
    redis: Redis, key: str, *, hold_s: float = 30.0, wait_s: float = 15.0, renew: bool = False
) -> AsyncIterator[None]:
    """Hold ``key`` for the block (at most ``hold_s``, should we die holding it). With
    ``renew``, the hold is extended every third of ``hold_s`` while the block runs: a block
    may take as long as it needs, and a holder that dies lets go within ``hold_s``."""
    token = os.urandom(12).hex()
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait_s
    pause = 0.01
    while not await redis.set(key, token, nx=True, px=int(hold_s * 1000)):
        if loop.time() >= give_up:
            raise MutexBusy(f"{key} is held by another process")
        await asyncio.sleep(pause)  # a retry backoff while another process holds it
        pause = min(pause * 2, 0.2)
    renewer = asyncio.create_task(_renew(redis, key, token, hold_s)) if renew else None
    try:
        yield
    finally:
        if renewer is not None:
            renewer.cancel()
        await redis.eval(_RELEASE, 1, key, token)


async def _renew(redis: Redis, key: str, token: str, hold_s: float) -> None:
    while True:
        await asyncio.sleep(hold_s / 3)  # a heartbeat period, not a wait for an event
        await redis.eval(_RENEW, 1, key, token, int(hold_s * 1000))
