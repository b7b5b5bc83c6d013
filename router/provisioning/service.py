"""Numbers wired into LiveKit by the router itself (``outbound.livekit_sip``): each write of a
number adds it to, or removes it from, its organization's managed inbound trunk; what LiveKit
answered is kept per number (``store.provisioning``) and is what ``setupStatus`` shows. A
failure never loses the row: it is saved with the issue and the next reconcile pass retries.

``reconcile`` compares every organization's inbound numbers with its trunk and rule at LiveKit
— trunk or rule missing (deleted by hand), numbers missing or extra (edited by hand) — reports
the drift and, with ``fix``, repairs it. It runs from ``POST /v1/provisioning/reconcile``
(``python -m router numbers reconcile [--fix]``) and in the background of worker processes, one
pass at a time across them (a lease), every ``ROUTER_RECONCILE_S``.
"""

from __future__ import annotations

import asyncio
import secrets

import msgspec
from aiohttp import web

from router import logs, metrics
from router.core.models import INBOUND, Organization, PhoneNumber, Provisioning, now_iso
from router.errors import NotFound, NotImplementedHere
from router.ops.carriers import Carriers
from router.outbound.livekit_numbers import ACTIVE, LiveKitNumbers
from router.outbound.livekit_sip import LiveKitSip, ProvisioningError
from router.store.integrations import TelnyxCredentials
from router.store.mutex import MutexBusy
from router.store.orgs import Organizations
from router.store.provisioning import ProvisioningStates
from router.store.registry import Registry
from router.web.apidoc import documented
from router.web.httpapi import json_response, read_json

log = logs.get(__name__)
routes = web.RouteTableDef()


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
    fixed: bool = False
    error: str | None = None


class Report(msgspec.Struct, rename="camel", kw_only=True):
    checked_at: str
    fix: bool
    organizations: list[OrgDrift]

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
            or o.error
            for o in self.organizations
        )


class ReconcileRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    fix: bool = False


class Provisioner:
    def __init__(
        self,
        sip: LiveKitSip,
        registry: Registry,
        orgs: Organizations,
        states: ProvisioningStates,
        carriers: Carriers | None = None,
        numbers: LiveKitNumbers | None = None,
    ) -> None:
        self.sip, self.registry, self.orgs, self.states = sip, registry, orgs, states
        self.carriers = carriers or Carriers()
        self.numbers = numbers  # LiveKit Phone Numbers: binding `source: livekit` numbers

    async def number_written(self, old: PhoneNumber | None, new: PhoneNumber | None) -> None:
        """Bring LiveKit in line with one number's write (import, PATCH, release)."""
        row = new or old
        assert row is not None
        wanted = new is not None and new.direction in INBOUND
        previous = (await self.states.of([row.id])).get(row.id)
        carrier = await self.carriers.point(old, new, previous)
        org = row.organization_id
        try:
            if wanted:
                async with self.states.trunk_mutex(org):
                    addresses = await self._addresses(org)
                    trunk, _ = await self.sip.ensure(org, [row.e164], addresses)
                    await self.registry.claim_trunk(trunk.sip_trunk_id, org)
                    if row.e164 not in trunk.numbers:
                        trunk = await self.sip.change(trunk.sip_trunk_id, add=[row.e164])
                    if row.source == "livekit":
                        carrier = await self._bind_livekit_number(row, trunk.sip_trunk_id)
                # On the trunk; whatever the carrier side said (its issue, or where the number
                # pointed before) stays in the state.
                seen = carrier or Provisioning(ok=True, checked_at="")
                await self.states.save(
                    row.id,
                    msgspec.structs.replace(
                        seen, livekit_trunk_id=trunk.sip_trunk_id, checked_at=now_iso()
                    ),
                )
                return
            if old is not None and old.source == "livekit" and self.numbers is not None:
                await self.numbers.bind(old.e164, "")  # no longer the organization's calls
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

    async def _addresses(self, org: str) -> list[str]:
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
                    await self.sip.set_addresses(trunk, await self._addresses(org))
        except (ProvisioningError, MutexBusy) as exc:
            metrics.PROVISIONING_FAILURES.labels("addresses").inc()
            log.warning("provisioning_failed", organization=org, error=str(exc)[:300])

    async def _bind_livekit_number(self, row: PhoneNumber, trunk_id: str) -> Provisioning:
        """A number bought from LiveKit bound to the organization's dispatch rule (LiveKit
        lists an unbound one OFFLINE): its status as LiveKit reads it back."""
        if self.numbers is None:
            return Provisioning(ok=True, checked_at="")
        rule = await self.sip.rule(trunk_id, row.organization_id)
        if rule is None:
            raise ProvisioningError("the organization's dispatch rule is missing")
        bound = await self.numbers.bind(row.e164, rule.sip_dispatch_rule_id)
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
        return Provisioning(ok=True, checked_at="", carrier_number_id=bound.id or None)

    async def _rows(self, org: str) -> list[PhoneNumber]:
        rows: list[PhoneNumber] = []
        after = None
        while True:
            page, after = await self.registry.page_numbers(after, 1000, org)
            rows += page
            if after is None:
                return rows

    async def reconcile(self, *, fix: bool) -> Report:
        results = []
        for org in await self.orgs.all():
            results.append(await self._reconcile_org(org.id, fix=fix))
        report = Report(checked_at=now_iso(), fix=fix, organizations=results)
        for drift in results:
            for kind, count in (
                ("trunk_missing", int(drift.trunk_missing)),
                ("rule_missing", int(drift.rule_missing)),
                ("missing_number", len(drift.missing)),
                ("extra_number", len(drift.extra)),
                ("carrier_pointed_elsewhere", len(drift.carrier)),
            ):
                if count:
                    metrics.PROVISIONING_DRIFT.labels(kind).inc(count)
        return report

    async def _reconcile_org(self, org: str, *, fix: bool) -> OrgDrift:
        try:
            async with self.states.trunk_mutex(org):
                drift, rows = await self._reconcile_trunk(org, fix=fix)
        except (ProvisioningError, MutexBusy) as exc:
            metrics.PROVISIONING_FAILURES.labels("reconcile").inc()
            return OrgDrift(organization_id=org, error=str(exc))
        return await self._reconcile_rows(org, drift, rows, fix=fix)

    async def _reconcile_trunk(self, org: str, *, fix: bool) -> tuple[OrgDrift, list[PhoneNumber]]:
        """The organization's trunk and rule against its rows (under its trunk mutex)."""
        # LiveKit first, the rows second: a number imported meanwhile is a row before it is
        # on the trunk, so it is never taken for an extra one.
        trunks = await self.sip.trunks(org)
        duplicates = 0
        if len(trunks) > 1 and fix:
            # Made twice before writes were serialized: keep the one with the most numbers,
            # delete the others (their numbers are then missing, and added to the kept one).
            trunks.sort(key=lambda t: len(t.numbers), reverse=True)
            for extra in trunks[1:]:
                await self.sip.retire(extra, org)
            duplicates, trunks = len(trunks) - 1, trunks[:1]
        trunk = trunks[0] if trunks else None
        if trunk is not None:
            await self.registry.claim_trunk(trunk.sip_trunk_id, org)
        rows = [r for r in await self._rows(org) if r.direction in INBOUND]
        wanted = {r.e164 for r in rows}
        addresses = await self._addresses(org)
        if trunk is None:
            drift = OrgDrift(organization_id=org, trunk_missing=bool(wanted))
            if fix and wanted:
                trunk, _ = await self.sip.ensure(org, sorted(wanted), addresses)
                await self.registry.claim_trunk(trunk.sip_trunk_id, org)
                drift = msgspec.structs.replace(drift, trunk_id=trunk.sip_trunk_id, fixed=True)
            return msgspec.structs.replace(drift, duplicates=duplicates), rows
        on_trunk = set(trunk.numbers)
        rule = await self.sip.rule(trunk.sip_trunk_id, org)
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
            trunk = await self.sip.set_addresses(trunk, addresses)
            drift = msgspec.structs.replace(drift, fixed=True)
        if fix and (drift.missing or drift.extra or drift.rule_missing):
            if drift.missing:
                await self.sip.change(trunk.sip_trunk_id, add=drift.missing, remove=drift.extra)
            elif drift.extra:  # the last numbers going: the trunk may have to go with them
                await self.sip.remove(trunk, org, drift.extra)
            if drift.rule_missing and wanted:
                await self.sip.ensure(org, [])
            drift = msgspec.structs.replace(drift, fixed=True)
        return drift, rows

    async def _reconcile_rows(
        self, org: str, drift: OrgDrift, rows: list[PhoneNumber], *, fix: bool
    ) -> OrgDrift:
        """Each row's state: on LiveKit or not, and its carrier side."""
        on_livekit = fix or not (drift.trunk_missing or drift.missing)
        states = await self.states.of([r.id for r in rows])
        carrier: list[str] = []
        for row in rows:
            known = states.get(row.id)
            issue = None
            if not on_livekit and row.e164 in drift.missing:
                issue = (
                    f"{row.e164} is not on the organization's LiveKit inbound trunk "
                    f"({drift.trunk_id or 'missing'}): run a reconcile with fix"
                )
            try:
                if row.source in ("twilio", "telnyx") and not (known and known.carrier_number_id):
                    # Never pointed (the carrier refused at import): point it now, with fix.
                    elsewhere = known.issue if known is not None and known.issue else None
                    if fix:
                        pointed = await self.carriers.point(None, row, None)
                        if pointed is not None and pointed.ok:
                            known, elsewhere = pointed, None
                        elif pointed is not None:
                            elsewhere = issue = pointed.issue
                else:
                    elsewhere = await self.carriers.drift(row, known, fix=fix)
            except ProvisioningError as exc:
                elsewhere, issue = str(exc), issue or str(exc)
            if elsewhere:
                carrier.append(f"{row.e164}: {elsewhere}")
                if not fix:
                    issue = issue or elsewhere
            await self.states.save(
                row.id,
                Provisioning(
                    livekit_trunk_id=drift.trunk_id,
                    ok=issue is None,
                    issue=issue,
                    checked_at=now_iso(),
                    carrier_number_id=known.carrier_number_id if known else None,
                    carrier_previous=known.carrier_previous if known else None,
                    twilio_previous=known.twilio_previous if known else None,
                ),
            )
        if carrier:
            drift = msgspec.structs.replace(drift, carrier=carrier, fixed=fix or drift.fixed)
        return drift


PROVISIONER = web.AppKey("provisioner", Provisioner)


async def check_import(request: web.Request, row: PhoneNumber) -> PhoneNumber:
    """The row as it will be stored, once its carrier account has been asked."""
    provisioner = request.app.get(PROVISIONER)
    if provisioner is None:
        return row
    return await provisioner.carriers.check_import(row)


async def prepare_telnyx(
    request: web.Request, org: str, credentials: TelnyxCredentials
) -> TelnyxCredentials:
    """A Telnyx integration as it will be kept: its application verified on its account, or
    made there, when the router provisions carriers."""
    provisioner = request.app.get(PROVISIONER)
    if provisioner is None or provisioner.carriers.telnyx is None:
        return credentials
    return await provisioner.carriers.telnyx.prepare(org, credentials)


async def organization_changed(request: web.Request, org: Organization) -> None:
    """After an organization's allowed addresses changed: its LiveKit trunk follows."""
    provisioner = request.app.get(PROVISIONER)
    if provisioner is not None:
        await provisioner.addresses_changed(org.id)


async def number_written(
    request: web.Request, old: PhoneNumber | None, new: PhoneNumber | None
) -> None:
    """After a number's write: its LiveKit side, when the router provisions it."""
    provisioner = request.app.get(PROVISIONER)
    if provisioner is not None:
        await provisioner.number_written(old, new)


async def reconcile_loop(app: web.Application, every_s: float, fix: bool) -> None:
    """A reconcile pass every ``every_s``, by whichever process takes the lease first."""
    provisioner: Provisioner = app[PROVISIONER]
    holder = secrets.token_hex(8)
    while True:
        await asyncio.sleep(every_s)  # a period, not a wait for something to happen
        try:
            if await provisioner.states.lease(holder, every_s):
                report = await provisioner.reconcile(fix=fix)
                log.info("reconciled", drift=report.drift, fix=fix)
        except Exception:  # a pass that failed is retried at the next period
            log.exception("reconcile_failed")


@routes.post("/v1/provisioning/reconcile")
@documented(request=ReconcileRequest, response=Report, errors=(501,))
async def reconcile(request: web.Request) -> web.Response:
    """Compare every organization's numbers with LiveKit; repair the drift with ``fix``."""
    body = await read_json(request, ReconcileRequest)
    provisioner = request.app.get(PROVISIONER)
    if provisioner is None:
        raise NotImplementedHere(
            "provisioning is off: set LIVEKIT_URL (and leave ROUTER_PROVISIONING on)"
        )
    return json_response(await provisioner.reconcile(fix=body.fix))
