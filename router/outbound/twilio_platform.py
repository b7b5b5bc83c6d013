"""The platform's own Twilio account as a source of managed numbers (``TWILIO_ACCOUNT_SID`` /
``TWILIO_AUTH_TOKEN``): searching Twilio's inventory (``AvailablePhoneNumbers/US/Local.json``
with ``AreaCode``, ``InLocality``, ``VoiceEnabled``), buying a number into the account
(``POST IncomingPhoneNumbers.json`` — synchronous: the answer is the number, its voice URL
already the router's Twilio webhook), finding one the account holds, and releasing it
(``DELETE IncomingPhoneNumbers/{Sid}.json``). Twilio's refusals are ``ProvisioningError`` in
its words; a 4xx to a purchase means the number cannot be bought (Twilio's 21422: "not
currently available")."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
import msgspec

from router.outbound.twilio_numbers import TWILIO_API, IncomingNumber, TwilioNumbers, twilio_call


class Capabilities(msgspec.Struct, rename="camel"):
    voice: bool = False
    sms: bool = msgspec.field(default=False, name="SMS")
    mms: bool = msgspec.field(default=False, name="MMS")


class Available(msgspec.Struct, kw_only=True):
    phone_number: str
    friendly_name: str = ""
    locality: str | None = None
    region: str | None = None
    iso_country: str = "US"
    capabilities: Capabilities = msgspec.field(default_factory=Capabilities)

    @property
    def features(self) -> list[str]:
        flags = (self.capabilities.voice, self.capabilities.sms, self.capabilities.mms)
        return [name for name, on in zip(("voice", "sms", "mms"), flags, strict=True) if on]


class _Available(msgspec.Struct):
    available_phone_numbers: list[Available]


class TwilioPlatform:
    def __init__(
        self, session: aiohttp.ClientSession, account: str, token: str, base_url: str = TWILIO_API
    ) -> None:
        self._session, self._account, self._token = session, account, token
        self._base = f"{base_url.rstrip('/')}/Accounts/{quote(account, safe='')}"
        self._numbers = TwilioNumbers(session, base_url)

    async def _call(
        self, what: str, method: str, path: str, *,
        params: dict[str, str] | None = None, form: dict[str, str] | None = None,
    ) -> bytes:  # fmt: skip
        url = f"{self._base}/{path}"
        return await twilio_call(
            self._session, what, method, url, self._account, self._token, params, form
        )

    async def search(
        self, area_code: str | None, locality: str | None, limit: int
    ) -> list[Available]:
        params = {"PageSize": str(limit), "VoiceEnabled": "true"}
        if area_code:
            params["AreaCode"] = area_code
        if locality:
            params["InLocality"] = locality
        raw = await self._call(
            "search available numbers", "GET", "AvailablePhoneNumbers/US/Local.json", params=params
        )
        return msgspec.json.decode(raw, type=_Available).available_phone_numbers

    async def buy(self, e164: str, voice_url: str | None, name: str) -> IncomingNumber:
        form = {"PhoneNumber": e164, "FriendlyName": name}
        if voice_url:
            form.update(VoiceUrl=voice_url, VoiceMethod="POST")
        raw = await self._call(f"buy {e164}", "POST", "IncomingPhoneNumbers.json", form=form)
        return msgspec.json.decode(raw, type=IncomingNumber)

    async def held(self, e164: str) -> IncomingNumber | None:
        return await self._numbers.incoming(self._account, self._token, e164)

    async def release(self, sid: str) -> None:
        await self._call(
            "release the number", "DELETE", f"IncomingPhoneNumbers/{quote(sid, safe='')}.json"
        )
