"""A bought number's life after its purchase: charged its monthly price when ``nextChargeAt``
comes, suspended when the credits do not cover it, back when they do, released when it stays
suspended past the grace period or its organization lets it go.

Each month's charge is a ledger entry under the key ``renew:<number>:<period>``: whichever
process charges a period, and however often a pass is cut short and run again, the period is
charged once — a pass that finds the charge made (``Replayed``) only moves the number's dates
on. Release asks the provider first and deletes the row only once it took the number back: a
refusal leaves the row as it was, ``releasing`` with the provider's words, and the next pass
tries again.
"""

from __future__ import annotations

import datetime

import msgspec

from router import logs
from router.core.carrier_states import Provisioning
from router.core.managed import month_after
from router.core.models import PhoneNumber, now_iso
from router.errors import Conflict, NotFound, ProvisioningError
from router.provisioning.number_providers import Held
from router.provisioning.purchases import Purchaser
from router.store.ledger import Short
from router.store.purchases import Billing

log = logs.get(__name__)
MAX_PERIODS = 24  # months charged in one pass (a number long unbilled is caught up over passes)


class BillingReport(msgspec.Struct, rename="camel", kw_only=True):
    charged: list[str] = msgspec.field(default_factory=list)  # "<number id>:<period>"
    suspended: list[str] = msgspec.field(default_factory=list)  # number ids
    resumed: list[str] = msgspec.field(default_factory=list)
    released: list[str] = msgspec.field(default_factory=list)
    releasing: list[str] = msgspec.field(default_factory=list)  # the provider refused, for now


class Biller:
    def __init__(self, purchaser: Purchaser, grace_days: int) -> None:
        self.purchaser, self.grace_days = purchaser, grace_days
        self.registry = purchaser.provisioner.registry

    async def bill(self, org: str | None = None, now: str | None = None) -> BillingReport:
        """Every bought number (of ``org``, when given) brought up to date."""
        now = now or now_iso()
        report = BillingReport()
        for billing in await self.purchaser.purchases.billings():
            if org is not None and billing.organization_id != org:
                continue
            try:
                await self._one(billing, now, report)
            except (ProvisioningError, Conflict) as exc:  # the next pass tries again
                log.warning("billing_failed", number=billing.row_id, error=str(exc)[:300])
        return report

    async def _one(self, billing: Billing, now: str, report: BillingReport) -> None:
        try:
            row, raw = await self.registry.get_number(billing.row_id)
        except NotFound:  # released as a row; the provider still to be told
            if billing.releasing:
                await self.release(billing, None, report)
            else:
                await self.purchaser.purchases.unbill(billing.row_id)
            return
        if billing.releasing:
            await self.release(billing, row, report)
            return
        periods = 0
        while row.next_charge_at is not None and row.next_charge_at <= now:
            periods += 1
            if periods > MAX_PERIODS:
                break
            period = row.next_charge_at
            if not await self._charge(billing, row, period):
                if row.suspended_at is None:
                    row, raw = await self._rewrite(row, raw, suspended_at=now)
                    report.suspended.append(row.id)
                    log.warning("number_suspended", number=row.id, owed=billing.monthly_cents)
                break
            report.charged.append(f"{row.id}:{period}")
            resumed = row.suspended_at is not None
            row, raw = await self._rewrite(
                row, raw, last_charged_at=period, next_charge_at=month_after(period),
                suspended_at=None,
            )  # fmt: skip
            if resumed:
                report.resumed.append(row.id)
        if row.suspended_at is not None and _days_since(row.suspended_at, now) > self.grace_days:
            log.warning("number_released_after_grace", number=row.id, since=row.suspended_at)
            await self.release(billing, row, report)

    async def _charge(self, billing: Billing, row: PhoneNumber, period: str) -> bool:
        """The period's charge made (now, or by an earlier pass); False: not enough credits."""
        try:
            await self.purchaser.ledger.once(
                row.organization_id, -billing.monthly_cents, kind="charge",
                reason=f"{row.e164}: the month from {period[:10]}",
                key=f"renew:{row.id}:{period}", reference=row.id,
            )  # fmt: skip
        except Short:
            return False
        return True

    async def _rewrite(
        self, row: PhoneNumber, raw: bytes, **changes: object
    ) -> tuple[PhoneNumber, bytes]:
        """The row with its billing dates changed (compare and set; on a concurrent write of
        the row, read again and apply the same change)."""
        for _ in range(3):
            new = msgspec.structs.replace(row, updated_at=now_iso(), **changes)
            try:
                await self.registry.write_number(new, old=row, old_raw=raw)
                return await self.registry.get_number(row.id)
            except Conflict:
                row, raw = await self.registry.get_number(row.id)
        raise Conflict(f"phone number {row.id} kept changing while its billing was written")

    async def release(
        self, billing: Billing, row: PhoneNumber | None, report: BillingReport | None = None
    ) -> bool:
        """Give the number back to its provider, then (if it still exists) delete its row and
        take it off LiveKit; a refusal keeps the row and says so. Whether it was released."""
        provider = self.purchaser.providers.get(billing.provider)
        try:
            if provider is None:
                raise ProvisioningError(f"the provider {billing.provider} is not configured")
            if await provider.held(billing.e164) is not None:
                await provider.release(Held(provider_id=billing.provider_id, e164=billing.e164))
        except ProvisioningError as exc:
            failed = msgspec.structs.replace(billing, releasing=True, release_error=str(exc))
            await self.purchaser.purchases.bill(failed)
            if row is not None:
                issue = f"releasing at {billing.provider}: {exc} (retried by the next reconcile)"
                await self.purchaser.provisioner.states.save(
                    row.id, Provisioning(ok=False, issue=issue, checked_at=now_iso())
                )
            if report is not None:
                report.releasing.append(billing.row_id)
            log.warning("number_release_refused", number=billing.row_id, error=str(exc)[:300])
            return False
        if row is not None:
            try:
                current, raw = await self.registry.get_number(row.id)
                await self.registry.write_number(None, old=current, old_raw=raw)
                await self.purchaser.provisioner.number_written(current, None)
            except NotFound:
                pass
        await self.purchaser.purchases.unbill(billing.row_id)
        if report is not None:
            report.released.append(billing.row_id)
        log.info("number_released", number=billing.row_id, provider=billing.provider)
        return True


def _days_since(then: str, now: str) -> float:
    start = datetime.datetime.fromisoformat(then.replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(now.replace("Z", "+00:00"))
    return (end - start).total_seconds() / 86400
