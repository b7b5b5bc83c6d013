"""A reconcile pass: every organization's inbound numbers against its trunk and rule at
LiveKit — trunk or rule missing (deleted by hand), numbers missing or extra (edited by hand),
twin trunks, allowed addresses — and each carrier number against where its carrier sends it.
It reports the drift and, with ``fix``, repairs it. It runs from
``POST /v1/provisioning/reconcile`` (``python -m router numbers reconcile [--fix]``) and in
the background of worker processes (``provisioning.loop``).
"""

from __future__ import annotations

import msgspec

from router import metrics
from router.core.carrier_states import Provisioning
from router.core.models import INBOUND, OUTBOUND, PhoneNumber, now_iso
from router.core.sip_connections import SipConnection
from router.errors import ProvisioningError
from router.outbound.customer_trunks import holds
from router.outbound.sip_trunks import OutboundSpec
from router.provisioning.billing import Biller, BillingReport
from router.provisioning.carriers.twilio import TWILIO_OUTBOUND
from router.provisioning.service import Provisioner
from router.store.mutex import MutexBusy


class OrgDrift(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    organization_id: str
    trunk_id: str | None = None
    trunk_missing: bool = False
    rule_missing: bool = False
    missing: list[str] = msgspec.field(default_factory=list)  # rows' numbers not on the trunk
    extra: list[str] = msgspec.field(default_factory=list)  # on the trunk, not a row's
    carrier: list[str] = msgspec.field(default_factory=list)  # carrier numbers pointed elsewhere
    duplicates: int = 0  # managed trunks beyond the first (made twice at once): merged by fix
    addresses_differ: bool = False  # the trunk's allowed addresses are not the organization's
    # SIP connections' trunks that are not what their connection and numbers say, in words
    connections: list[str] = msgspec.field(default_factory=list)
    # customers' own trunks (sipTrunkId) a number or the dispatch rule is missing from
    customer_trunks: list[str] = msgspec.field(default_factory=list)
    fixed: bool = False
    error: str | None = None


class Report(msgspec.Struct, rename="camel", kw_only=True):
    checked_at: str
    fix: bool
    organizations: list[OrgDrift]
    # open purchases this pass carried to their end (``<org>:<Idempotency-Key>``)
    purchases_finished: list[str] = msgspec.field(default_factory=list)
    billing: BillingReport | None = None  # bought numbers charged, suspended, released

    @property
    def drift(self) -> bool:
        return any(
            o.trunk_missing
            or o.rule_missing
            or o.missing
            or o.extra
            or o.carrier
            or o.duplicates
            or o.addresses_differ
            or o.connections
            or o.customer_trunks
            or o.error
            for o in self.organizations
        )


class Reconciler:
    def __init__(self, provisioner: Provisioner, biller: Biller | None = None) -> None:
        self.provisioner = provisioner
        # Bought numbers: each pass carries open orders on and brings billing up to date.
        self.biller = biller

    async def reconcile(self, *, fix: bool) -> Report:
        finished, billing = [], None
        if self.biller is not None:
            finished = await self.biller.purchaser.resume()
            billing = await self.biller.bill()
        results = []
        for org in await self.provisioner.orgs.all():
            results.append(await self._reconcile_org(org.id, fix=fix))
        report = Report(
            checked_at=now_iso(), fix=fix, organizations=results,
            purchases_finished=finished, billing=billing,
        )  # fmt: skip
        for drift in results:
            for kind, count in (
                ("trunk_missing", int(drift.trunk_missing)),
                ("rule_missing", int(drift.rule_missing)),
                ("missing_number", len(drift.missing)),
                ("extra_number", len(drift.extra)),
                ("carrier_pointed_elsewhere", len(drift.carrier)),
                ("connection_trunk", len(drift.connections)),
                ("customer_trunk", len(drift.customer_trunks)),
            ):
                if count:
                    metrics.PROVISIONING_DRIFT.labels(kind).inc(count)
        return report

    async def _reconcile_org(self, org: str, *, fix: bool) -> OrgDrift:
        try:
            async with self.provisioner.states.trunk_mutex(org):
                drift, rows = await self._reconcile_trunk(org, fix=fix)
                found = await self._reconcile_connections(org, fix=fix)
                customer = await self._reconcile_customer_trunks(org, fix=fix)
        except (ProvisioningError, MutexBusy) as exc:
            metrics.PROVISIONING_FAILURES.labels("reconcile").inc()
            return OrgDrift(organization_id=org, error=str(exc))
        if found:
            drift = msgspec.structs.replace(drift, connections=found, fixed=fix or drift.fixed)
        if customer:
            drift = msgspec.structs.replace(
                drift, customer_trunks=customer, fixed=fix or drift.fixed
            )
        return await self._reconcile_rows(org, drift, rows, fix=fix)

    async def _reconcile_connections(self, org: str, *, fix: bool) -> list[str]:
        """Each SIP connection's inbound and outbound trunks against its numbers and settings
        (under the organization's trunk mutex): what differs, in words; repaired with fix."""
        connections = self.provisioner.connections
        if connections is None:
            return []
        sip, found = self.provisioner.sip, []
        rows = await self.provisioner.registry.numbers_of(org)
        for connection in await connections.of(org):
            mine = [r for r in rows if r.sip_connection_installation_id == connection.id]
            inbound = sorted(r.e164 for r in mine if r.direction in INBOUND)
            spec = await self.provisioner.connection_spec(connection)
            trunk = await sip.trunk(spec)
            on = set(trunk.numbers) if trunk is not None else set()
            if set(inbound) != on:
                found.append(
                    f"{connection.id}: its inbound trunk holds {sorted(on) or 'nothing'}, its "
                    f"numbers are {inbound or 'none'}"
                )
                if fix:
                    if trunk is not None and not inbound:
                        await sip.retire(trunk, org)
                    elif trunk is None:
                        await sip.ensure(spec, inbound)
                    else:
                        await sip.change(
                            trunk.sip_trunk_id,
                            add=sorted(set(inbound) - on),
                            remove=sorted(on - set(inbound)),
                        )
            if trunk is not None and inbound and spec.differs(trunk):
                found.append(
                    f"{connection.id}: its inbound trunk's addresses, credentials or media "
                    "encryption are not the connection's"
                )
            current = await sip.trunk(spec) if fix and inbound else None
            if current is not None:
                await sip.follow(current, spec)  # its settings, field by field
            found += await self._reconcile_outbound(org, connection, mine, fix=fix)
        return found + await self._reconcile_twilio_outbound(org, rows, fix=fix)

    async def _reconcile_customer_trunks(self, org: str, *, fix: bool) -> list[str]:
        """Each number on a customer's own trunk (``sipTrunkId``) against that trunk: the
        number on it, a dispatch rule covering it (under the organization's trunk mutex);
        what is missing, in words; added back with fix."""
        found: list[str] = []
        customer = self.provisioner.customer
        rows = [
            r
            for r in await self.provisioner.registry.numbers_of(org)
            if r.direction in INBOUND and isinstance(await self.provisioner.place_of(r), str)
        ]
        states = await self.provisioner.states.of(rows)
        for row in rows:
            trunk_id = row.sip_trunk_id or ""
            trunk = await customer.find(trunk_id)
            if trunk is None:
                found.append(
                    f"{row.e164}: LiveKit has no inbound trunk {trunk_id} (its sipTrunkId)"
                )
                continue
            missing = (
                [] if holds(trunk, row.e164) else [f"{row.e164} is not on its trunk {trunk_id}"]
            )
            if not await customer.covered(trunk_id):
                missing.append(f"{row.e164}: no dispatch rule covers its trunk {trunk_id}")
            found += missing
            if fix and missing:
                added = await customer.join(trunk_id, org, row.e164)
                known = states.get(row.id) or Provisioning(ok=True, checked_at="")
                await self.provisioner.states.save(
                    row.id,
                    msgspec.structs.replace(
                        known,
                        livekit_trunk_id=trunk_id,
                        added_to_trunk=added or known.added_to_trunk,
                        checked_at=now_iso(),
                    ),
                )
        return found

    async def _reconcile_outbound(
        self, org: str, connection: SipConnection, mine: list[PhoneNumber], *, fix: bool
    ) -> list[str]:
        """A SIP connection's outbound trunk against its numbers allowing outbound calls."""
        spec = await self.provisioner.outbound_spec(connection)
        name_only = spec or OutboundSpec(org=org, connection=connection.id, address="")
        wanted = [r for r in mine if r.direction in OUTBOUND] if spec else []
        return await self._outbound_trunk(connection.id, name_only, spec, wanted, fix=fix)

    async def _reconcile_twilio_outbound(
        self, org: str, rows: list[PhoneNumber], *, fix: bool
    ) -> list[str]:
        """The outbound trunk to the organization's Twilio trunk against its Twilio numbers
        and verified caller IDs allowing outbound calls."""
        wanted = [
            r
            for r in rows
            if r.direction in OUTBOUND
            and r.sip_connection_installation_id is None
            and r.source in ("twilio", "verified_caller_id")
        ]
        twilio = self.provisioner.carriers.get("twilio")
        spec = await twilio.outbound(wanted[0]) if wanted and twilio is not None else None
        name_only = spec or OutboundSpec(org=org, connection=TWILIO_OUTBOUND, address="")
        return await self._outbound_trunk(
            "Twilio", name_only, spec, wanted if spec else [], fix=fix
        )

    async def _outbound_trunk(
        self,
        label: str,
        name_only: OutboundSpec,
        spec: OutboundSpec | None,
        rows: list[PhoneNumber],
        *,
        fix: bool,
    ) -> list[str]:
        """One outbound trunk against the numbers that should be on it: what differs, in
        words; with fix, the trunk made to hold them (and their states saying so)."""
        sip = self.provisioner.sip
        wanted = sorted(r.e164 for r in rows)
        trunk = await sip.outbound_trunk(name_only)
        on = sorted(trunk.numbers) if trunk is not None else []
        if wanted == on:
            if trunk is not None and spec is not None and fix:
                await sip.outbound_follow(spec)
            return []
        if fix:
            if not wanted:
                await sip.outbound_drop(name_only)
                if trunk is not None:
                    await self._off_outbound(name_only.org, trunk.sip_trunk_id)
            else:
                assert spec is not None
                for number in wanted:
                    trunk = await sip.outbound_add(spec, number)
                for number in sorted(set(on) - set(wanted)):
                    await sip.outbound_remove(spec, number)
                assert trunk is not None
                await self._on_outbound(rows, trunk.sip_trunk_id)
        return [
            f"{label}: its outbound trunk holds {on or 'nothing'}, its numbers "
            f"allowing outbound calls are {wanted or 'none'}"
        ]

    async def _off_outbound(self, org: str, trunk_id: str) -> None:
        """No number's state says it is on the (deleted) outbound trunk any more."""
        rows = await self.provisioner.registry.numbers_of(org)
        for number, state in (await self.provisioner.states.of(rows)).items():
            if state.livekit_outbound_trunk_id == trunk_id:
                cleared = msgspec.structs.replace(state, livekit_outbound_trunk_id=None)
                await self.provisioner.states.save(number, cleared)

    async def _on_outbound(self, rows: list[PhoneNumber], trunk_id: str) -> None:
        """The numbers' states say the outbound trunk they are on now."""
        states = await self.provisioner.states.of(rows)
        for row in rows:
            known = states.get(row.id) or Provisioning(ok=True, checked_at="")
            await self.provisioner.states.save(
                row.id,
                msgspec.structs.replace(
                    known, livekit_outbound_trunk_id=trunk_id, outbound_issue=None,
                    checked_at=now_iso(),
                ),
            )  # fmt: skip

    async def _reconcile_trunk(self, org: str, *, fix: bool) -> tuple[OrgDrift, list[PhoneNumber]]:
        """The organization's managed trunk and rule against its rows (under its trunk mutex);
        numbers on a SIP connection are on that connection's trunk, not this one."""
        # LiveKit first, the rows second: a number imported meanwhile is a row before it is
        # on the trunk, so it is never taken for an extra one.
        spec = await self.provisioner.managed(org)
        trunks = await self.provisioner.sip.trunks(spec)
        duplicates = 0
        if len(trunks) > 1 and fix:
            # Made twice before writes were serialized: keep the one with the most numbers,
            # delete the others (their numbers are then missing, and added to the kept one).
            trunks.sort(key=lambda t: len(t.numbers), reverse=True)
            for extra in trunks[1:]:
                await self.provisioner.sip.retire(extra, org)
            duplicates, trunks = len(trunks) - 1, trunks[:1]
        trunk = trunks[0] if trunks else None
        if trunk is not None:
            await self.provisioner.registry.claim_trunk(trunk.sip_trunk_id, org)
        rows = [
            r
            for r in await self.provisioner.registry.numbers_of(org)
            if r.direction in INBOUND
            and r.sip_connection_installation_id is None
            and r.sip_trunk_id is None  # on the customer's own trunk
        ]
        wanted = {r.e164 for r in rows}
        addresses = list(spec.allowed_addresses)
        if trunk is None:
            drift = OrgDrift(organization_id=org, trunk_missing=bool(wanted))
            if fix and wanted:
                trunk, _ = await self.provisioner.sip.ensure(spec, sorted(wanted))
                await self.provisioner.registry.claim_trunk(trunk.sip_trunk_id, org)
                drift = msgspec.structs.replace(drift, trunk_id=trunk.sip_trunk_id, fixed=True)
            return msgspec.structs.replace(drift, duplicates=duplicates), rows
        on_trunk = set(trunk.numbers)
        rule = await self.provisioner.sip.rule(trunk.sip_trunk_id, org)
        drift = OrgDrift(
            organization_id=org,
            trunk_id=trunk.sip_trunk_id,
            rule_missing=rule is None,
            missing=sorted(wanted - on_trunk),
            extra=sorted(on_trunk - wanted),
            duplicates=duplicates if fix else len(trunks) - 1,
            addresses_differ=set(trunk.allowed_addresses) != set(addresses),
        )
        if fix and drift.addresses_differ:
            trunk = await self.provisioner.sip.set_addresses(trunk, addresses)
            drift = msgspec.structs.replace(drift, fixed=True)
        if fix and (drift.missing or drift.extra or drift.rule_missing):
            if drift.missing:
                await self.provisioner.sip.change(
                    trunk.sip_trunk_id, add=drift.missing, remove=drift.extra
                )
            elif drift.extra:  # the last numbers going: the trunk may have to go with them
                await self.provisioner.sip.remove(trunk, org, drift.extra)
            if drift.rule_missing and wanted:
                await self.provisioner.sip.ensure(spec, [])
            drift = msgspec.structs.replace(drift, fixed=True)
        return drift, rows

    async def _reconcile_rows(
        self, org: str, drift: OrgDrift, rows: list[PhoneNumber], *, fix: bool
    ) -> OrgDrift:
        """Each row's state: on LiveKit or not, and its carrier side."""
        on_livekit = fix or not (drift.trunk_missing or drift.missing)
        states = await self.provisioner.states.of(rows)
        carrier: list[str] = []
        for row in rows:
            known = states.get(row.id)
            held = known.carrier if known is not None else None
            issue = None
            if not on_livekit and row.e164 in drift.missing:
                issue = (
                    f"{row.e164} is not on the organization's LiveKit inbound trunk "
                    f"({drift.trunk_id or 'missing'}): run a reconcile with fix"
                )
            side = self.provisioner.carrier_of(row)
            elsewhere = None
            try:
                if side is not None and side.repoints and held is None:
                    # Never pointed (the carrier refused at import): point it now, with fix.
                    elsewhere = known.issue if known is not None and known.issue else None
                    if fix:
                        pointed = await side.point(row, None, drift.trunk_id or "")
                        if pointed is not None and pointed.ok:
                            held, elsewhere = pointed.carrier, None
                        elif pointed is not None:
                            elsewhere = issue = pointed.issue
                elif side is not None and held is not None:
                    elsewhere = await side.drift(row, held, fix=fix)
            except ProvisioningError as exc:
                elsewhere, issue = str(exc), issue or str(exc)
            if elsewhere:
                carrier.append(f"{row.e164}: {elsewhere}")
                if not fix:
                    issue = issue or elsewhere
            await self.provisioner.states.save(
                row.id,
                msgspec.structs.replace(
                    # its outbound side is the outbound trunks' pass's
                    known or Provisioning(ok=True, checked_at=""),
                    livekit_trunk_id=drift.trunk_id,
                    ok=issue is None,
                    issue=issue,
                    checked_at=now_iso(),
                    carrier=held,
                ),
            )
        if carrier:
            drift = msgspec.structs.replace(drift, carrier=carrier, fixed=fix or drift.fixed)
        return drift
