"""Telnyx's number inventory and number orders in the Telnyx stand-in
(``tests.carrier_helpers.TelnyxStandIn``), to Telnyx's API reference:

- ``GET /v2/available_phone_numbers``: ``filter[country_code]``,
  ``filter[national_destination_code]`` (the area code), ``filter[locality]`` and
  ``filter[limit]`` filter the inventory; each number carries ``region_information``
  (``location``, ``state``, ``country_code``), ``cost_information`` (``upfront_cost``,
  ``monthly_cost``, ``currency``) and ``features``;
- ``POST /v2/number_orders``: ``phone_numbers`` (each ``{phone_number}``), ``connection_id``
  (one of the account's applications) and ``customer_reference``; a number not in the
  inventory is refused (422); the order answers ``pending`` and is carried out later —
  ``complete(order_id, ok)`` here, which makes the number the account's (``success``) or not
  (``failure``) and returns the ``number_order.complete`` event Telnyx would send;
- ``GET /v2/number_orders/{id}``: the order as it stands;
- ``DELETE /v2/phone_numbers/{id}``: the account's number released (404 otherwise).
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web


def _error(status: int, code: str, title: str, detail: str = "") -> web.Response:
    error = {"code": code, "title": title, **({"detail": detail} if detail else {})}
    return web.json_response({"errors": [error]}, status=status)


class TelnyxOrders:
    def __init__(self, rest: Any) -> None:
        self.rest = rest  # the TelnyxStandIn: its accounts, numbers and applications
        self.available: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.released: list[str] = []
        self._ids = itertools.count(1)  # orders
        self._number_ids = itertools.count(2900000000000000001)

    def stock(self, e164: str, locality: str, state: str = "NY", monthly: str = "1.00") -> None:
        self.available[e164] = {
            "record_type": "available_phone_number", "phone_number": e164,
            "region_information": [
                {"region_type": "location", "region_name": locality},
                {"region_type": "state", "region_name": state},
                {"region_type": "country_code", "region_name": "US"},
            ],
            "cost_information": {"upfront_cost": "1.00", "monthly_cost": monthly,
                                 "currency": "USD"},
            "features": [{"name": "voice"}, {"name": "sms"}],
        }  # fmt: skip

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/available_phone_numbers", self._search)
        app.router.add_post("/v2/number_orders", self._order)
        app.router.add_get("/v2/number_orders/{id}", self._get_order)
        app.router.add_delete("/v2/phone_numbers/{id}", self._release)

    async def _search(self, request: web.Request) -> web.Response:
        account = self.rest._account(request)
        if isinstance(account, web.Response):
            return account
        q = request.query
        area, locality = q.get("filter[national_destination_code]"), q.get("filter[locality]")
        found = [
            n
            for n in self.available.values()
            if (area is None or n["phone_number"][2:5] == area)
            and (locality is None or n["region_information"][0]["region_name"] == locality)
        ][: int(q.get("filter[limit]", "10"))]
        return web.json_response({"data": found, "meta": {"total_results": len(found)}})

    async def _order(self, request: web.Request) -> web.Response:
        account = self.rest._account(request)
        if isinstance(account, web.Response):
            return account
        body = await request.json()
        wanted = [p.get("phone_number") for p in body.get("phone_numbers", [])]
        if not wanted or any(e not in self.available for e in wanted):
            return _error(422, "10015", "Invalid phone number", f"{wanted} not available")
        connection = body.get("connection_id")
        if connection and self.rest.applications.get(connection, {}).get("account") != account:
            return _error(422, "10015", "Invalid connection_id", f"{connection} is not yours")
        order_id = f"ord-{next(self._ids)}"
        for e164 in wanted:
            del self.available[e164]  # reserved for the order
        self.orders[order_id] = {
            "id": order_id, "record_type": "number_order", "status": "pending",
            "phone_numbers": [{"phone_number": e, "status": "pending"} for e in wanted],
            "connection_id": connection, "customer_reference": body.get("customer_reference"),
            "account": account,
        }  # fmt: skip
        return web.json_response({"data": self.orders[order_id]})

    def complete(self, order_id: str, ok: bool = True) -> dict[str, Any]:
        """Telnyx carries the order out: the numbers the account's (or not); the webhook
        body Telnyx then sends (``number_order.complete``)."""
        order = self.orders[order_id]
        order["status"] = "success" if ok else "failure"
        for entry in order["phone_numbers"]:
            entry["status"] = order["status"]
            if ok:
                number_id = str(next(self._number_ids))
                self.rest.numbers[number_id] = {
                    "id": number_id, "phone_number": entry["phone_number"],
                    "connection_id": order["connection_id"], "record_type": "phone_number",
                    "account": order["account"],
                }  # fmt: skip
        payload = {k: v for k, v in order.items() if k != "account"}
        return {"data": {"event_type": "number_order.complete", "id": f"ev-{order_id}",
                         "record_type": "event", "payload": payload}}  # fmt: skip

    async def _get_order(self, request: web.Request) -> web.Response:
        account = self.rest._account(request)
        if isinstance(account, web.Response):
            return account
        order = self.orders.get(request.match_info["id"])
        if order is None or order["account"] != account:
            return _error(404, "10005", "Resource not found")
        return web.json_response({"data": {k: v for k, v in order.items() if k != "account"}})

    async def _release(self, request: web.Request) -> web.Response:
        account = self.rest._account(request)
        if isinstance(account, web.Response):
            return account
        number = self.rest.numbers.get(request.match_info["id"])
        if number is None or number.get("account", self.rest.PLATFORM) != account:
            return _error(404, "10005", "Resource not found")
        del self.rest.numbers[request.match_info["id"]]
        self.released.append(number["phone_number"])
        return web.json_response({"data": number})
