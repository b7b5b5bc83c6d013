"""What every carrier module is built from and answers: the ``Carrier`` protocol."""

from __future__ import annotations

from typing import Protocol

import aiohttp
import msgspec

from router import metrics
from router.config import Config
from router.core.carrier_states import CarrierState, Provisioning
from router.core.models import PhoneNumber, now_iso
from router.errors import ProvisioningError
from router.outbound.livekit_numbers import LiveKitNumbers
from router.outbound.livekit_sip import LiveKitSip
from router.outbound.sip_trunks import OutboundSpec
from router.store.integrations import Credentials, Integrations


class Carrier(Protocol):
    """One carrier's side of provisioning, for the numbers whose ``source`` it names."""

    source: str
    # A number never pointed (the carrier refused at import) is pointed by a reconcile with
    # fix. False: the carrier side is made with the trunk step only.
    repoints: bool

    async def check_import(self, row: PhoneNumber) -> PhoneNumber:
        """The row as it will be stored, once the carrier's account has been asked (a
        ``ValidationError`` naming the field when the number is not there)."""
        ...

    async def prepare(self, org: str, credentials: Credentials) -> Credentials:
        """An integration of this carrier as it will be kept."""
        ...

    async def point(
        self, row: PhoneNumber, held: CarrierState | None, trunk_id: str
    ) -> Provisioning | None:
        """The number's calls sent to the router (``trunk_id``: the organization's LiveKit
        inbound trunk); ``held``: what the router did before. None: not a number the router
        wires at this carrier; ``ok`` False: the carrier's refusal, in its words."""
        ...

    async def release(self, row: PhoneNumber, held: CarrierState | None) -> None:
        """Put back what ``point`` changed (the number is leaving the router; ``held``: what
        the router did there, None: nothing known)."""
        ...

    async def drift(self, row: PhoneNumber, held: CarrierState, *, fix: bool) -> str | None:
        """Pointed elsewhere since (by hand), in words a user can act on; put back with fix."""
        ...

    async def outbound(self, row: PhoneNumber) -> OutboundSpec | None:
        """The outbound trunk the number places calls on through this carrier (None: none;
        ``ProvisioningError``: the carrier refused to set it up)."""
        ...


class CarrierContext(msgspec.Struct, frozen=True):
    """What a carrier may be built from."""

    config: Config
    session: aiohttp.ClientSession
    integrations: Integrations | None
    livekit_sip: LiveKitSip | None = None
    livekit_numbers: LiveKitNumbers | None = None

    @property
    def public_base(self) -> str | None:
        """The router's address as carriers must call it (``ROUTER_PUBLIC_URL``)."""
        return self.config.http.public_url.rstrip("/") if self.config.http.public_url else None


def refused(step: str, exc: ProvisioningError) -> Provisioning:
    """A carrier step that failed: counted, and kept on the number in the refuser's words."""
    metrics.PROVISIONING_FAILURES.labels(step).inc()
    return Provisioning(ok=False, issue=str(exc), checked_at=now_iso())


def pointed(state: CarrierState) -> Provisioning:
    return Provisioning(ok=True, checked_at=now_iso(), carrier=state)
