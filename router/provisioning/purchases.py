"""Buying a managed number exactly once (``core.managed`` has the order's states).

``start`` checks what the customer can fix (a recent offer, business verification for a US
number, the purchase cap, the number limit, credits) and journals the order under its
``Idempotency-Key``; ``run`` moves it on, one process at a time: the charge (the ledger's own
key ``purchase:<order>``: never twice), the purchase (the provider asked first whether it holds
the number already: an answer lost to a crash is found, never bought again), the row and its
provisioning. A purchase the provider refuses, or a row that cannot be written, gives the
credits back (``refund:<order>``) and releases what was bought; a provider that does not
answer leaves the order ``buying`` for the next attempt (the same key, or ``resume``).
"""

from __future__ import annotations

import time

import msgspec

from router import logs
from router.config.sections import Managed
from router.core.carrier_states import Provisioning
from router.core.managed import (
    OFFER_TTL_S,
    AvailableNumber,
    Offer,
    Order,
    PurchaseRequest,
    month_after,
)
from router.core.models import Organization, PhoneNumber, new_id, now_iso
from router.core.phone import region_of
from router.errors import (
    Conflict,
    InsufficientCredits,
    KybRequired,
    LimitReached,
    NotFound,
    NotImplementedHere,
    ProvisioningError,
    RemoteRefusal,
    Unprocessable,
)
from router.money import dollars
from router.provisioning.number_providers import Failed, Held, NumberProvider, Pending
from router.provisioning.service import Provisioner
from router.store.kyb import Kyb
from router.store.ledger import Ledger, Short
from router.store.mutex import MutexBusy
from router.store.purchases import Billing, Claimed, Purchases, order_key

log = logs.get(__name__)
GIVE_UP_AFTER = 5  # failed purchase attempts (the provider never answering) before a refund


class Purchaser:
    def __init__(
        self,
        providers: dict[str, NumberProvider],
        managed: Managed,
        provisioner: Provisioner,
        purchases: Purchases,
        ledger: Ledger,
        kyb: Kyb,
    ) -> None:
        self.providers, self.managed, self.provisioner = providers, managed, provisioner
        self.purchases, self.ledger, self.kyb = purchases, ledger, kyb

    def _available(self) -> None:
        if not self.providers:
            raise NotImplementedHere(
                "no managed number provider is configured (ROUTER_MANAGED_PROVIDERS): import "
                "numbers you own with POST /v1/phone-numbers/import"
            )

    async def search(
        self, org: str, area_code: str | None, locality: str | None, limit: int
    ) -> list[AvailableNumber]:
        """Each provider's inventory with the operator's prices, remembered for the
        organization so that a purchase is of a number it was offered."""
        self._available()
        found: list[AvailableNumber] = []
        refusals: list[str] = []
        for provider in self.providers.values():
            try:
                numbers = await provider.search(area_code, locality, limit)
            except ProvisioningError as exc:
                refusals.append(str(exc))
                log.warning("number_search_failed", provider=provider.name, error=str(exc)[:300])
                continue
            for n in numbers:
                price = n.price or self.managed.price(provider.name, n.number_type)
                if price is None:  # not sold: no price for it, the provider's nor the operator's
                    continue
                found.append(
                    AvailableNumber(
                        e164=n.e164, friendly_name=n.friendly_name,
                        monthly_cost_usd=price[0] / 100, upfront_cost_usd=price[1] / 100,
                        features=n.features, region=n.region, provider=provider.name,
                        number_type=n.number_type,
                    )
                )  # fmt: skip
        if refusals and not found:
            raise RemoteRefusal("; ".join(refusals))
        found = found[:limit]
        expires = time.time() + OFFER_TTL_S
        await self.purchases.remember(
            org,
            [
                Offer(
                    e164=n.e164,
                    provider=n.provider,
                    number_type=n.number_type,
                    monthly_cents=round(n.monthly_cost_usd * 100),
                    upfront_cents=round(n.upfront_cost_usd * 100),
                    expires_at=expires,
                )
                for n in found
            ],
        )
        return found

    async def start(
        self, org: Organization, key: str, body: PurchaseRequest, e164: str
    ) -> tuple[Order, bool]:
        """The order the key made before, or a new one once every check passed; whether new."""
        self._available()
        earlier = await self.purchases.get(order_key(org.id, key))
        if earlier is not None:
            return earlier, False
        offer = await self.purchases.offer(org.id, e164)
        if offer is None or offer.provider not in self.providers:
            raise Unprocessable(
                f"e164: {e164} is not from a recent search: search with GET "
                "/v1/phone-numbers/available and buy within 15 minutes",
                field="e164", code="NOT_OFFERED",
            )  # fmt: skip
        await self._check_kyb(org.id, e164)
        registry = self.provisioner.registry
        rows = await registry.numbers_of(org.id)
        if any(r.e164 == e164 for r in rows):
            raise Conflict(f"{e164} is already one of the organization's numbers", field="e164")
        bought = sum(1 for r in rows if r.source == "managed")
        pending = sum(1 for k in await self.purchases.open_keys() if k.startswith(f"{org.id}:"))
        if bought + pending >= self.managed.purchase_limit:
            raise Unprocessable(
                f"the organization has bought {bought} numbers"
                + (f" ({pending} more being bought)" if pending else "")
                + f", its limit of {self.managed.purchase_limit}: release one, or ask the "
                "operator to raise ROUTER_PURCHASE_LIMIT",
                code="PURCHASE_LIMIT",
            )
        if len(rows) >= org.number_limit:
            raise LimitReached(
                f"organization {org.id} holds its limit of {org.number_limit} numbers"
            )
        now = now_iso()
        order = Order(
            id=new_id("po"), organization_id=org.id, idempotency_key=key, e164=e164,
            provider=offer.provider, number_type=offer.number_type,
            monthly_cents=offer.monthly_cents, upfront_cents=offer.upfront_cents,
            row_id=new_id("pn"), label=body.label, agent_id=body.agent_id,
            direction=body.direction, dispatch_metadata_template=body.dispatch_metadata_template,
            created_at=now, updated_at=now,
        )  # fmt: skip
        balance = await self.ledger.balance(org.id)
        if balance < order.total_cents:
            raise _short(order, balance)
        try:
            return await self.purchases.start(order)
        except Claimed:
            raise Conflict(
                f"{e164} is being bought by another order; search again", field="e164"
            ) from None

    async def _check_kyb(self, org: str, e164: str) -> None:
        if region_of(e164) != "US":
            return
        found = await self.kyb.get(org)
        status = found.status if found is not None else "missing"
        if status != "approved":
            raise KybRequired(
                f"a US number needs the business verification approved; it is {status}: "
                + {
                    "missing": "start it with PUT /v1/phone-numbers/kyb/draft",
                    "draft": "submit it with POST /v1/phone-numbers/kyb/submit",
                    "submitted": "the operator is reviewing it",
                    "rejected": "fix what the rejection says and submit again",
                }[status]
            )

    async def run(self, key: str) -> Order:
        """Move the order on as far as it goes now (one process at a time)."""
        try:
            async with self.purchases.held(key):
                order = await self.purchases.get(key)
                assert order is not None
                return await self._move(order)
        except MutexBusy:
            raise Conflict(
                "this purchase is in progress: retry with the same Idempotency-Key"
            ) from None

    async def _move(self, order: Order) -> Order:
        if order.state == "charging":
            order = await self._charge(order)
        if order.state == "buying":
            order = await self._buy(order)
        if order.state == "ordered":
            order = await self._ordered(order)
        if order.state == "bought":
            order = await self._write(order)
        return order

    async def _save(self, order: Order, **changes: object) -> Order:
        order = msgspec.structs.replace(order, updated_at=now_iso(), **changes)
        await self.purchases.save(order)
        return order

    async def _charge(self, order: Order) -> Order:
        try:  # charged once: an earlier attempt that died before saying so is found
            await self.ledger.once(
                order.organization_id, -order.total_cents, kind="charge",
                reason=f"{order.e164}: first month and setup", key=f"purchase:{order.id}",
                reference=order.row_id,
            )  # fmt: skip
        except Short as short:
            words = _short(order, short.balance_cents)
            return await self._save(
                order, state="failed", error=words.message, error_code=words.code
            )
        return await self._save(order, state="buying")

    async def _buy(self, order: Order) -> Order:
        provider = self.providers.get(order.provider)
        if provider is None:
            return await self._refund(order, f"the provider {order.provider} is not configured")
        label = order_key(order.organization_id, order.idempotency_key)
        try:
            held = await provider.held(order.e164)  # bought by an attempt whose answer was lost
            if held is None:
                try:
                    result = await provider.buy(order.e164, label)
                except ProvisioningError as exc:
                    if exc.status is None or not 400 <= exc.status < 500:
                        raise
                    # Refused: unless the number is the platform's after all, it was not sold.
                    if (held := await provider.held(order.e164)) is None:
                        return await self._refund(order, str(exc), code="NUMBER_UNAVAILABLE")
                    result = held
                if isinstance(result, Pending):  # carried out later: the row waits for it
                    order = await self._save(
                        order, state="ordered", provider_order_id=result.order_id, error=None
                    )
                    return await self._write(order, pending=True)
                held = result
        except ProvisioningError as exc:
            order = await self._save(order, attempts=order.attempts + 1, error=str(exc))
            if order.attempts >= GIVE_UP_AFTER:
                return await self._refund(order, f"the provider did not answer: {exc}")
            return order
        return await self._save(order, state="bought", provider_id=held.provider_id, error=None)

    async def _ordered(self, order: Order) -> Order:
        """Where the provider's order stands: still pending, done (the number's id read from
        the account), or failed (the row taken away, the credits given back)."""
        provider = self.providers.get(order.provider)
        if provider is None or order.provider_order_id is None:
            return await self._refund(order, f"the provider {order.provider} is not configured")
        try:
            status = await provider.order_status(order.provider_order_id)
            held = await provider.held(order.e164) if isinstance(status, Held) else None
        except ProvisioningError as exc:
            return await self._save(order, error=str(exc))
        if isinstance(status, Failed):
            await self._forget_row(order)
            return await self._refund(order, status.words, code="NUMBER_UNAVAILABLE")
        if held is None:  # pending (or done and not listed yet): the next attempt looks again
            return order
        return await self._save(order, state="bought", provider_id=held.provider_id, error=None)

    async def _forget_row(self, order: Order) -> None:
        registry = self.provisioner.registry
        await self.purchases.unbill(order.row_id)
        try:
            row, raw = await registry.get_number(order.row_id)
        except NotFound:
            return
        await registry.write_number(None, old=row, old_raw=raw)
        await self.provisioner.number_written(row, None)

    async def _write(self, order: Order, *, pending: bool = False) -> Order:
        """The row (under the id the order chose), billed and provisioned; ``pending``: the
        provider still has to carry the order out, and the row says so."""
        registry = self.provisioner.registry
        await self.purchases.bill(
            Billing(
                row_id=order.row_id, organization_id=order.organization_id, e164=order.e164,
                provider=order.provider, provider_id=order.provider_id or "",
                monthly_cents=order.monthly_cents,
                order=order_key(order.organization_id, order.idempotency_key),
            )
        )  # fmt: skip
        now = now_iso()
        existing, _ = await registry.lookup(e164=order.e164)
        ours = existing is not None and existing.id == order.row_id
        row = PhoneNumber(
            id=order.row_id, organization_id=order.organization_id, e164=order.e164,
            source="managed", direction=order.direction, sip_provider_name=order.provider,
            provider_resource_id=order.provider_id, agent_id=order.agent_id,
            telnyx_phone_number_id=order.provider_id if order.provider == "telnyx" else None,
            dispatch_metadata_template=order.dispatch_metadata_template, label=order.label,
            last_charged_at=now, next_charge_at=month_after(now),
            created_at=existing.created_at if ours and existing else now, updated_at=now,
        )  # fmt: skip
        if ours and existing is not None:
            if existing.provider_resource_id != order.provider_id:  # the order carried out
                row = msgspec.structs.replace(
                    existing, provider_resource_id=row.provider_resource_id,
                    telnyx_phone_number_id=row.telnyx_phone_number_id, updated_at=now,
                )  # fmt: skip
                _, raw = await registry.get_number(row.id)
                await registry.write_number(row, old=existing, old_raw=raw)
        else:
            limit = (await self.provisioner.orgs.get(order.organization_id)).number_limit
            try:
                await registry.write_number(row, old=None, number_limit=limit)
            except (Conflict, LimitReached) as exc:
                await self.purchases.unbill(order.row_id)
                await self._release(order)
                return await self._refund(order, exc.message, code=exc.code)
        await self.provisioner.number_written(existing if ours else None, row)
        if pending:
            issue = (
                f"{order.provider} is carrying out the order {order.provider_order_id}: the "
                "number takes calls once it is done"
            )
            await self.provisioner.states.save(
                row.id, Provisioning(ok=False, issue=issue, checked_at=now_iso())
            )
            return order
        log.info("number_bought", order=order.id, number=order.row_id, provider=order.provider)
        return await self._save(order, state="done", error=None)

    async def _release(self, order: Order) -> None:
        provider = self.providers.get(order.provider)
        if provider is None or order.provider_id is None:
            return
        try:
            await provider.release(Held(provider_id=order.provider_id, e164=order.e164))
        except ProvisioningError as exc:  # kept in the log: the operator releases it by hand
            log.error("number_release_failed", order=order.id, error=str(exc)[:300])

    async def _refund(self, order: Order, why: str, *, code: str = "PURCHASE_FAILED") -> Order:
        await self.ledger.once(
            order.organization_id, order.total_cents, kind="refund",
            reason=f"{order.e164}: not bought ({why[:120]})", key=f"refund:{order.id}",
            reference=order.row_id, floor=None,
        )  # fmt: skip
        log.warning("number_purchase_refunded", order=order.id, error=why[:300])
        return await self._save(order, state="refunded", error=why, error_code=code)

    async def resume(self) -> list[str]:
        """Carry every open order on (the background pass, and a reconcile): the keys of the
        orders that moved to a final state."""
        finished = []
        for key in await self.purchases.open_keys():
            try:
                order = await self.run(key)
            except Conflict:  # another process is moving it now
                continue
            if order.state in ("done", "refunded", "failed"):
                finished.append(key)
        return finished


def _short(order: Order, balance: int) -> InsufficientCredits:
    return InsufficientCredits(
        f"buying {order.e164} costs {dollars(order.total_cents)} now "
        f"({dollars(order.upfront_cents)} setup and {dollars(order.monthly_cents)} for the first "
        f"month); the balance is {dollars(balance)}: add credits first",
        code="INSUFFICIENT_CREDITS",
    )
