"""The platform's own Telnyx account as a source of managed numbers (``TELNYX_API_KEY``):
searching Telnyx's inventory (``GET /available_phone_numbers`` with ``filter[country_code]``,
``filter[national_destination_code]``, ``filter[locality]``, ``filter[limit]``, its own
``cost_information``), ordering a number (``POST /number_orders`` — asynchronous: the order is
``pending`` until Telnyx says ``success`` or ``failure``, by the ``number_order.complete``
webhook or ``GET /number_orders/{id}``), with the router's application as the number's
``connection_id`` and the router's order as its ``customer_reference``; finding a number the
account holds and deleting it (``DELETE /phone_numbers/{id}``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import quote

import aiohttp
import msgspec

from router.outbound.telnyx_numbers import TelnyxNumber, TelnyxNumbers


class _Cost(msgspec.Struct):
    upfront_cost: str | None = None
    monthly_cost: str | None = None
    currency: str = "USD"


class _RegionInfo(msgspec.Struct):
    region_type: str = ""
    region_name: str = ""


class _Feature(msgspec.Struct):
    name: str = ""


class TelnyxAvailable(msgspec.Struct, kw_only=True):
    phone_number: str
    region_information: list[_RegionInfo] = msgspec.field(default_factory=list)
    cost_information: _Cost | None = None
    features: list[_Feature] = msgspec.field(default_factory=list)

    def region(self, kind: str) -> str | None:
        return next((r.region_name for r in self.region_information if r.region_type == kind), None)

    def cents(self) -> tuple[int, int] | None:
        """Telnyx's own monthly and upfront price in cents (None: not given in USD)."""
        cost = self.cost_information
        if cost is None or cost.currency != "USD" or None in (cost.monthly_cost, cost.upfront_cost):
            return None
        try:
            return (
                int(Decimal(cost.monthly_cost or "0") * 100),
                int(Decimal(cost.upfront_cost or "0") * 100),
            )
        except InvalidOperation:
            return None


class _AvailableList(msgspec.Struct):
    data: list[TelnyxAvailable]


class OrderedNumber(msgspec.Struct, kw_only=True):
    phone_number: str
    status: str = "pending"


class NumberOrder(msgspec.Struct, kw_only=True):
    id: str
    status: str  # pending | success | failure
    phone_numbers: list[OrderedNumber] = msgspec.field(default_factory=list)
    customer_reference: str | None = None


class _OneOrder(msgspec.Struct):
    data: NumberOrder


class TelnyxPlatform:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, api_key: str) -> None:
        self._numbers = TelnyxNumbers(session, base_url)
        self._key = api_key

    async def search(
        self, area_code: str | None, locality: str | None, limit: int
    ) -> list[TelnyxAvailable]:
        params = {"filter[country_code]": "US", "filter[limit]": str(limit),
                  "filter[features][]": "voice"}  # fmt: skip
        if area_code:
            params["filter[national_destination_code]"] = area_code
        if locality:
            params["filter[locality]"] = locality
        raw = await self._numbers.request(
            "search available numbers", "GET", "/available_phone_numbers", self._key,
            params=params,
        )  # fmt: skip
        return msgspec.json.decode(raw, type=_AvailableList).data

    async def order(self, e164: str, connection_id: str | None, reference: str) -> NumberOrder:
        body: dict[str, object] = {
            "phone_numbers": [{"phone_number": e164}], "customer_reference": reference,
        }  # fmt: skip
        if connection_id:
            body["connection_id"] = connection_id
        raw = await self._numbers.request(
            f"order {e164}", "POST", "/number_orders", self._key, body=body
        )
        return msgspec.json.decode(raw, type=_OneOrder).data

    async def order_status(self, order_id: str) -> NumberOrder:
        raw = await self._numbers.request(
            "read the number order", "GET", f"/number_orders/{quote(order_id, safe='')}",
            self._key,
        )  # fmt: skip
        return msgspec.json.decode(raw, type=_OneOrder).data

    async def held(self, e164: str) -> TelnyxNumber | None:
        return await self._numbers.find(self._key, e164)

    async def release(self, number_id: str) -> None:
        await self._numbers.request(
            "release the number", "DELETE", f"/phone_numbers/{quote(number_id, safe='')}",
            self._key,
        )  # fmt: skip
