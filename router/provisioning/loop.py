"""The reconcile pass in the background of worker processes: every ``ROUTER_RECONCILE_S``,
by whichever process takes the lease first (one pass at a time across them)."""

from __future__ import annotations

import asyncio
import secrets

from router import logs
from router.provisioning.reconcile import Reconciler

log = logs.get(__name__)


async def reconcile_loop(reconciler: Reconciler, every_s: float, fix: bool) -> None:
    holder = secrets.token_hex(8)
    states = reconciler.provisioner.states
    while True:
        await asyncio.sleep(every_s)  # a period, not a wait for something to happen
        try:
            if await states.lease(holder, every_s):
                report = await reconciler.reconcile(fix=fix)
                log.info("reconciled", drift=report.drift, fix=fix)
        except Exception:  # a pass that failed is retried at the next period
            log.exception("reconcile_failed")
