"""A Telnyx number pointed at the router's application, with the organization's own API key.

``GET {TELNYX_API_BASE_URL}/phone_numbers?filter[phone_number]=<digits>`` finds it on the
account (digits only: Telnyx documents that non-numerical characters, the ``+`` included,
return no values; the filter matches partially, so the exact number is picked from the page);
``PATCH /phone_numbers/{id}`` with ``{"connection_id": …}`` points it at the router's
TeXML or Call Control application (``TELNYX_CONNECTION_ID``), and back to what it was on release.
Telnyx's errors come back as ``ProvisioningError`` naming Telnyx's own words (``errors[].title``
/ ``detail``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from router.errors import ProvisioningError
from router.outbound.carrier_http import carrier_call


class TelnyxNumber(msgspec.Struct, frozen=True):
    id: str
    phone_number: str
    connection_id: str | None = None


class _Listed(msgspec.Struct):
    data: list[TelnyxNumber]


class _One(msgspec.Struct):
    data: TelnyxNumber


class _Application(msgspec.Struct):
    id: str


class _OneApplication(msgspec.Struct):
    data: _Application


class TelnyxNumbers:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session, self._base = session, base_url.rstrip("/")

    async def find(self, api_key: str, e164: str) -> TelnyxNumber | None:
        raw = await self.request(
            "look the number up", "GET", "/phone_numbers", api_key,
            params={"filter[phone_number]": e164.lstrip("+")},
        )  # fmt: skip
        found = msgspec.json.decode(raw, type=_Listed).data
        return next((n for n in found if n.phone_number == e164), None)

    async def point(self, api_key: str, number_id: str, connection_id: str | None) -> TelnyxNumber:
        raw = await self.request(
            "point the number at the router's application", "PATCH",
            f"/phone_numbers/{quote(number_id, safe='')}", api_key,
            body={"connection_id": connection_id},
        )  # fmt: skip
        return msgspec.json.decode(raw, type=_One).data

    async def application(self, api_key: str, connection_id: str) -> bool:
        """Whether ``connection_id`` is a TeXML or Call Control application of the account
        (applications belong to an account: another's is not found)."""
        for kind in ("texml_applications", "call_control_applications"):
            try:
                await self.request(
                    "look the application up", "GET",
                    f"/{kind}/{quote(connection_id, safe='')}", api_key,
                )  # fmt: skip
            except ProvisioningError as exc:
                if exc.status == 404:
                    continue
                raise
            return True
        return False

    async def create_texml_application(self, api_key: str, name: str, voice_url: str) -> str:
        """A TeXML application on the account whose calls are POSTed to ``voice_url``."""
        raw = await self.request(
            "create the router's TeXML application", "POST", "/texml_applications", api_key,
            body={"friendly_name": name, "voice_url": voice_url, "voice_method": "post"},
        )  # fmt: skip
        return msgspec.json.decode(raw, type=_OneApplication).data.id

    async def request(
        self,
        what: str,
        method: str,
        path: str,
        api_key: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> bytes:
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = msgspec.json.encode(body)
        return await carrier_call(
            self._session, "Telnyx", what, method, self._base + path,
            headers=headers, words=_words, params=params, data=data,
        )  # fmt: skip


def _words(raw: bytes) -> str:
    """Telnyx's own message: ``errors[].title`` and ``detail``, else the body's start."""
    try:
        errors = msgspec.json.decode(raw).get("errors") or []
        text = "; ".join(
            " — ".join(str(e[k]) for k in ("title", "detail") if e.get(k)) for e in errors
        )
    except (msgspec.DecodeError, AttributeError, TypeError):
        text = ""
    return text
