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
from router.core.models import INBOUND, PhoneNumber, Provisioning, now_iso
from router.errors import NotImplementedHere, RemoteRefusal, ValidationError
from router.outbound.livekit_sip import LiveKitSip, ProvisioningError
from router.outbound.telnyx_numbers import TelnyxNumbers
from router.outbound.twilio_numbers import TwilioNumbers, TwilioTrunks
from router.store.integrations import Integrations, TelnyxCredentials, TwilioCredentials
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
    fixed: bool = False
    error: str | None = None


class Report(msgspec.Struct, rename="camel", kw_only=True):
    checked_at: str
    fix: bool
    organizations: list[OrgDrift]

    @property
    def drift(self) -> bool:
        return any(
            o.trunk_missing or o.rule_missing or o.missing or o.extra or o.carrier or o.error
            for o in self.organizations
        )


class ReconcileRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    fix: bool = False


class TelnyxSide(msgspec.Struct, frozen=True):
    """What pointing Telnyx numbers at the router needs: the client, the organizations'
    stored credentials, and the router's application (``TELNYX_CONNECTION_ID``)."""

    numbers: TelnyxNumbers
    integrations: Integrations
    connection_id: str

    async def key(self, org: str) -> str | None:
        found = await self.integrations.get(org, "telnyx")
        return found.api_key if isinstance(found, TelnyxCredentials) else None


class TwilioSide(msgspec.Struct, frozen=True):
    """Pointing Twilio numbers at the router: the client, the organizations' credentials, and
    the router's Twilio webhook as Twilio must call it (``ROUTER_PUBLIC_URL``; None: unset)."""

    numbers: TwilioNumbers
    integrations: Integrations
    voice_url: str | None
    trunks: TwilioTrunks | None = None  # Elastic SIP Trunking (mode "sip_trunk")
    livekit_sip: str | None = None  # the trunk's origination URI: LiveKit's SIP host

    async def account(self, org: str) -> TwilioCredentials | None:
        found = await self.integrations.get(org, "twilio")
        return found if isinstance(found, TwilioCredentials) else None


class Provisioner:
    def __init__(
        self,
        sip: LiveKitSip,
        registry: Registry,
        orgs: Organizations,
        states: ProvisioningStates,
        telnyx: TelnyxSide | None = None,
        twilio: TwilioSide | None = None,
    ) -> None:
        self.sip, self.registry, self.orgs, self.states = sip, registry, orgs, states
        self.telnyx, self.twilio = telnyx, twilio

    async def check_import(self, row: PhoneNumber) -> PhoneNumber:
        """Before a carrier number is stored: it must be on the organization's account (a
        Twilio verified caller ID is stored as one: outbound-only, as the peers document)."""
        if row.source == "twilio" and self.twilio is not None:
            return await self._check_twilio(row)
        org, e164, source = row.organization_id, row.e164, row.source
        if source != "telnyx" or self.telnyx is None:
            return row
        key = await self.telnyx.key(org)
        if key is None:
            return row  # no credentials: the operator wires the number by hand (README)
        try:
            found = await self.telnyx.numbers.find(key, e164)
        except ProvisioningError as exc:
            raise RemoteRefusal(str(exc)) from exc
        if found is None:
            raise ValidationError(
                f"e164: {e164} is not a number of the organization's Telnyx account",
                field="e164",
            )
        return row

    async def _check_twilio(self, row: PhoneNumber) -> PhoneNumber:
        assert self.twilio is not None
        account = await self.twilio.account(row.organization_id)
        if account is None:
            return row  # no credentials: the operator wires the number by hand (README)
        sid, token = account.account_sid, account.auth_token
        try:
            if await self.twilio.numbers.incoming(sid, token, row.e164) is not None:
                return row
            if await self.twilio.numbers.verified_caller_id(sid, token, row.e164):
                return msgspec.structs.replace(
                    row, source="verified_caller_id", direction="outbound", mode=None
                )
        except ProvisioningError as exc:
            raise RemoteRefusal(str(exc)) from exc
        raise ValidationError(
            f"e164: {row.e164} is neither a number nor a verified caller ID of the "
            "organization's Twilio account",
            field="e164",
        )

    async def number_written(self, old: PhoneNumber | None, new: PhoneNumber | None) -> None:
        """Bring LiveKit in line with one number's write (import, PATCH, release)."""
        row = new or old
        assert row is not None
        wanted = new is not None and new.direction in INBOUND
        previous = (await self.states.of([row.id])).get(row.id)
        carrier = await self._carrier(old, new, previous)
        try:
            if wanted:
                trunk, _ = await self.sip.ensure(row.organization_id, [row.e164])
                if row.e164 not in trunk.numbers:
                    trunk = await self.sip.change(trunk.sip_trunk_id, add=[row.e164])
                if carrier is not None and carrier.issue:
                    await self.states.save(
                        row.id,
                        msgspec.structs.replace(
                            carrier, livekit_trunk_id=trunk.sip_trunk_id, checked_at=now_iso()
                        ),
                    )
                    return
                await self.states.save(
                    row.id,
                    Provisioning(
                        livekit_trunk_id=trunk.sip_trunk_id,
                        ok=True,
                        checked_at=now_iso(),
                        carrier_number_id=carrier.carrier_number_id if carrier else None,
                        carrier_previous=carrier.carrier_previous if carrier else None,
                    ),
                )
                return
            if old is not None and old.direction in INBOUND:
                found = await self.sip.trunk(row.organization_id)
                if found is not None and row.e164 in found.numbers:
                    await self.sip.change(found.sip_trunk_id, remove=[row.e164])
            await self.states.forget(row.id)
        except ProvisioningError as exc:
            metrics.PROVISIONING_FAILURES.labels("number").inc()
            log.warning("provisioning_failed", number=row.id, error=str(exc)[:300])
            if new is not None:
                await self._failed(new, str(exc))

    async def _carrier(
        self, old: PhoneNumber | None, new: PhoneNumber | None, state: Provisioning | None
    ) -> Provisioning | None:
        """A Telnyx number pointed at the router's application (on import), or back to
        where it pointed before (on release). None: not a Telnyx number the router wires."""
        row = new or old
        assert row is not None
        if row.source == "twilio" and self.twilio is not None:
            return await self._twilio(old, new, state)
        if self.telnyx is None or row.source != "telnyx":
            return None
        key = await self.telnyx.key(row.organization_id)
        if key is None:
            return None
        try:
            if new is None:  # released: restore what was there before
                if state is not None and state.carrier_number_id:
                    await self.telnyx.numbers.point(
                        key, state.carrier_number_id, state.carrier_previous
                    )
                return None
            if state is not None and state.carrier_number_id:
                return state  # pointed already (a PATCH of routing fields)
            found = await self.telnyx.numbers.find(key, row.e164)
            if found is None:
                raise ProvisioningError(f"{row.e164} is no longer on the Telnyx account")
            if found.connection_id != self.telnyx.connection_id:
                await self.telnyx.numbers.point(key, found.id, self.telnyx.connection_id)
            return Provisioning(
                ok=True,
                checked_at=now_iso(),
                carrier_number_id=found.id,
                carrier_previous=found.connection_id,
            )
        except ProvisioningError as exc:
            metrics.PROVISIONING_FAILURES.labels("telnyx").inc()
            return Provisioning(ok=False, issue=str(exc), checked_at=now_iso())

    async def _twilio(
        self, old: PhoneNumber | None, new: PhoneNumber | None, state: Provisioning | None
    ) -> Provisioning | None:
        """A Twilio number's voice URL pointed at the router (POST), and back on release."""
        assert self.twilio is not None
        row = new or old
        assert row is not None
        account = await self.twilio.account(row.organization_id)
        if account is None:
            return None
        sid, token = account.account_sid, account.auth_token
        if row.mode == "sip_trunk":
            return await self._twilio_trunk(row, new is None, state, sid, token)
        try:
            if new is None:
                if state is not None and state.carrier_number_id:
                    method, _, url = (state.carrier_previous or "POST ").partition(" ")
                    await self.twilio.numbers.point(
                        sid, token, state.carrier_number_id, url, method or "POST"
                    )
                return None
            if state is not None and state.carrier_number_id:
                return state
            if self.twilio.voice_url is None:
                raise ProvisioningError(
                    "set ROUTER_PUBLIC_URL: Twilio must be told the router's public address"
                )
            found = await self.twilio.numbers.incoming(sid, token, row.e164)
            if found is None:
                raise ProvisioningError(f"{row.e164} is no longer on the Twilio account")
            if (found.voice_url, found.voice_method) != (self.twilio.voice_url, "POST"):
                await self.twilio.numbers.point(
                    sid, token, found.sid, self.twilio.voice_url, "POST"
                )
            return Provisioning(
                ok=True,
                checked_at=now_iso(),
                carrier_number_id=found.sid,
                carrier_previous=f"{found.voice_method or 'POST'} {found.voice_url or ''}",
            )
        except ProvisioningError as exc:
            metrics.PROVISIONING_FAILURES.labels("twilio").inc()
            return Provisioning(ok=False, issue=str(exc), checked_at=now_iso())

    async def _twilio_trunk(
        self, row: PhoneNumber, released: bool, state: Provisioning | None, sid: str, token: str
    ) -> Provisioning | None:
        """``mode: sip_trunk``: the number attached to the organization's Elastic SIP Trunk
        (made or reused, its origination URI LiveKit's SIP host), detached on release."""
        assert self.twilio is not None
        previous = (state.carrier_previous or "") if state is not None else ""
        try:
            if self.twilio.trunks is None:
                raise ProvisioningError("Elastic SIP Trunking is not configured")
            if released:
                if state is not None and state.carrier_number_id and previous.startswith("trunk:"):
                    await self.twilio.trunks.detach(
                        sid, token, previous.removeprefix("trunk:"), state.carrier_number_id
                    )
                return None
            if state is not None and state.carrier_number_id:
                return state
            if self.twilio.livekit_sip is None:
                raise ProvisioningError(
                    "set LIVEKIT_SIP_URI: the Elastic SIP Trunk's origination URI is LiveKit's "
                    "SIP host"
                )
            found = await self.twilio.numbers.incoming(sid, token, row.e164)
            if found is None:
                raise ProvisioningError(f"{row.e164} is no longer on the Twilio account")
            name = f"call-router/{row.organization_id}"
            trunk = await self.twilio.trunks.ensure(sid, token, name, self.twilio.livekit_sip)
            await self.twilio.trunks.attach(sid, token, trunk, found.sid)
            return Provisioning(
                ok=True,
                checked_at=now_iso(),
                carrier_number_id=found.sid,
                carrier_previous=f"trunk:{trunk}",
            )
        except ProvisioningError as exc:
            metrics.PROVISIONING_FAILURES.labels("twilio").inc()
            return Provisioning(ok=False, issue=str(exc), checked_at=now_iso())

    async def _trunk_drift(self, row: PhoneNumber, state: Provisioning, *, fix: bool) -> str | None:
        """A ``sip_trunk`` number taken off its Elastic SIP Trunk by hand: put back with fix."""
        assert self.twilio is not None
        account = await self.twilio.account(row.organization_id)
        previous = state.carrier_previous or ""
        if account is None or self.twilio.trunks is None or not previous.startswith("trunk:"):
            return None
        trunk = previous.removeprefix("trunk:")
        sid, token = account.account_sid, account.auth_token
        assert state.carrier_number_id is not None
        if await self.twilio.trunks.attached(sid, token, trunk, state.carrier_number_id):
            return None
        if fix:
            await self.twilio.trunks.attach(sid, token, trunk, state.carrier_number_id)
        return f"Twilio number is not on the Elastic SIP Trunk {trunk} any more"

    async def _ok(self, row: PhoneNumber, trunk_id: str) -> None:
        await self.states.save(
            row.id, Provisioning(livekit_trunk_id=trunk_id, ok=True, checked_at=now_iso())
        )

    async def _failed(self, row: PhoneNumber, issue: str, trunk_id: str | None = None) -> None:
        await self.states.save(
            row.id,
            Provisioning(livekit_trunk_id=trunk_id, ok=False, issue=issue, checked_at=now_iso()),
        )

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
            # LiveKit first, the rows second: a number imported meanwhile is a row before it
            # is on the trunk, so it is never taken for an extra one.
            trunk = await self.sip.trunk(org)
            rows = [r for r in await self._rows(org) if r.direction in INBOUND]
            wanted = {r.e164 for r in rows}
            if trunk is None:
                drift = OrgDrift(organization_id=org, trunk_missing=bool(wanted))
                if fix and wanted:
                    trunk, _ = await self.sip.ensure(org, sorted(wanted))
                    drift = msgspec.structs.replace(drift, trunk_id=trunk.sip_trunk_id, fixed=True)
            else:
                on_trunk = set(trunk.numbers)
                rule = await self.sip.rule(trunk.sip_trunk_id, org)
                drift = OrgDrift(
                    organization_id=org,
                    trunk_id=trunk.sip_trunk_id,
                    rule_missing=rule is None,
                    missing=sorted(wanted - on_trunk),
                    extra=sorted(on_trunk - wanted),
                )
                if fix and (drift.missing or drift.extra or drift.rule_missing):
                    if drift.missing or drift.extra:
                        await self.sip.change(
                            trunk.sip_trunk_id, add=drift.missing, remove=drift.extra
                        )
                    if drift.rule_missing:
                        await self.sip.ensure(org, [])
                    drift = msgspec.structs.replace(drift, fixed=True)
        except ProvisioningError as exc:
            metrics.PROVISIONING_FAILURES.labels("reconcile").inc()
            return OrgDrift(organization_id=org, error=str(exc))
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
                        pointed = await self._carrier(None, row, None)
                        if pointed is not None and pointed.ok:
                            known, elsewhere = pointed, None
                        elif pointed is not None:
                            elsewhere = issue = pointed.issue
                else:
                    elsewhere = await self._carrier_drift(row, known, fix=fix)
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
                ),
            )
        if carrier:
            drift = msgspec.structs.replace(drift, carrier=carrier, fixed=fix or drift.fixed)
        return drift

    async def _carrier_drift(
        self, row: PhoneNumber, state: Provisioning | None, *, fix: bool
    ) -> str | None:
        """A carrier number the router pointed at itself, pointed elsewhere since (by hand):
        in words a user can act on, and pointed back with ``fix``."""
        if state is None or not state.carrier_number_id:
            return None
        if row.source == "twilio" and self.twilio is not None and row.mode == "sip_trunk":
            return await self._trunk_drift(row, state, fix=fix)
        if row.source == "twilio" and self.twilio is not None:
            account = await self.twilio.account(row.organization_id)
            if account is None or self.twilio.voice_url is None:
                return None
            sid, token = account.account_sid, account.auth_token
            found = await self.twilio.numbers.incoming(sid, token, row.e164)
            if found is None:
                return f"{row.e164} is no longer on the Twilio account"
            if (found.voice_url, found.voice_method) == (self.twilio.voice_url, "POST"):
                return None
            if fix:
                await self.twilio.numbers.point(
                    sid, token, found.sid, self.twilio.voice_url, "POST"
                )
            return f"Twilio number's voice URL points elsewhere: {found.voice_url}"
        if row.source == "telnyx" and self.telnyx is not None:
            key = await self.telnyx.key(row.organization_id)
            if key is None:
                return None
            number = await self.telnyx.numbers.find(key, row.e164)
            if number is None:
                return f"{row.e164} is no longer on the Telnyx account"
            if number.connection_id == self.telnyx.connection_id:
                return None
            if fix:
                await self.telnyx.numbers.point(key, number.id, self.telnyx.connection_id)
            return f"Telnyx number's connection points elsewhere: {number.connection_id}"
        return None


PROVISIONER = web.AppKey("provisioner", Provisioner)


async def check_import(request: web.Request, row: PhoneNumber) -> PhoneNumber:
    """The row as it will be stored, once its carrier account has been asked."""
    provisioner = request.app.get(PROVISIONER)
    if provisioner is None:
        return row
    return await provisioner.check_import(row)


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
