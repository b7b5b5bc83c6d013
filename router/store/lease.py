"""The per-call lease: exactly one worker acts on a call at a time.

Whoever acts on a call holds its lease (``SET NX PX``) and re-reads the record under it; a
call whose record says it is done is left alone. The lease is short (``ROUTER_LEASE_S``)
and renewed every ``ROUTER_LEASE_RENEW_S`` while its holder works — by one keeper task that renews
every lease the process holds in one batch — so a worker that dies frees its calls within
seconds. Taking the lease and reading the record is one script; writing the new record and
releasing the lease is another (both in the call's slot): two round trips per call.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from router import logs
from router.core.records import CallRecord
from router.errors import RetryLater
from router.store import keys
from router.store.batching import Batcher
from router.store.calls import CallStore

log = logs.get(__name__)
# A lease's token names its holder: this process (random, so distinct across hosts and
# restarts) and a serial number (distinct within it). Not a secret, only never reused.
_HOLDER = os.urandom(8).hex()
_serial = itertools.count(1)


def _new_holder() -> None:  # a forked child is another holder
    global _HOLDER
    _HOLDER = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_holder)

_RELEASE = """
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  redis.call('PUBLISH', ARGV[4], ARGV[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Take the call's lease and read its record in one round trip (same slot).
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, false} end
return {1, redis.call('GET', KEYS[2])}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class LeaseBusy(RetryLater):
    """Another worker is deciding this call right now: leave the entry pending."""


class Leases:
    def __init__(self, redis: Redis, batcher: Batcher, *, lease_ms: int, renew_s: float) -> None:
        self.batcher = batcher
        self.lease_ms, self.renew_s = lease_ms, renew_s  # ROUTER_LEASE_S, ROUTER_LEASE_RENEW_S
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)
        self._acquire = redis.register_script(_ACQUIRE)
        self._held: dict[str, str] = {}  # lease key -> our token, while we work on the call
        self._keeper: asyncio.Task[None] | None = None

    async def exclusive(
        self,
        call_id: str,
        done: Callable[[CallRecord | None], bool],
        act: Callable[[CallRecord | None], Awaitable[CallRecord | None]],
    ) -> CallRecord | None:
        """Run ``act`` on the call's current record under its lease, unless ``done`` says so;
        the record ``act`` returns is written as the lease is released."""
        lease_key, token = keys.dispatch_lease(call_id), f"{_HOLDER}-{next(_serial)}"
        acquired, raw = await self.batcher.script(
            self._acquire, [lease_key, keys.call_record(call_id)], [token, self.lease_ms]
        )
        if not acquired:
            raise LeaseBusy(f"call {call_id} is being handled by another worker")
        self._hold(lease_key, token)
        record: CallRecord | None = None
        try:
            existing = CallStore.decode(raw) if raw else None
            if done(existing):
                log.info("call_already_handled", status=existing.status if existing else None)
                return existing
            record = await act(existing)
            return record
        finally:
            self._held.pop(lease_key, None)
            # Only our own lease is deleted: one that expired and was taken over is not ours.
            await self.batcher.script(
                self._release,
                [lease_key, keys.call_record(call_id)],
                [
                    token,
                    CallStore.encode(record) if record is not None else b"",
                    keys.CALL_RECORD_TTL_S,
                    keys.CALLS_CHANNEL,
                ],
            )

    def _hold(self, lease_key: str, token: str) -> None:
        self._held[lease_key] = token
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_leases(), name="lease-keeper")

    async def _keep_leases(self) -> None:
        """Renew every lease this process holds, all in one batch, until it holds none."""
        while self._held:
            await asyncio.sleep(self.renew_s)
            held = list(self._held.items())
            renewals = [
                self.batcher.script(self._renew, [key], [token, self.lease_ms])
                for key, token in held
            ]
            for (key, _), result in zip(
                held, await asyncio.gather(*renewals, return_exceptions=True), strict=True
            ):
                if isinstance(result, BaseException):
                    log.warning("lease_renew_failed", lease=key, error=repr(result))
