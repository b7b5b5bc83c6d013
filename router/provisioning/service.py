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
from router.core.carrier_states import CarrierState, Provisioning
from router.core.models import INBOUND, OUTBOUND, PhoneNumber, now_iso
from router.core.sip_connections import SipConnection
from router.errors import NotFound, ProvisioningError, RemoteRefusal, ValidationError
from router.outbound.customer_trunks import CustomerTrunks
from router.outbound.livekit_sip import LiveKitSip
from router.outbound.sip_trunks import OutboundSpec, TrunkSpec
from router.provisioning.carriers.base import Carrier, refused
from router.store.mutex import MutexBusy
from router.store.orgs import Organizations
from router.store.provisioning import ProvisioningStates
from router.store.registry import Registry
from router.store.sip_connections import SipConnections

log = logs.get(__name__)
# Numbers that place calls through another source's carrier: a verified caller ID rides the
# account's Twilio trunk (reference: "rides the customer's existing shared Twilio trunk").
_RIDES = {"verified_caller_id": "twilio"}


class Provisioner:
    def __init__(
        self,
        sip: LiveKitSip,
        registry: Registry,
        orgs: Organizations,
        states: ProvisioningStates,
        carriers: dict[str, Carrier] | None = None,
        connections: SipConnections | None = None,
    ) -> None:
        self.sip, self.registry, self.orgs, self.states = sip, registry, orgs, states
        self.carriers = carriers or {}  # by the source of the numbers each serves
        self.connections = connections  # customers' own SIP connections
        self.customer = CustomerTrunks(sip)  # customers' own LiveKit trunks (sipTrunkId)

    async def check_import(self, row: PhoneNumber) -> PhoneNumber:
        """The row as it will be stored, once LiveKit (the trunk it names) and its carrier
        account have been asked."""
        await self.check_trunk(row)
        carrier = self.carrier_of(row)
        return row if carrier is None else await carrier.check_import(row)

    def carrier_of(self, row: PhoneNumber) -> Carrier | None:
        """The carrier side of the number: its source's, or for a managed number bought from
        LiveKit the LiveKit number's (bound to the organization's dispatch rule)."""
        if row.source == "managed" and row.sip_provider_name == "livekit":
            return self.carriers.get("livekit")
        return self.carriers.get(row.source)

    async def check_trunk(self, row: PhoneNumber) -> None:
        """The LiveKit inbound trunk the row names (``sipTrunkId``) exists: a 400 naming the
        field if LiveKit has none of that id."""
        if row.sip_trunk_id is not None:
            try:
                found = await self.sip.inbound_exists(row.sip_trunk_id)
            except ProvisioningError as exc:
                raise RemoteRefusal(str(exc)) from exc
            if not found:
                raise ValidationError(
                    f"sipTrunkId: LiveKit has no inbound trunk {row.sip_trunk_id}",
                    field="sipTrunkId",
                )

    async def number_written(self, old: PhoneNumber | None, new: PhoneNumber | None) -> None:
        """Bring LiveKit and the carrier in line with one number's write (import, PATCH,
        release)."""
        row = new or old
        assert row is not None
        wanted = new is not None and new.direction in INBOUND
        outbound, outbound_issue = None, None
        try:
            outbound = await self.outbound_of(new)
        except ProvisioningError as exc:  # the inbound side goes ahead; the issue is kept
            outbound_issue = str(exc)
        known = (await self.states.of([row])).get(row.id)
        held = known.carrier if known is not None else None
        carrier = self.carrier_of(row)
        org = row.organization_id
        try:
            if old is not None and old.direction in INBOUND:
                leaving = await self.place_of(old)
                if not wanted or leaving != await self.place_of(row):  # off its trunk
                    async with self.states.trunk_mutex(org):
                        await self._leave(leaving, old, known)
            leaving_out = await self.outbound_of(old) if old is not None else None
            if leaving_out is not None and leaving_out != outbound:
                async with self.states.trunk_mutex(org):
                    await self.sip.outbound_remove(leaving_out, old.e164 if old else "")
            state = None
            if wanted:
                place = await self.place_of(row)
                async with self.states.trunk_mutex(org):
                    trunk_id, added = await self._join(place, row, known)
                # On the trunk; whatever the carrier side said (its issue, or where the number
                # pointed before) stays in the state.
                seen = None
                if carrier is not None:
                    seen = await carrier.point(row, held, trunk_id)
                seen = seen or Provisioning(ok=True, checked_at="")
                state = msgspec.structs.replace(
                    seen, livekit_trunk_id=trunk_id, added_to_trunk=added
                )
            if outbound is not None:
                async with self.states.trunk_mutex(org):
                    out = await self.sip.outbound_add(outbound, row.e164)
                state = msgspec.structs.replace(
                    state or Provisioning(ok=True, checked_at=""),
                    livekit_outbound_trunk_id=out.sip_trunk_id,
                )
            if outbound_issue is not None:
                state = msgspec.structs.replace(
                    state or Provisioning(ok=True, checked_at=""), outbound_issue=outbound_issue
                )
            if state is not None:
                await self.states.save(row.id, msgspec.structs.replace(state, checked_at=now_iso()))
                return
            if carrier is not None and old is not None:
                await self._release(carrier, old, held)
            await self.states.forget(row.id)
        except (ProvisioningError, MutexBusy) as exc:
            metrics.PROVISIONING_FAILURES.labels("number").inc()
            log.warning("provisioning_failed", number=row.id, error=str(exc)[:300])
            if new is not None:
                failed = Provisioning(
                    ok=False,
                    issue=str(exc),
                    checked_at=now_iso(),
                    # what the router added to a customer's trunk is still its to take off
                    livekit_trunk_id=known.livekit_trunk_id if known else None,
                    added_to_trunk=known.added_to_trunk if known else False,
                )
                await self.states.save(new.id, failed)

    async def _join(
        self, place: TrunkSpec | str, row: PhoneNumber, known: Provisioning | None
    ) -> tuple[str, bool]:
        """The number on the trunk its calls come in on (under the organization's trunk
        mutex): that trunk's id, and whether the router added it to a customer's trunk."""
        org = row.organization_id
        if isinstance(place, str):  # the customer's own trunk
            added = await self.customer.join(place, org, row.e164)
            before = known is not None and known.livekit_trunk_id == place and known.added_to_trunk
            await self.registry.claim_trunk(place, org)
            return place, added or before  # a rewrite finds the number it added there
        trunk, _ = await self.sip.ensure(place, [row.e164])
        await self.registry.claim_trunk(trunk.sip_trunk_id, org)
        if row.e164 not in trunk.numbers:
            trunk = await self.sip.change(trunk.sip_trunk_id, add=[row.e164])
        return trunk.sip_trunk_id, False

    async def _leave(
        self, place: TrunkSpec | str, old: PhoneNumber, known: Provisioning | None
    ) -> None:
        """The number off the trunk its calls came in on (under the trunk mutex)."""
        org = old.organization_id
        if isinstance(place, str):
            rows, _ = await self.registry.by_trunk(place)
            others = [r for r in rows if r.id != old.id and await self.place_of(r) == place]
            added = known is not None and known.livekit_trunk_id == place and known.added_to_trunk
            await self.customer.leave(place, org, old.e164, added=added, last=not others)
            return
        found = await self.sip.trunk(place)
        if found is not None and old.e164 in found.numbers:
            await self.sip.remove(found, org, [old.e164])

    async def outbound_of(self, row: PhoneNumber | None) -> OutboundSpec | None:
        """The outbound trunk the number's calls go out on, when it allows outbound calls:
        its SIP connection's outbound side, else its carrier's (a Twilio number's, or a
        verified caller ID's, is the organization's Elastic SIP Trunk)."""
        if row is None or row.direction not in OUTBOUND:
            return None
        if row.sip_connection_installation_id is None:
            carrier = self.carriers.get(_RIDES.get(row.source, row.source))
            return None if carrier is None else await carrier.outbound(row)
        if self.connections is None:
            return None
        found = await self.connections.find(row.sip_connection_installation_id)
        if found is None or found.outbound is None:
            return None
        return await self.outbound_spec(found)

    async def outbound_spec(self, found: SipConnection) -> OutboundSpec | None:
        assert self.connections is not None
        if found.outbound is None:
            return None
        secrets = await self.connections.secrets(found.id)
        return OutboundSpec(
            org=found.organization_id,
            connection=found.id,
            address=found.outbound.address,
            transport=found.outbound.transport,
            username=found.outbound.username or "",
            password=secrets.outbound_password or "",
        )

    async def connection_changed(self, connection: SipConnection) -> None:
        """A SIP connection's settings changed: its trunk (if it has numbers, it has one)
        follows now; a refusal is logged and left to be seen on the number's next write."""
        if self.connections is None:
            return
        org = connection.organization_id
        try:
            spec = await self.connection_spec(connection)
            async with self.states.trunk_mutex(org):
                trunk = await self.sip.trunk(spec)
                if trunk is not None:
                    await self.sip.follow(trunk, spec)
                if (outbound := await self.outbound_spec(connection)) is not None:
                    await self.sip.outbound_follow(outbound)
                else:  # its outbound side taken away: the trunk goes, its numbers are off it
                    gone = OutboundSpec(org=org, connection=connection.id, address="")
                    if await self.sip.outbound_drop(gone):
                        await self._off_outbound(connection)
        except (ProvisioningError, MutexBusy) as exc:
            metrics.PROVISIONING_FAILURES.labels("connection").inc()
            log.warning("provisioning_failed", connection=connection.id, error=str(exc)[:300])

    async def _off_outbound(self, connection: SipConnection) -> None:
        """The connection's numbers are on no outbound trunk any more (their states say so)."""
        rows = await self.registry.numbers_of(connection.organization_id, connection.id)
        for row, state in (await self.states.of(rows)).items():
            if state.livekit_outbound_trunk_id is not None:
                cleared = msgspec.structs.replace(state, livekit_outbound_trunk_id=None)
                await self.states.save(row, cleared)

    async def managed(self, org: str) -> TrunkSpec:
        """The organization's managed trunk, as its allowed addresses say it must be."""
        return TrunkSpec(org=org, allowed_addresses=tuple(await self.addresses(org)))

    async def place_of(self, row: PhoneNumber) -> TrunkSpec | str:
        """The trunk the number's calls come in on: its SIP connection's, else the customer's
        own trunk it names (``sipTrunkId``: that trunk's id), else the organization's managed
        one."""
        if row.sip_connection_installation_id is None and row.sip_trunk_id is not None:
            return row.sip_trunk_id
        return await self.spec_of(row)

    async def spec_of(self, row: PhoneNumber) -> TrunkSpec:
        """The router's own trunk for the number: its SIP connection's, else the
        organization's managed one."""
        connection_id = row.sip_connection_installation_id
        if connection_id is None or self.connections is None:
            return await self.managed(row.organization_id)
        found = await self.connections.find(connection_id)
        if found is None:
            raise ProvisioningError(f"the number's SIP connection {connection_id} is gone")
        return await self.connection_spec(found)

    async def connection_spec(self, found: SipConnection) -> TrunkSpec:
        assert self.connections is not None
        secrets = await self.connections.secrets(found.id)
        return TrunkSpec(
            org=found.organization_id,
            connection=found.id,
            allowed_addresses=tuple(found.inbound.allowed_addresses),
            username=found.inbound.username or "",
            password=secrets.inbound_password or "",
            media_encryption=found.inbound.media_encryption,
            pin=secrets.pin or "",
        )

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
                spec = await self.managed(org)
                trunk = await self.sip.trunk(spec)
                if trunk is not None:
                    await self.sip.set_addresses(trunk, spec.allowed_addresses)
        except (ProvisioningError, MutexBusy) as exc:
            metrics.PROVISIONING_FAILURES.labels("addresses").inc()
            log.warning("provisioning_failed", organization=org, error=str(exc)[:300])
