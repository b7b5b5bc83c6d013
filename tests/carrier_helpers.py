"""Helpers for carrier tests: Twilio requests signed by Twilio's own validator, Telnyx
requests signed with a real ed25519 key, and a Telnyx Call Control API stand-in."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twilio.request_validator import RequestValidator

from tests.telnyx_orders_standin import TelnyxOrders
from tests.twilio_inventory_standin import TwilioInventory
from tests.twilio_termination_standin import TwilioTermination

TWILIO_TOKEN = "twilio-auth-token-for-tests"
TELNYX_API_KEY = "KEY_telnyx_test"
LIVEKIT_SIP_URI = "sip:router-test.sip.livekit.cloud"
TELNYX_PRIVATE = Ed25519PrivateKey.generate()
TELNYX_PUBLIC = TELNYX_PRIVATE.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def twilio_form(call_sid: str = "CA" + "1" * 32, **fields: str) -> dict[str, str]:
    form = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550100",
        "To": "+12015550123",
        "Caller": "+14155550100",
        "Called": "+12015550123",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    form.update(fields)
    return form


async def post_twilio(
    client: TestClient[Any, Any],
    form: dict[str, str],
    *,
    url: str | None = None,
    signature: str | None = None,
) -> Any:
    signed_url = url or str(client.make_url("/webhooks/twilio/voice"))
    sig = (
        signature
        if signature is not None
        else RequestValidator(TWILIO_TOKEN).compute_signature(signed_url, form)
    )
    return await client.post(
        "/webhooks/twilio/voice",
        data=urlencode(form),
        headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
    )


def telnyx_headers(
    body: bytes, *, ts: int | None = None, key: Ed25519PrivateKey = TELNYX_PRIVATE
) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    sig = base64.b64encode(key.sign(stamp.encode() + b"|" + body)).decode()
    return {"telnyx-signature-ed25519": sig, "telnyx-timestamp": stamp}


def call_initiated(
    call_control_id: str = "v3:ctrl-1",
    *,
    to: str = "+12015550123",
    from_: str = "+14155550100",
    direction: str = "incoming",
    sip_headers: list[dict[str, str]] | None = None,
    event_id: str = "ev-1",
) -> bytes:
    return json.dumps(
        {
            "data": {
                "record_type": "event",
                "event_type": "call.initiated",
                "id": event_id,
                "occurred_at": "2026-11-22T10:00:00.000000Z",
                "payload": {
                    "call_control_id": call_control_id,
                    "call_leg_id": "leg-1",
                    "call_session_id": "sess-1",
                    "connection_id": "7267",
                    "from": from_,
                    "to": to,
                    "direction": direction,
                    "state": "parked",
                    "caller_id_name": "Caller",
                    "sip_headers": sip_headers or [],
                    "custom_headers": [],
                },
            },
            "meta": {"attempt": 1, "delivered_to": "https://router.example.com/webhooks/telnyx"},
        }
    ).encode()


async def post_telnyx_json(client: TestClient[Any, Any], body: bytes, **sign: Any) -> Any:
    headers = {**telnyx_headers(body, **sign), "Content-Type": "application/json"}
    return await client.post("/webhooks/telnyx", data=body, headers=headers)


def _telnyx_error(status: int, code: str, title: str, detail: str = "") -> web.Response:
    error = {"code": code, "title": title, **({"detail": detail} if detail else {})}
    return web.json_response({"errors": [error]}, status=status)


class TelnyxStandIn:
    """Telnyx's API as the router uses it: Call Control commands (path, auth and body
    shape), number management and TeXML / Call Control applications. Everything belongs to an
    account, as at Telnyx: an API key sees only its account's numbers and applications
    (another's is not found), and a number can be pointed only at an application of its own
    account (Telnyx's number settings offer the account's connections only)."""

    PLATFORM = "platform"

    def __init__(self) -> None:
        self.commands: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue()
        self.fail_next: list[int] = []
        # API key -> its account; the numbers (id -> fields, with their "account") and the
        # TeXML / Call Control applications (id -> fields, with their "account").
        self.accounts: dict[str, str] = {TELNYX_API_KEY: self.PLATFORM}
        self.numbers: dict[str, dict[str, Any]] = {}
        self.applications: dict[str, dict[str, Any]] = {}
        self.fail_numbers_next: list[int] = []
        self._ids = itertools.count(2680000000000000100)
        self.orders = TelnyxOrders(self)  # the inventory and number orders

    def application(self, app_id: str, account: str = PLATFORM, kind: str = "texml") -> None:
        self.applications[app_id] = {
            "id": app_id, "account": account, "record_type": f"{kind}_application",
            "friendly_name": app_id,
        }  # fmt: skip

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/calls/{id}/actions/{action}", self._handle)
        app.router.add_get("/v2/phone_numbers", self._list_numbers)
        app.router.add_patch("/v2/phone_numbers/{id}", self._update_number)
        for kind in ("texml", "call_control"):
            app.router.add_get(f"/v2/{kind}_applications/{{id}}", self._get_application)
        app.router.add_post("/v2/texml_applications", self._create_texml_application)
        self.orders.routes(app)
        return app

    def _account(self, request: web.Request) -> str | web.Response:
        account = self.accounts.get(
            request.headers.get("Authorization", "").removeprefix("Bearer ")
        )
        if account is None:
            return _telnyx_error(401, "10009", "Authentication failed")
        return account

    def _mine(self, account: str) -> list[dict[str, Any]]:
        return [n for n in self.numbers.values() if n.get("account", self.PLATFORM) == account]

    async def _get_application(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        kind = request.path.split("/")[2].removesuffix("s")
        found = self.applications.get(request.match_info["id"])
        if found is None or found["account"] != account or found["record_type"] != kind:
            return _telnyx_error(404, "10005", "Resource not found")
        return web.json_response({"data": found})

    async def _create_texml_application(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        body = await request.json()
        # TeXML Applications reference: friendly_name and voice_url are required.
        missing = [f for f in ("friendly_name", "voice_url") if not body.get(f)]
        if missing:
            return _telnyx_error(422, "10015", "Invalid value", f"{missing} required")
        app_id = str(next(self._ids))
        self.applications[app_id] = {
            "id": app_id, "account": account, "record_type": "texml_application", **body,
        }  # fmt: skip
        return web.json_response({"data": self.applications[app_id]}, status=201)

    async def _list_numbers(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        wanted = request.query.get("filter[phone_number]")
        # Telnyx's List phone numbers: "Filter by phone number. Requires at least three digits.
        # Non-numerical characters will result in no values being returned." (the API
        # reference of GET /v2/phone_numbers; a partial match on the digits)
        if wanted is None:
            found = self._mine(account)
        elif not wanted.isdigit() or len(wanted) < 3:
            found = []
        else:
            found = [n for n in self._mine(account) if wanted in n["phone_number"]]
        return web.json_response({"data": found, "meta": {"total_results": len(found)}})

    async def _update_number(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        if self.fail_numbers_next:
            status = self.fail_numbers_next.pop(0)
            return web.json_response(
                {"errors": [{"code": "10007", "title": "Unexpected error", "detail": "boom"}]},
                status=status,
            )
        number = self.numbers.get(request.match_info["id"])
        if number is None or number.get("account", self.PLATFORM) != account:
            return _telnyx_error(404, "10005", "Resource not found")
        body = await request.json()
        if set(body) - {"connection_id", "tags", "customer_reference"}:
            return _telnyx_error(400, "10015", "Bad Request")
        target = body.get("connection_id")
        if target is not None and self.applications.get(target, {}).get("account") != account:
            return _telnyx_error(
                422, "10015", "Invalid connection_id", f"{target} is not a connection of yours"
            )
        number.update(body)
        return web.json_response({"data": number})

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TELNYX_API_KEY}":
            return web.json_response(
                {"errors": [{"code": "10009", "title": "Authentication failed"}]}, status=401
            )
        body = await request.json()
        action = request.match_info["action"]
        problems = []
        if action == "transfer":
            # Call Control transfer: "to: The DID or SIP URI to dial out to" (an E.164 number
            # or a sip: URI).
            to = str(body.get("to", ""))
            if not (to.startswith("sip:") or re.fullmatch(r"\+[1-9]\d{6,14}", to)):
                problems.append("to must be a SIP URI or an E.164 number")
            headers = body.get("custom_headers", [])
            if not all(set(h) == {"name", "value"} for h in headers):
                problems.append("custom_headers are {name, value} objects")
        elif action == "reject":
            if body.get("cause") not in ("CALL_REJECTED", "USER_BUSY"):
                problems.append("cause must be CALL_REJECTED or USER_BUSY")
        else:
            problems.append(f"unexpected action {action}")
        if not body.get("command_id"):
            problems.append("command_id missing")
        if problems:
            return web.json_response(
                {"errors": [{"code": "90015", "title": p} for p in problems]}, status=422
            )
        if self.fail_next:
            return web.json_response({"errors": [{"title": "boom"}]}, status=self.fail_next.pop(0))
        self.commands.put_nowait((request.match_info["id"], action, body))
        return web.json_response({"data": {"result": "ok"}})


class TwilioRestStandIn:
    """Twilio's REST API (2010-04-01) for the numbers of one account, as the router uses it:
    HTTP Basic with the account SID and auth token, ``PhoneNumber`` filters, form-encoded
    updates; answers in Twilio's JSON (the official ``twilio`` client reads them:
    ``tests/test_provisioning.py``). Twilio's rules, from its IncomingPhoneNumber resource
    reference: a number's calls go to its ``trunk_sid`` if it has one, else to its
    ``voice_application_sid``, and only then to its voice URL (``routes_to``); setting a trunk
    deletes the application and the other way round; an empty value clears either. Elastic SIP
    Trunking (trunking v1 reference): attaching a number sets its ``trunk_sid``; lists come in
    pages of ``PageSize`` (50 unless asked, at most 1000) with ``meta.next_page_url``."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.numbers: dict[str, dict[str, Any]] = {}  # sid -> IncomingPhoneNumber
        self.caller_ids: list[str] = []  # verified outgoing caller IDs
        self.updates: list[dict[str, str]] = []  # the forms of every update, in order
        self.call_updates: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
        self.fail_next: list[int] = []
        # Elastic SIP Trunking: sid -> trunk, with its origination URLs and attached numbers.
        self.trunks: dict[str, dict[str, Any]] = {}
        self.originations: dict[str, list[dict[str, Any]]] = {}
        self.termination = TwilioTermination(self)  # domain names and SIP credentials
        self.inventory = TwilioInventory(self)  # numbers to buy (the platform's account)

    def attached(self, trunk: str) -> list[str]:
        """The sids of the numbers on ``trunk`` (their ``trunk_sid``), in sid order."""
        return sorted(s for s, n in self.numbers.items() if n.get("trunk_sid") == trunk)

    def routes_to(self, sid: str) -> str:
        """Where Twilio sends the number's calls: its trunk, else its TwiML application,
        else its voice URL."""
        number = self.numbers[sid]
        if number.get("trunk_sid"):
            return f"trunk {number['trunk_sid']}"
        if number.get("voice_application_sid"):
            return f"application {number['voice_application_sid']}"
        return f"{number.get('voice_method') or 'POST'} {number.get('voice_url')}"

    def app(self) -> web.Application:
        app = web.Application()
        base = "/2010-04-01/Accounts/{account}"
        app.router.add_get(base + "/IncomingPhoneNumbers.json", self._incoming)
        app.router.add_post(base + "/IncomingPhoneNumbers/{sid}.json", self._update)
        app.router.add_get(base + "/OutgoingCallerIds.json", self._caller_ids)
        app.router.add_post(base + "/Calls/{sid}.json", self._update_call)
        app.router.add_get("/v1/Trunks", self._trunks)
        app.router.add_post("/v1/Trunks", self._create_trunk)
        app.router.add_get("/v1/Trunks/{trunk}/OriginationUrls", self._originations)
        app.router.add_post("/v1/Trunks/{trunk}/OriginationUrls", self._add_origination)
        app.router.add_get("/v1/Trunks/{trunk}/PhoneNumbers", self._trunk_numbers)
        app.router.add_post("/v1/Trunks/{trunk}/PhoneNumbers", self._attach)
        app.router.add_delete("/v1/Trunks/{trunk}/PhoneNumbers/{sid}", self._detach)
        self.termination.routes(app)
        self.inventory.routes(app)
        return app

    def _basic_ok(self, request: web.Request) -> bool:
        expected = aiohttp.encode_basic_auth(self.account_sid, self.auth_token)
        return request.headers.get("Authorization") == expected

    @staticmethod
    def _v1_page(key: str, items: list[dict[str, Any]]) -> web.Response:
        """Trunking v1 lists: the items under ``key`` and a ``meta`` naming it."""
        return web.json_response(
            {key: items, "meta": {"key": key, "page": 0, "page_size": 1000,
                                  "next_page_url": None, "previous_page_url": None}}
        )  # fmt: skip

    async def _trunks(self, request: web.Request) -> web.Response:
        if not self._basic_ok(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        return self._v1_page("trunks", list(self.trunks.values()))

    async def _create_trunk(self, request: web.Request) -> web.Response:
        if not self._basic_ok(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = dict(await request.post())
        sid = f"TK{len(self.trunks) + 1:032x}"
        self.trunks[sid] = {
            "sid": sid, "friendly_name": str(form.get("FriendlyName", "")), "domain_name": None,
        }  # fmt: skip
        self.originations[sid] = []
        return web.json_response(self.trunks[sid], status=201)

    async def _originations(self, request: web.Request) -> web.Response:
        trunk = request.match_info["trunk"]
        if not self._basic_ok(request) or trunk not in self.trunks:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        return self._v1_page("origination_urls", self.originations[trunk])

    async def _add_origination(self, request: web.Request) -> web.Response:
        trunk = request.match_info["trunk"]
        if not self._basic_ok(request) or trunk not in self.trunks:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        form = {k: str(v) for k, v in (await request.post()).items()}
        needed = {"FriendlyName", "SipUrl", "Priority", "Weight", "Enabled"}
        if set(form) != needed or not form["SipUrl"].startswith("sip:"):
            return web.json_response({"code": 21600, "message": f"bad {sorted(form)}"}, status=400)
        entry = {
            "sid": f"OU{len(self.originations[trunk]) + 1:032x}",
            "sip_url": form["SipUrl"],
            "priority": int(form["Priority"]),
            "weight": int(form["Weight"]),
            "enabled": form["Enabled"] == "true",
            "friendly_name": form["FriendlyName"],
        }
        self.originations[trunk].append(entry)
        return web.json_response(entry, status=201)

    async def _trunk_numbers(self, request: web.Request) -> web.Response:
        trunk = request.match_info["trunk"]
        if not self._basic_ok(request) or trunk not in self.trunks:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        items = [
            {"sid": sid, "phone_number": self.numbers[sid]["phone_number"], "trunk_sid": trunk}
            for sid in self.attached(trunk)
        ]
        size = min(int(request.query.get("PageSize", "50")), 1000)
        page = int(request.query.get("Page", "0"))
        more = (page + 1) * size < len(items)
        following = request.url.update_query(PageSize=str(size), Page=str(page + 1))
        return web.json_response(
            {"phone_numbers": items[page * size : (page + 1) * size],
             "meta": {"key": "phone_numbers", "page": page, "page_size": size,
                      "next_page_url": str(following) if more else None,
                      "previous_page_url": None}}
        )  # fmt: skip

    async def _attach(self, request: web.Request) -> web.Response:
        trunk = request.match_info["trunk"]
        if not self._basic_ok(request) or trunk not in self.trunks:
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        sid = str((await request.post()).get("PhoneNumberSid", ""))
        if sid not in self.numbers:
            return web.json_response({"code": 21421, "message": "bad PhoneNumberSid"}, status=400)
        if self.numbers[sid].get("trunk_sid"):
            return web.json_response(
                {"code": 21220, "message": "number already on a trunk"}, status=400
            )
        self.numbers[sid]["trunk_sid"], self.numbers[sid]["voice_application_sid"] = trunk, None
        return web.json_response({"sid": sid, "trunk_sid": trunk}, status=201)

    async def _detach(self, request: web.Request) -> web.Response:
        trunk, sid = request.match_info["trunk"], request.match_info["sid"]
        if not self._basic_ok(request) or sid not in self.attached(trunk):
            return web.json_response({"code": 20404, "message": "not found"}, status=404)
        self.numbers[sid]["trunk_sid"] = None
        return web.Response(status=204)

    def _refused(self, request: web.Request) -> web.Response | None:
        expected = aiohttp.encode_basic_auth(self.account_sid, self.auth_token)
        if request.headers.get("Authorization") != expected or (
            request.match_info["account"] != self.account_sid
        ):
            return web.json_response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status=401
            )
        return None

    @staticmethod
    def _page(key: str, items: list[dict[str, Any]], request: web.Request) -> web.Response:
        return web.json_response(
            {key: items, "page": 0, "page_size": 50, "start": 0, "end": max(len(items) - 1, 0),
             "uri": request.path_qs, "first_page_uri": request.path_qs,
             "next_page_uri": None, "previous_page_uri": None}
        )  # fmt: skip

    async def _incoming(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        wanted = request.query.get("PhoneNumber")
        found = [n for n in self.numbers.values() if wanted in (None, n["phone_number"])]
        return self._page("incoming_phone_numbers", found, request)

    async def _update_call(self, request: web.Request) -> web.Response:
        """Update a Call resource: ``Twiml`` (or ``Url``, or ``Status``) — the live call runs
        the new TwiML (Twilio's Call resource reference)."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        form = {k: str(v) for k, v in (await request.post()).items()}
        if not ({"Twiml", "Url", "Status"} & set(form)) or set(form) - {
            "Twiml",
            "Url",
            "Method",
            "Status",
        }:
            return web.json_response({"code": 21600, "message": f"bad {sorted(form)}"}, status=400)
        sid = request.match_info["sid"]
        self.call_updates.put_nowait((sid, form))
        return web.json_response(
            {"sid": sid, "account_sid": self.account_sid, "status": "in-progress"}
        )

    async def _caller_ids(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        wanted = request.query.get("PhoneNumber")
        found = [
            {"sid": f"PN{i:032x}", "phone_number": n, "friendly_name": n}
            for i, n in enumerate(self.caller_ids)
            if wanted in (None, n)
        ]
        return self._page("outgoing_caller_ids", found, request)

    async def _update(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response(
                {"code": 20500, "message": "Internal Server Error", "status": status},
                status=status,
            )
        number = self.numbers.get(request.match_info["sid"])
        if number is None:
            return web.json_response(
                {"code": 20404, "message": "The requested resource was not found", "status": 404},
                status=404,
            )
        form = dict(await request.post())
        unknown = set(form) - {
            "VoiceUrl", "VoiceMethod", "FriendlyName", "VoiceFallbackUrl", "VoiceApplicationSid",
            "TrunkSid",
        }  # fmt: skip
        if unknown or form.get("VoiceMethod", "POST") not in ("GET", "POST"):
            return web.json_response(
                {"code": 21600, "message": f"bad parameters {sorted(unknown)}"}, status=400
            )
        self.updates.append({k: str(v) for k, v in form.items()})
        if "VoiceUrl" in form:
            number["voice_url"] = str(form["VoiceUrl"])
        if "VoiceMethod" in form:
            number["voice_method"] = str(form["VoiceMethod"])
        # "Setting a trunk_sid will automatically delete your voice_application_sid and vice
        # versa" (IncomingPhoneNumber resource); an empty value clears the field.
        for field, other, name in (
            ("VoiceApplicationSid", "trunk_sid", "voice_application_sid"),
            ("TrunkSid", "voice_application_sid", "trunk_sid"),
        ):
            if field in form:
                number[name] = str(form[field]) or None
                if number[name]:
                    number[other] = None
        return web.json_response(number)
