"""LiveKit's ``livekit.PhoneNumberService`` in the Twirp stand-in, in Twirp's JSON form
(proto3 JSON mapping: lowerCamel names, enums as their names), as
livekit/protocol ``protobufs/livekit_phone_number.proto`` defines it:

- every method needs the SIP admin grant, as the SIP service does;
- ``SearchPhoneNumbers`` filters the inventory by ``countryCode`` and ``areaCode``, at most
  ``limit`` (default 50);
- ``PurchasePhoneNumber`` buys ``phoneNumbers`` from the inventory (one that is not there is
  refused, nothing bought); a number bound to a dispatch rule is ACTIVE, one bound to none
  OFFLINE ("not associated with any dispatch rule");
- ``GetPhoneNumber`` / ``UpdatePhoneNumber`` find the project's number by ``id`` or
  ``phoneNumber`` (``not_found`` otherwise); an update binds ``sipDispatchRuleId`` (one the
  project has) or, empty, unbinds;
- ``ReleasePhoneNumbers`` releases the project's numbers (RELEASED, no longer the project's);
- ``fail_next`` statuses are answered (``unavailable``) before anything is carried out;
- unknown fields are refused (the stand-in is stricter than protojson's ``DiscardUnknown``,
  so a misspelt field fails here first).

``hold`` (an ``asyncio.Event``) makes a purchase wait after it is carried out and before it
is answered: the answer a process that dies meanwhile never reads.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from aiohttp import web

ACTIVE, OFFLINE = "PHONE_NUMBER_STATUS_ACTIVE", "PHONE_NUMBER_STATUS_OFFLINE"
FIELDS = {
    "SearchPhoneNumbers": {"countryCode", "areaCode", "limit", "pageToken"},
    "PurchasePhoneNumber": {"phoneNumbers", "sipDispatchRuleId"},
    "GetPhoneNumber": {"id", "phoneNumber"},
    "UpdatePhoneNumber": {"id", "phoneNumber", "sipDispatchRuleId"},
    "ReleasePhoneNumbers": {"ids", "phoneNumbers"},
}


def _error(status: int, code: str, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class PhoneNumberStandIn:
    def __init__(self, numbers: dict[str, dict[str, Any]], rules: dict[str, Any]) -> None:
        self.numbers = numbers  # the project's, by E.164
        self.rules = rules  # the SIP stand-in's dispatch rules
        self.inventory: dict[str, dict[str, Any]] = {}  # numbers LiveKit can sell, by E.164
        self.bought: list[str] = []
        self.released: list[str] = []
        self.hold: asyncio.Event | None = None
        self.held = asyncio.Event()
        self.fail_next: list[int] = []  # statuses to answer before carrying anything out
        self._ids = itertools.count(1)

    def stock(self, e164: str, locality: str = "", region: str = "", kind: str = "LOCAL") -> None:
        self.inventory[e164] = {
            "e164Format": e164, "countryCode": "US", "areaCode": e164[2:5],
            "numberType": f"PHONE_NUMBER_TYPE_{kind}", "locality": locality, "region": region,
            "capabilities": ["voice"],
        }  # fmt: skip

    async def handle(self, name: str, body: dict[str, Any]) -> web.Response:
        if name not in FIELDS:
            return _error(404, "bad_route", f"no such method {name}")
        if self.fail_next:
            return _error(self.fail_next.pop(0), "unavailable", "service unavailable")
        if set(body) - FIELDS[name]:
            return _error(400, "malformed", f"unknown fields {sorted(set(body) - FIELDS[name])}")
        if name == "SearchPhoneNumbers":
            return self._search(body)
        if name == "PurchasePhoneNumber":
            return await self._purchase(body)
        if name == "ReleasePhoneNumbers":
            return self._release(body)
        number = self.numbers.get(body.get("phoneNumber", "")) or next(
            (n for n in self.numbers.values() if n["id"] == body.get("id")), None
        )
        if number is None:
            return _error(404, "not_found", "phone number not found")
        rule = body.get("sipDispatchRuleId") if name == "UpdatePhoneNumber" else None
        if rule is not None:
            if rule and rule not in self.rules:
                return _error(400, "invalid_argument", f"dispatch rule {rule} not found")
            number["sipDispatchRuleIds"] = [rule] if rule else []
            number["status"] = ACTIVE if rule else OFFLINE
        return web.json_response({"phoneNumber": number})

    def _search(self, body: dict[str, Any]) -> web.Response:
        country, area = body.get("countryCode", ""), body.get("areaCode")
        limit = int(body.get("limit") or 50)
        items = [
            n
            for n in self.inventory.values()
            if (not country or n["countryCode"] == country)
            and (area is None or n["areaCode"] == area)
        ][:limit]
        return web.json_response({"items": items})

    async def _purchase(self, body: dict[str, Any]) -> web.Response:
        wanted = body.get("phoneNumbers") or []
        missing = [e for e in wanted if e not in self.inventory]
        if not wanted or missing:
            return _error(400, "invalid_argument", f"phone numbers not available: {missing}")
        rule = body.get("sipDispatchRuleId")
        if rule and rule not in self.rules:
            return _error(400, "invalid_argument", f"dispatch rule {rule} not found")
        bought = []
        for e164 in wanted:
            number = {**self.inventory.pop(e164), "id": f"PN_{next(self._ids)}",
                      "status": ACTIVE if rule else OFFLINE,
                      "sipDispatchRuleIds": [rule] if rule else []}  # fmt: skip
            self.numbers[e164] = number
            self.bought.append(e164)
            bought.append(number)
        if self.hold is not None:  # carried out; the answer waits (and may never be read)
            self.held.set()
            await self.hold.wait()
        return web.json_response({"phoneNumbers": bought})

    def _release(self, body: dict[str, Any]) -> web.Response:
        ids = body.get("ids", [])
        wanted = [
            *body.get("phoneNumbers", []),
            *(e for e, n in self.numbers.items() if n["id"] in ids),
        ]
        unknown = [e for e in wanted if e not in self.numbers]
        if unknown:
            return _error(404, "not_found", f"phone numbers not found: {unknown}")
        for e164 in wanted:
            self.numbers.pop(e164)
            self.released.append(e164)
        return web.json_response({})
