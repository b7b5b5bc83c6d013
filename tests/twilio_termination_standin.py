"""The termination side of Twilio's Elastic SIP Trunking in the Twilio stand-in
(``tests.carrier_helpers.TwilioRestStandIn``): a trunk's ``DomainName``, SIP credential lists
and their credentials, and the lists associated with a trunk. Held to Twilio's documented rules:

- a trunk's ``DomainName`` "can contain letters, digits, and ``-`` and must end with
  ``pstn.twilio.com``", and is "the unique address you reserve on Twilio" (Trunk resource):
  one taken by any trunk — of this account or another (``taken``) — is refused;
- a credential list needs a ``FriendlyName`` "up to 64 characters long" (CredentialList
  resource, Create);
- a credential's ``Username`` is "up to 32 characters long", and its ``Password`` "must be a
  minimum of 12 characters, contain at least 1 digit, and have mixed case" (SIP Credential
  resource, Create and Update); Twilio keeps a digest, never returns it (here kept in
  ``passwords`` for the tests to compare with what LiveKit was given);
- a list associated with a trunk must be one of the account's (Trunk CredentialList
  resource, Create: ``CredentialListSid``), once.

Refusals are 400s with Twilio's error shape; the ``code`` numbers are the stand-in's own (the
references above name the rule, not its code).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

_DOMAIN = re.compile(r"^[A-Za-z0-9-]+\.pstn\.twilio\.com$")


def _refusal(message: str, status: int = 400) -> web.Response:
    return web.json_response(
        {"code": {400: 21600, 404: 20404}.get(status, 20500), "message": message, "status": status},
        status=status,
    )


def _weak(password: str) -> bool:
    return (
        len(password) < 12
        or not any(c.isdigit() for c in password)
        or password.lower() == password
        or password.upper() == password
    )


class TwilioTermination:
    def __init__(self, rest: Any) -> None:
        self.rest = rest  # the TwilioRestStandIn: its account, trunks and authentication
        self.taken: set[str] = set()  # domain names other Twilio accounts hold
        self.lists: dict[str, dict[str, Any]] = {}  # sid -> credential list
        self.credentials: dict[str, dict[str, dict[str, Any]]] = {}  # list sid -> sid -> cred
        self.passwords: dict[str, str] = {}  # credential sid -> its password
        self.associated: dict[str, list[str]] = {}  # trunk sid -> credential list sids
        self.fail_next: list[int] = []  # statuses to answer a trunk update with first

    def routes(self, app: web.Application) -> None:
        sip = "/2010-04-01/Accounts/{account}/SIP/CredentialLists"
        app.router.add_get("/v1/Trunks/{trunk}", self._trunk)
        app.router.add_post("/v1/Trunks/{trunk}", self._update_trunk)
        app.router.add_get("/v1/Trunks/{trunk}/CredentialLists", self._trunk_lists)
        app.router.add_post("/v1/Trunks/{trunk}/CredentialLists", self._associate)
        app.router.add_get(sip + ".json", self._lists)
        app.router.add_post(sip + ".json", self._create_list)
        app.router.add_get(sip + "/{list}/Credentials.json", self._credentials)
        app.router.add_post(sip + "/{list}/Credentials.json", self._create_credential)
        app.router.add_post(sip + "/{list}/Credentials/{sid}.json", self._update_credential)

    def _known_trunk(self, request: web.Request) -> str | None:
        trunk = request.match_info["trunk"]
        return trunk if self.rest._basic_ok(request) and trunk in self.rest.trunks else None

    async def _trunk(self, request: web.Request) -> web.Response:
        trunk = self._known_trunk(request)
        if trunk is None:
            return _refusal("The requested resource was not found", 404)
        return web.json_response(self.rest.trunks[trunk])

    async def _update_trunk(self, request: web.Request) -> web.Response:
        trunk = self._known_trunk(request)
        if trunk is None:
            return _refusal("The requested resource was not found", 404)
        if self.fail_next:
            return _refusal("Service Unavailable", self.fail_next.pop(0))
        form = {k: str(v) for k, v in (await request.post()).items()}
        domain = form.get("DomainName")
        if domain is not None:
            if not _DOMAIN.match(domain):
                return _refusal(f"DomainName {domain!r} must end with pstn.twilio.com")
            used = {t.get("domain_name") for s, t in self.rest.trunks.items() if s != trunk}
            if domain in used or domain in self.taken:
                return _refusal(f"DomainName {domain} is already in use")
            self.rest.trunks[trunk]["domain_name"] = domain
        return web.json_response(self.rest.trunks[trunk])

    async def _trunk_lists(self, request: web.Request) -> web.Response:
        trunk = self._known_trunk(request)
        if trunk is None:
            return _refusal("The requested resource was not found", 404)
        items = [{"sid": s, "friendly_name": self.lists[s]["friendly_name"],
                  "trunk_sid": trunk} for s in self.associated.get(trunk, [])]  # fmt: skip
        return self.rest._v1_page("credential_lists", items)  # type: ignore[no-any-return]

    async def _associate(self, request: web.Request) -> web.Response:
        trunk = self._known_trunk(request)
        if trunk is None:
            return _refusal("The requested resource was not found", 404)
        sid = str((await request.post()).get("CredentialListSid", ""))
        if sid not in self.lists:
            return _refusal(f"CredentialListSid {sid!r} is not a credential list of the account")
        if sid in self.associated.setdefault(trunk, []):
            return _refusal(f"CredentialList {sid} is already associated with the trunk")
        self.associated[trunk].append(sid)
        return web.json_response({"sid": sid, "trunk_sid": trunk}, status=201)

    async def _lists(self, request: web.Request) -> web.Response:
        if (refused := self.rest._refused(request)) is not None:
            return refused  # type: ignore[no-any-return]
        return self.rest._page("credential_lists", list(self.lists.values()), request)  # type: ignore[no-any-return]

    async def _create_list(self, request: web.Request) -> web.Response:
        if (refused := self.rest._refused(request)) is not None:
            return refused  # type: ignore[no-any-return]
        name = str((await request.post()).get("FriendlyName", ""))
        if not name or len(name) > 64:
            return _refusal("FriendlyName is required, up to 64 characters")
        sid = f"CL{len(self.lists) + 1:032x}"
        self.lists[sid] = {"sid": sid, "friendly_name": name,
                           "account_sid": self.rest.account_sid}  # fmt: skip
        self.credentials[sid] = {}
        return web.json_response(self.lists[sid], status=201)

    def _list_of(self, request: web.Request) -> tuple[str | None, web.Response | None]:
        if (refused := self.rest._refused(request)) is not None:
            return None, refused
        listed = request.match_info["list"]
        if listed not in self.lists:
            return None, _refusal("The requested resource was not found", 404)
        return listed, None

    async def _credentials(self, request: web.Request) -> web.Response:
        listed, refused = self._list_of(request)
        if listed is None:
            assert refused is not None
            return refused
        items = list(self.credentials[listed].values())
        return self.rest._page("credentials", items, request)  # type: ignore[no-any-return]

    async def _create_credential(self, request: web.Request) -> web.Response:
        listed, refused = self._list_of(request)
        if listed is None:
            assert refused is not None
            return refused
        form = {k: str(v) for k, v in (await request.post()).items()}
        username, password = form.get("Username", ""), form.get("Password", "")
        if not username or len(username) > 32:
            return _refusal("Username is required, up to 32 characters")
        if any(c["username"] == username for c in self.credentials[listed].values()):
            return _refusal(f"Username {username} is already in the credential list")
        if _weak(password):
            return _refusal(
                "Password must be a minimum of 12 characters, contain at least 1 digit, "
                "and have mixed case"
            )
        sid = f"CR{len(self.passwords) + 1:032x}"
        self.credentials[listed][sid] = {
            "sid": sid, "username": username, "credential_list_sid": listed,
            "account_sid": self.rest.account_sid,
        }  # fmt: skip
        self.passwords[sid] = password
        return web.json_response(self.credentials[listed][sid], status=201)

    async def _update_credential(self, request: web.Request) -> web.Response:
        listed, refused = self._list_of(request)
        if listed is None:
            assert refused is not None
            return refused
        sid = request.match_info["sid"]
        if sid not in self.credentials[listed]:
            return _refusal("The requested resource was not found", 404)
        password = str((await request.post()).get("Password", ""))
        if _weak(password):
            return _refusal(
                "Password must be a minimum of 12 characters, contain at least 1 digit, "
                "and have mixed case"
            )
        self.passwords[sid] = password
        return web.json_response(self.credentials[listed][sid])

    def username_and_password(self, trunk: str) -> list[tuple[str, str]]:
        """The credentials Twilio checks on calls to the trunk's domain."""
        return [
            (c["username"], self.passwords[sid])
            for listed in self.associated.get(trunk, [])
            for sid, c in self.credentials[listed].items()
        ]
