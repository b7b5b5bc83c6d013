"""Numbers wired into LiveKit by the router itself (``outbound.livekit_sip``): each write of a
number adds it to, or removes it from, its organization's managed inbound trunk, and its
carrier (``provisioning.carriers``) sends its calls there; what LiveKit and the carrier
answered is kept per number (``store.provisioning``) and is what ``setupStatus`` shows. A
failure never loses the row: it is saved with the issue and the next reconcile pass
(``provisioning.reconcile``) retries.
"""

from __future__ import annotations

import msgspec

from router import logs, metrics
from router.core.models import INBOUND, CarrierState, PhoneNumber, Provisioning, now_iso
from router.errors import NotFound, ProvisioningError
from router.outbound.livekit_sip import LiveKitSip
from router.provisioning.carriers.base import Carrier, refused
from router.store.mutex import MutexBusy
from router.store.orgs import Organizations
from router.store.provisioning import ProvisioningStates
from router.store.registry import Registry

log = logs.get(__name__)


class Provisioner:
    def __init__(
        self,
        sip: LiveKitSip,
        registry: Registry,
        orgs: Organizations,
        states: ProvisioningStates,
        carriers: dict[str, Carrier] | None = None,
    ) -> None:
        self.sip, self.registry, self.orgs, self.states = sip, registry, orgs, states
        self.carriers = carriers or {}  # by the source of the numbers each serves

    async def check_import(self, row: PhoneNumber) -> PhoneNumber:
        """The row as it will be stored, once its carrier account has been asked."""
        carrier = self.carriers.get(row.source)
        return row if carrier is None else await carrier.check_import(row)

    async def number_written(self, old: PhoneNumber | None, new: PhoneNumber | None) -> None:
        """Bring LiveKit and the carrier in line with one number's write (import, PATCH,
        release)."""
        row = new or old
        assert row is not None
        wanted = new is not None and new.direction in INBOUND
        known = (await self.states.of([row])).get(row.id)
        held = known.carrier if known is not None else None
        carrier = self.carriers.get(row.source)
        org = row.organization_id
        try:
            if wanted:
                async with self.states.trunk_mutex(org):
                    addresses = await self.addresses(org)
                    trunk, _ = await self.sip.ensure(org, [row.e164], addresses)
                    await self.registry.claim_trunk(trunk.sip_trunk_id, org)
                    if row.e164 not in trunk.numbers:
                        trunk = await self.sip.change(trunk.sip_trunk_id, add=[row.e164])
                # On the trunk; whatever the carrier side said (its issue, or where the number
                # pointed before) stays in the state.
                seen = None
                if carrier is not None:
                    seen = await carrier.point(row, held, trunk.sip_trunk_id)
                seen = seen or Provisioning(ok=True, checked_at="")
                await self.states.save(
                    row.id,
                    msgspec.structs.replace(
                        seen, livekit_trunk_id=trunk.sip_trunk_id, checked_at=now_iso()
                    ),
                )
                return
            if carrier is not None and old is not None:
                await self._release(carrier, old, held)
            if old is not None and old.direction in INBOUND:
                async with self.states.trunk_mutex(org):
                    found = await self.sip.trunk(org)
                    if found is not None and row.e164 in found.numbers:
                        await self.sip.remove(found, org, [row.e164])
            await self.states.forget(row.id)
        except (ProvisioningError, MutexBusy) as exc:
            metrics.PROVISIONING_FAILURES.labels("number").inc()
            log.warning("provisioning_failed", number=row.id, error=str(exc)[:300])
            if new is not None:
                failed = Provisioning(ok=False, issue=str(exc), checked_at=now_iso())
                await self.states.save(new.id, failed)

    async def _release(self, carrier: Carrier, row: PhoneNumber, held: CarrierState | None) -> None:
        """The carrier told to send the number's calls where they went before; a refusal is
        counted and logged (the row goes either way)."""
        try:
            await carrier.release(row, held)
        except ProvisioningError as exc:
            refused(carrier.source, exc)
            log.warning("carrier_release_failed", number=row.id, error=str(exc)[:300])

    async def addresses(self, org: str) -> list[str]:
        """Where the organization's carrier sends SIP from (its trunk takes calls from these
        only; none: from anywhere)."""
        try:
            return (await self.orgs.get(org)).sip_allowed_addresses
        except NotFound:
            return []

    async def addresses_changed(self, org: str) -> None:
        """The organization's allowed addresses changed: its trunk (if any) follows now; a
        refusal is logged and left to the next reconcile, which reports and repairs it."""
        try:
            async with self.states.trunk_mutex(org):
                trunk = await self.sip.trunk(org)
                if trunk is not None:
                    await self.sip.set_addresses(trunk, await self.addresses(org))
        except (ProvisioningError, MutexBusy) as exc:
            metrics.PROVISIONING_FAILURES.labels("addresses").inc()
            log.warning("provisioning_failed", organization=org, error=str(exc)[:300])
