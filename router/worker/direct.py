"""The direct flow: a LiveKit SIP join with no carrier correlation id (SIP straight to LiveKit).

Under the call's lease, unless a final record already exists (a redelivered entry): decide on
the join's own facts and act on its room (``deciding.route_livekit_join``).
"""

from __future__ import annotations

from router.core import events
from router.core.records import CallRecord
from router.worker import deciding
from router.worker.services import Services


async def handle_join(
    svc: Services, event: events.LiveKitSipJoined, attempt: int
) -> CallRecord | None:
    return await svc.leases.exclusive(
        event.call_id,
        lambda r: r is not None,
        lambda _: deciding.route_livekit_join(svc, event, attempt),
    )
