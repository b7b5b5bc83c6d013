"""Numbers bought from LiveKit (``source: livekit``): bound to the organization's dispatch
rule (LiveKit lists an unbound one OFFLINE), and unbound when they leave the router."""

from __future__ import annotations

from router.core.carrier_states import CarrierState, LiveKitNumber, Provisioning
from router.core.models import PhoneNumber
from router.errors import ProvisioningError
from router.outbound.livekit_numbers import ACTIVE, LiveKitNumbers
from router.outbound.livekit_sip import LiveKitSip
from router.outbound.sip_trunks import OutboundSpec
from router.provisioning.carriers.base import CarrierContext, pointed, refused
from router.store.integrations import Credentials


class LiveKitCarrier:
    source = "livekit"
    repoints = False  # bound with the trunk step; a reconcile's fix adds it to the trunk

    def __init__(self, sip: LiveKitSip, numbers: LiveKitNumbers) -> None:
        self.sip, self.numbers = sip, numbers

    async def check_import(self, row: PhoneNumber) -> PhoneNumber:
        return row

    async def prepare(self, org: str, credentials: Credentials) -> Credentials:
        return credentials

    async def point(
        self, row: PhoneNumber, held: CarrierState | None, trunk_id: str
    ) -> Provisioning | None:
        """Bound to the organization's dispatch rule: its status as LiveKit reads it back."""
        try:
            rule = await self.sip.rule(trunk_id, row.organization_id)
            if rule is None:
                raise ProvisioningError("the organization's dispatch rule is missing")
            bound = await self.numbers.bind(row.e164, rule.sip_dispatch_rule_id)
        except ProvisioningError as exc:
            return refused("number", exc)
        if bound.status != ACTIVE or rule.sip_dispatch_rule_id not in bound.sip_dispatch_rule_ids:
            return Provisioning(
                ok=False,
                checked_at="",
                issue=(
                    f"LiveKit lists {row.e164} as {bound.status_word}, bound to "
                    f"{', '.join(bound.sip_dispatch_rule_ids) or 'no dispatch rule'}: it takes "
                    "calls once LiveKit shows it active on the organization's rule"
                ),
            )
        if not bound.id:
            return Provisioning(ok=True, checked_at="")
        return pointed(LiveKitNumber(phone_number_id=bound.id))

    async def release(self, row: PhoneNumber, held: CarrierState | None) -> None:
        try:
            await self.numbers.bind(row.e164, "")  # no longer the organization's calls
        except ProvisioningError as exc:
            if exc.status != 404:  # not the project's any more (released): nothing to unbind
                raise

    async def drift(self, row: PhoneNumber, held: CarrierState, *, fix: bool) -> str | None:
        return None

    async def outbound(self, row: PhoneNumber) -> OutboundSpec | None:
        return None  # outbound calls ride a SIP connection (sipConnectionInstallationId)


def build(context: CarrierContext) -> LiveKitCarrier | None:
    """With LiveKit provisioned by the router (its server API configured)."""
    if context.livekit_sip is None or context.livekit_numbers is None:
        return None
    return LiveKitCarrier(context.livekit_sip, context.livekit_numbers)
