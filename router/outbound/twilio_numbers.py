"""A Twilio number pointed at the router, with the organization's own account credentials.

Twilio's REST API (2010-04-01), HTTP Basic with the account SID and auth token:
``GET …/IncomingPhoneNumbers.json?PhoneNumber=<E.164>`` finds a number the account owns;
failing that, ``GET …/OutgoingCallerIds.json?PhoneNumber=…`` finds a verified caller ID (a
number the account may present, not receive calls on). ``POST …/IncomingPhoneNumbers/{Sid}.json``
with ``VoiceUrl`` / ``VoiceMethod`` points the number's calls at the router's Twilio webhook,
and back on release. Twilio's errors come back as ``ProvisioningError`` with Twilio's own
``message`` and ``code``.
"""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
import msgspec

from router.outbound.livekit_sip import ProvisioningError

TWILIO_API = "https://api.twilio.com/2010-04-01"


class IncomingNumber(msgspec.Struct, frozen=True):
    sid: str
    phone_number: str
    voice_url: str | None = None
    voice_method: str | None = None


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

    async def point(
        self, account: str, token: str, sid: str, voice_url: str, voice_method: str
    ) -> IncomingNumber:
        raw = await self._request(
            "point the number's voice URL", "POST", account, token,
            f"IncomingPhoneNumbers/{quote(sid, safe='')}.json",
            form={"VoiceUrl": voice_url, "VoiceMethod": voice_method},
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
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=form,
                headers={"Authorization": aiohttp.encode_basic_auth(account, token)},
            ) as resp:
                raw = await resp.read()
                if resp.status < 300:
                    return raw
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ProvisioningError(f"Twilio did not answer a request to {what}: {exc!r}") from exc
        try:
            error = msgspec.json.decode(raw, type=_TwilioError)
            words = f"{error.message} (code {error.code})" if error.message else ""
        except (msgspec.DecodeError, msgspec.ValidationError):
            words = ""
        words = words or raw[:200].decode(errors="replace")
        raise ProvisioningError(
            f"Twilio refused to {what} ({resp.status}): {words}", status=resp.status
        )
