"""Managed numbers: numbers the platform buys for an organization from a provider it holds an
account with (LiveKit Phone Numbers, the platform's Twilio account), searched, bought exactly
once and charged from the organization's credits. Pure: no I/O
(``provisioning.purchases`` runs a purchase; ``outbound.number_providers`` speaks to the
providers).

A purchase is an **order** journaled before anything happens and moved on step by step —
``charging`` (the credits taken, under the order's own idempotency key), ``buying`` (asked of
the provider), ``ordered`` (a provider that carries orders out later has one: the row exists,
its ``setupStatus`` says it waits), ``bought`` (the provider's id kept), ``done`` (the row
written and provisioned)
— so a process that dies at any step leaves an order that the next attempt (the same
``Idempotency-Key``, or the background pass) carries on from where it stopped: it first asks
the provider whether the number was bought, and never charges twice. An order that cannot
finish gives the credits back (``refunded``) and says why.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from router.core.models import Body, Direction, Row

Provider = Literal["livekit", "twilio", "telnyx"]
PROVIDERS: tuple[str, ...] = ("livekit", "twilio", "telnyx")
NumberType = Literal["local", "toll_free", "mobile"]
OrderState = Literal["charging", "buying", "ordered", "bought", "done", "refunded", "failed"]
FINAL: frozenset[str] = frozenset({"done", "refunded", "failed"})
AREA_CODE = re.compile(r"^\d{3}$")
OFFER_TTL_S = 15 * 60  # a search's offers stay buyable this long (the reference: "recent")
SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX = 10, 50
MAX_LOCALITY = 100


class Region(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    locality: str | None = None
    region: str | None = None  # a state or province
    country: str = "US"
    area_code: str | None = None


class AvailableNumber(msgspec.Struct, rename="camel", kw_only=True):
    """One number a search found, as the reference shapes it (the provider and its number
    type added: what the price and the purchase depend on)."""

    e164: str
    friendly_name: str
    monthly_cost_usd: float
    upfront_cost_usd: float
    features: list[str]
    region: Region
    provider: Provider
    number_type: NumberType = "local"


class Offer(msgspec.Struct, kw_only=True):
    """A search result kept for the organization until it expires: what it would cost."""

    e164: str
    provider: Provider
    number_type: NumberType
    monthly_cents: int
    upfront_cents: int
    expires_at: float  # epoch seconds


class PurchaseRequest(Body, kw_only=True):
    """``POST /v1/phone-numbers``: buy a number from a recent search."""

    organization_id: str | None = None  # the operator's choice; a key's own organization
    e164: str
    label: str | None = None
    agent_id: str | None = None
    direction: Direction = "inbound"
    dispatch_metadata_template: dict[str, Any] | None = None


class Order(Row, kw_only=True):
    id: str
    organization_id: str
    idempotency_key: str
    e164: str
    provider: Provider
    number_type: NumberType
    monthly_cents: int
    upfront_cents: int
    row_id: str  # the phone number's id, chosen before it exists
    label: str | None = None
    agent_id: str | None = None
    direction: Direction = "inbound"
    dispatch_metadata_template: dict[str, Any] | None = None
    state: OrderState = "charging"
    provider_id: str | None = None  # the provider's id of the number, once bought
    provider_order_id: str | None = None  # an order the provider carries out later (Telnyx)
    attempts: int = 0
    error: str | None = None  # why it was refunded or failed, in the refuser's words
    error_code: str | None = None
    created_at: str
    updated_at: str

    @property
    def total_cents(self) -> int:
        """Charged at purchase: the upfront price and the first month."""
        return self.upfront_cents + self.monthly_cents


def month_after(iso: str) -> str:
    """The same day and time a month later (the last day of a shorter month)."""
    import calendar
    import datetime

    moment = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    later = moment.replace(year=year, month=month, day=day)
    return later.isoformat(timespec="milliseconds").replace("+00:00", "Z")
