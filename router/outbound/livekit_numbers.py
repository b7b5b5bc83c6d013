"""LiveKit Phone Numbers (``livekit.PhoneNumberService``): binding a number bought from LiveKit
to the organization's dispatch rule, and reading its status back.

A number bought from LiveKit takes calls only once it is bound to a dispatch rule; until then
LiveKit lists it ``OFFLINE`` (``livekit_phone_number.proto``: "Number is offline (not
associated with any dispatch rule)"). livekit-api ships no client for this service and
livekit-protocol's Python package no messages for it, so it is spoken as Twirp's JSON form of
the same protocol: ``POST /twirp/livekit.PhoneNumberService/<Method>`` with
``Content-Type: application/json`` and the proto3 JSON mapping (lowerCamel field names, enum
names as strings), with a token carrying the SIP admin grant as the SIP service takes.
"""

from __future__ import annotations

import datetime
from typing import Any, TypeVar

import aiohttp
import msgspec
from livekit import api

from router.errors import ProvisioningError

T = TypeVar("T")
SERVICE = "livekit.PhoneNumberService"
ACTIVE = "PHONE_NUMBER_STATUS_ACTIVE"


class LiveKitNumber(msgspec.Struct, rename="camel", kw_only=True):
    """The fields of ``livekit.PhoneNumber`` the router reads."""

    id: str = ""
    e164_format: str = ""
    status: str = "PHONE_NUMBER_STATUS_UNSPECIFIED"
    sip_dispatch_rule_ids: list[str] = msgspec.field(default_factory=list)

    @property
    def status_word(self) -> str:
        return self.status.removeprefix("PHONE_NUMBER_STATUS_").lower()


class _Updated(msgspec.Struct, rename="camel"):
    phone_number: LiveKitNumber


class Inventory(msgspec.Struct, rename="camel", kw_only=True):
    """A ``livekit.PhoneNumber`` in the inventory a search answers."""

    e164_format: str
    area_code: str = ""
    locality: str = ""
    region: str = ""
    country_code: str = "US"
    number_type: str = "PHONE_NUMBER_TYPE_UNKNOWN"
    capabilities: list[str] = msgspec.field(default_factory=list)


class _Searched(msgspec.Struct, rename="camel"):
    items: list[Inventory] = msgspec.field(default_factory=list)


class _Purchased(msgspec.Struct, rename="camel"):
    phone_numbers: list[LiveKitNumber] = msgspec.field(default_factory=list)


class _TwirpError(msgspec.Struct):
    code: str = "unknown"
    msg: str = ""


class LiveKitNumbers:
    """The PhoneNumberService calls provisioning makes (the session is the caller's)."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, api_key: str, api_secret: str
    ) -> None:
        scheme, sep, rest = url.partition("://")
        base = f"{scheme.replace('ws', 'http')}{sep}{rest}".rstrip("/")
        self._base = f"{base}/twirp/{SERVICE}"
        self._session, self._key, self._secret = session, api_key, api_secret

    async def bind(self, e164: str, rule_id: str) -> LiveKitNumber:
        """The number bound to ``rule_id`` (an empty id unbinds it), as LiveKit then lists it."""
        body = {"phoneNumber": e164, "sipDispatchRuleId": rule_id}
        what = "bind the LiveKit number to the dispatch rule"
        raw = await self._call(what, "UpdatePhoneNumber", body)
        return _decoded(raw, _Updated, what).phone_number

    async def search(self, area_code: str | None, limit: int) -> list[Inventory]:
        """US numbers in LiveKit's inventory (``SearchPhoneNumbers``)."""
        body: dict[str, Any] = {"countryCode": "US", "limit": limit}
        if area_code:
            body["areaCode"] = area_code
        raw = await self._call("search phone numbers", "SearchPhoneNumbers", body)
        return _decoded(raw, _Searched, "search phone numbers").items

    async def purchase(self, e164: str) -> LiveKitNumber:
        """Buy the number into the project (``PurchasePhoneNumber``); bound to a dispatch
        rule later, by provisioning."""
        what = f"buy {e164}"
        raw = await self._call(what, "PurchasePhoneNumber", {"phoneNumbers": [e164]})
        bought = _decoded(raw, _Purchased, what).phone_numbers
        if not bought:
            raise ProvisioningError(f"LiveKit answered a request to {what} with no number")
        return bought[0]

    async def get(self, e164: str) -> LiveKitNumber | None:
        """The project's number (``GetPhoneNumber``), None if the project has none such."""
        try:
            raw = await self._call(f"look {e164} up", "GetPhoneNumber", {"phoneNumber": e164})
        except ProvisioningError as exc:
            if exc.status == 404:
                return None
            raise
        return _decoded(raw, _Updated, f"look {e164} up").phone_number

    async def release(self, e164: str) -> None:
        """Give the number back (``ReleasePhoneNumbers``)."""
        await self._call(f"release {e164}", "ReleasePhoneNumbers", {"phoneNumbers": [e164]})

    async def _call(self, what: str, method: str, body: dict[str, Any]) -> bytes:
        token = (
            api.AccessToken(self._key, self._secret)
            .with_sip_grants(api.SIPGrants(admin=True))
            .with_ttl(datetime.timedelta(minutes=5))
            .to_jwt()
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with self._session.post(
                f"{self._base}/{method}", data=msgspec.json.encode(body), headers=headers
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    try:
                        error = msgspec.json.decode(raw, type=_TwirpError)
                    except msgspec.DecodeError:
                        error = _TwirpError(msg=raw[:200].decode(errors="replace"))
                    raise ProvisioningError(
                        f"LiveKit refused to {what}: {error.msg} ({error.code})",
                        status=resp.status,
                        code=error.code,
                    )
                return raw
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            raise ProvisioningError(f"LiveKit did not answer a request to {what}: {exc!r}") from exc


def _decoded(raw: bytes, kind: type[T], what: str) -> T:
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProvisioningError(f"LiveKit answered a request to {what} with {exc}") from exc
