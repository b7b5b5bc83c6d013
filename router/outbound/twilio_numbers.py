"""A Twilio number pointed at the router, with the organization's own account credentials.

Twilio's REST API (2010-04-01), HTTP Basic with the account SID and auth token:
``GET …/IncomingPhoneNumbers.json?PhoneNumber=<E.164>`` finds a number the account owns;
failing that, ``GET …/OutgoingCallerIds.json?PhoneNumber=…`` finds a verified caller ID (a
number the account may present, not receive calls on). ``POST …/IncomingPhoneNumbers/{Sid}.json``
with ``VoiceUrl`` / ``VoiceMethod`` points the number's calls at the router's Twilio webhook —
and with ``VoiceApplicationSid`` and ``TrunkSid`` emptied, since Twilio ignores the voice URL
of a number on a TwiML application or a SIP trunk (a trunk overrides both: the
IncomingPhoneNumber resource) — and back to all of it on release. Twilio's errors come back as
``ProvisioningError`` with Twilio's own ``message`` and ``code``.
"""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
import msgspec

from router.core.carrier_states import TwilioRouting
from router.errors import ProvisioningError
from router.outbound.carrier_http import carrier_call

TWILIO_API = "https://api.twilio.com/2010-04-01"


class IncomingNumber(msgspec.Struct, frozen=True):
    sid: str
    phone_number: str
    voice_url: str | None = None
    voice_method: str | None = None
    voice_application_sid: str | None = None
    trunk_sid: str | None = None

    @property
    def routing(self) -> TwilioRouting:
        return TwilioRouting(
            voice_url=self.voice_url,
            voice_method=self.voice_method,
            voice_application_sid=self.voice_application_sid or None,
            trunk_sid=self.trunk_sid or None,
        )

    def reaches(self, voice_url: str) -> bool:
        """Twilio sends this number's calls to ``voice_url`` (POST): no trunk or TwiML
        application takes precedence over it."""
        return (
            not self.trunk_sid
            and not self.voice_application_sid
            and (self.voice_url, self.voice_method) == (voice_url, "POST")
        )


class _Incoming(msgspec.Struct):
    incoming_phone_numbers: list[IncomingNumber]


class _CallerId(msgspec.Struct):
    sid: str
    phone_number: str


class _CallerIds(msgspec.Struct):
    outgoing_caller_ids: list[_CallerId]


class _TwilioError(msgspec.Struct):
    message: str = ""
    code: int | None = None


class TwilioNumbers:
    def __init__(self, session: aiohttp.ClientSession, base_url: str = TWILIO_API) -> None:
        self._session, self._base = session, base_url.rstrip("/")

    async def incoming(self, account: str, token: str, e164: str) -> IncomingNumber | None:
        raw = await self._request(
            "look the number up", "GET", account, token, "IncomingPhoneNumbers.json",
            params={"PhoneNumber": e164},
        )  # fmt: skip
        found = msgspec.json.decode(raw, type=_Incoming).incoming_phone_numbers
        return next((n for n in found if n.phone_number == e164), None)

    async def verified_caller_id(self, account: str, token: str, e164: str) -> bool:
        raw = await self._request(
            "look the caller ID up", "GET", account, token, "OutgoingCallerIds.json",
            params={"PhoneNumber": e164},
        )  # fmt: skip
        found = msgspec.json.decode(raw, type=_CallerIds).outgoing_caller_ids
        return any(n.phone_number == e164 for n in found)

    async def point(self, account: str, token: str, sid: str, voice_url: str) -> IncomingNumber:
        """The number's calls to ``voice_url`` (POST): its TwiML application and SIP trunk,
        which Twilio would use instead, are emptied."""
        return await self.route(
            account, token, sid, TwilioRouting(voice_url=voice_url, voice_method="POST")
        )

    async def route(
        self, account: str, token: str, sid: str, routing: TwilioRouting
    ) -> IncomingNumber:
        """Set the number's whole routing (an empty field clears it at Twilio)."""
        raw = await self._request(
            "point the number's voice URL", "POST", account, token,
            f"IncomingPhoneNumbers/{quote(sid, safe='')}.json",
            form={
                "VoiceUrl": routing.voice_url or "",
                "VoiceMethod": routing.voice_method or "POST",
                "VoiceApplicationSid": routing.voice_application_sid or "",
                "TrunkSid": routing.trunk_sid or "",
            },
        )  # fmt: skip
        return msgspec.json.decode(raw, type=IncomingNumber)

    async def _request(
        self,
        what: str,
        method: str,
        account: str,
        token: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> bytes:
        url = f"{self._base}/Accounts/{quote(account, safe='')}/{path}"
        return await twilio_call(self._session, what, method, url, account, token, params, form)


async def twilio_call(
    session: aiohttp.ClientSession,
    what: str,
    method: str,
    url: str,
    account: str,
    token: str,
    params: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> bytes:
    """Twilio's REST APIs (numbers and trunking alike): HTTP Basic with the account."""
    headers = {"Authorization": aiohttp.encode_basic_auth(account, token)}
    return await carrier_call(
        session, "Twilio", what, method, url,
        headers=headers, words=_twilio_words, params=params, data=form,
    )  # fmt: skip


TWILIO_TRUNKING = "https://trunking.twilio.com/v1"


class Trunk(msgspec.Struct, frozen=True):
    sid: str
    friendly_name: str | None = None
    domain_name: str | None = None  # its termination address (``<name>.pstn.twilio.com``)


class _Trunks(msgspec.Struct):
    trunks: list[Trunk]


class _Origination(msgspec.Struct, frozen=True):
    sid: str
    sip_url: str


class _Originations(msgspec.Struct):
    origination_urls: list[_Origination]


class _TrunkNumber(msgspec.Struct, frozen=True):
    sid: str
    phone_number: str | None = None


class _Meta(msgspec.Struct):
    next_page_url: str | None = None


class _TrunkNumbers(msgspec.Struct):
    phone_numbers: list[_TrunkNumber]
    meta: _Meta = msgspec.field(default_factory=_Meta)


class TwilioTrunks:
    """Elastic SIP Trunking (``trunking.twilio.com/v1``): the organization's trunk whose
    origination URI is LiveKit's SIP host, and the numbers attached to it."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str = TWILIO_TRUNKING) -> None:
        self._session, self._base = session, base_url.rstrip("/")

    async def _request(
        self, what: str, method: str, account: str, token: str, path: str,
        form: dict[str, str] | None = None,
    ) -> bytes:  # fmt: skip
        url = f"{self._base}/{path}"
        return await twilio_call(self._session, what, method, url, account, token, form=form)

    async def named(self, account: str, token: str, name: str) -> Trunk:
        """The trunk named ``name``, made if missing."""
        raw = await self._request("list SIP trunks", "GET", account, token, "Trunks?PageSize=1000")
        trunk = next(
            (t for t in msgspec.json.decode(raw, type=_Trunks).trunks if t.friendly_name == name),
            None,
        )
        if trunk is None:
            raw = await self._request(
                "create the SIP trunk", "POST", account, token, "Trunks", {"FriendlyName": name}
            )
            trunk = msgspec.json.decode(raw, type=Trunk)
        return trunk

    async def ensure(self, account: str, token: str, name: str, sip_url: str) -> str:
        """The trunk named ``name`` (made if missing) with ``sip_url`` among its origination
        URIs; its SID."""
        trunk = await self.named(account, token, name)
        path = f"Trunks/{quote(trunk.sid, safe='')}/OriginationUrls"
        raw = await self._request("list origination URIs", "GET", account, token, path)
        urls = msgspec.json.decode(raw, type=_Originations).origination_urls
        if not any(u.sip_url == sip_url for u in urls):
            await self._request(
                "add the LiveKit origination URI", "POST", account, token, path,
                {"FriendlyName": "LiveKit", "SipUrl": sip_url, "Priority": "10",
                 "Weight": "10", "Enabled": "true"},
            )  # fmt: skip
        return trunk.sid

    async def attached(self, account: str, token: str, trunk_sid: str, number_sid: str) -> bool:
        """Whether the number is on the trunk: every page of the trunk's numbers is read
        (Twilio pages lists, 50 to a page unless asked; ``meta.next_page_url`` leads on)."""
        url: str | None = f"{self._base}/Trunks/{quote(trunk_sid, safe='')}/PhoneNumbers"
        url = f"{url}?PageSize=1000"  # the largest page Twilio serves
        while url is not None:
            raw = await twilio_call(
                self._session, "list the trunk's numbers", "GET", url, account, token
            )
            page = msgspec.json.decode(raw, type=_TrunkNumbers)
            if any(n.sid == number_sid for n in page.phone_numbers):
                return True
            url = page.meta.next_page_url
            if url is not None and not url.startswith(self._base + "/"):
                # never send the account's credentials anywhere but Twilio's trunking API
                raise ProvisioningError(f"Twilio's next page is elsewhere: {url[:100]}")
        return False

    async def attach(self, account: str, token: str, trunk_sid: str, number_sid: str) -> None:
        if await self.attached(account, token, trunk_sid, number_sid):
            return
        path = f"Trunks/{quote(trunk_sid, safe='')}/PhoneNumbers"
        await self._request(
            "attach the number to the SIP trunk", "POST", account, token, path,
            {"PhoneNumberSid": number_sid},
        )  # fmt: skip

    async def detach(self, account: str, token: str, trunk_sid: str, number_sid: str) -> None:
        path = f"Trunks/{quote(trunk_sid, safe='')}/PhoneNumbers/{quote(number_sid, safe='')}"
        await self._request("detach the number from the SIP trunk", "DELETE", account, token, path)


def _twilio_words(raw: bytes) -> str:
    """Twilio's own ``message`` and ``code`` (empty when the body has none)."""
    try:
        error = msgspec.json.decode(raw, type=_TwilioError)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    return f"{error.message} (code {error.code})" if error.message else ""
