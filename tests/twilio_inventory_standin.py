"""Twilio's number inventory in the Twilio stand-in (``tests.carrier_helpers.TwilioRestStandIn``):
``AvailablePhoneNumbers/{Country}/Local.json`` and buying and releasing a number through
``IncomingPhoneNumbers``, to the rules of Twilio's references:

- AvailablePhoneNumber Local resource: ``AreaCode`` (three digits) and ``InLocality`` filter the
  inventory, ``PageSize`` caps the page (at most 1000); each number carries ``friendly_name``,
  ``locality``, ``region``, ``iso_country`` and ``capabilities`` (``voice``, ``SMS``, ``MMS``);
- IncomingPhoneNumber resource, Create: ``PhoneNumber`` must be one Twilio can sell now, else
  ``400`` with error 21422 ("PhoneNumber requested is not currently available"); the answer is
  the number (synchronous), ``VoiceUrl`` / ``VoiceMethod`` / ``FriendlyName`` set as given;
- Delete: ``204``; a number the account does not hold is ``404`` (20404).

``hold`` (an ``asyncio.Event``) makes a purchase wait *after* it is carried out and before it
is answered: the answer a process that dies meanwhile never reads.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


class TwilioInventory:
    def __init__(self, rest: Any) -> None:
        self.rest = rest  # the TwilioRestStandIn: its account, numbers and authentication
        self.available: dict[str, dict[str, Any]] = {}  # e164 -> AvailablePhoneNumber
        self.bought: list[str] = []  # every purchase carried out, in order
        self.released: list[str] = []
        self.hold: asyncio.Event | None = None
        self.held = asyncio.Event()  # set when a purchase is waiting on ``hold``

    def stock(self, e164: str, locality: str, region: str = "NJ") -> None:
        self.available[e164] = {
            "friendly_name": f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}", "phone_number": e164,
            "locality": locality, "region": region, "iso_country": "US",
            "address_requirements": "none", "beta": False,
            "capabilities": {"voice": True, "SMS": True, "MMS": False, "fax": False},
        }  # fmt: skip

    def routes(self, app: web.Application) -> None:
        base = "/2010-04-01/Accounts/{account}"
        app.router.add_get(base + "/AvailablePhoneNumbers/{country}/Local.json", self._search)
        app.router.add_post(base + "/IncomingPhoneNumbers.json", self._buy)
        app.router.add_delete(base + "/IncomingPhoneNumbers/{sid}.json", self._release)

    async def _search(self, request: web.Request) -> web.Response:
        if (refused := self.rest._refused(request)) is not None:
            return refused  # type: ignore[no-any-return]
        query = request.query
        area, locality = query.get("AreaCode"), (query.get("InLocality") or "").casefold()
        size = int(query.get("PageSize", "50"))
        if area is not None and not (area.isdigit() and len(area) == 3):
            return web.json_response({"code": 21452, "message": "Invalid AreaCode"}, status=400)
        found = [
            n
            for n in self.available.values()
            if request.match_info["country"] == n["iso_country"]
            and (area is None or n["phone_number"][2:5] == area)
            and (not locality or n["locality"].casefold() == locality)
        ][: min(size, 1000)]
        return web.json_response({"available_phone_numbers": found, "uri": request.path_qs})

    async def _buy(self, request: web.Request) -> web.Response:
        if (refused := self.rest._refused(request)) is not None:
            return refused  # type: ignore[no-any-return]
        form = {k: str(v) for k, v in (await request.post()).items()}
        e164 = form.get("PhoneNumber", "")
        if e164 not in self.available:
            return web.json_response(
                {"code": 21422, "message": "PhoneNumber requested is not currently available",
                 "status": 400},
                status=400,
            )  # fmt: skip
        del self.available[e164]
        sid = f"PN{len(self.rest.numbers) + 1:032x}"
        self.rest.numbers[sid] = number = {
            "sid": sid, "account_sid": self.rest.account_sid, "phone_number": e164,
            "friendly_name": form.get("FriendlyName", e164),
            "voice_url": form.get("VoiceUrl"), "voice_method": form.get("VoiceMethod", "POST"),
        }  # fmt: skip
        self.bought.append(e164)
        if self.hold is not None:  # carried out; the answer waits (and may never be read)
            self.held.set()
            await self.hold.wait()
        return web.json_response(number, status=201)

    async def _release(self, request: web.Request) -> web.Response:
        if (refused := self.rest._refused(request)) is not None:
            return refused  # type: ignore[no-any-return]
        number = self.rest.numbers.pop(request.match_info["sid"], None)
        if number is None:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        self.released.append(number["phone_number"])
        return web.Response(status=204)
