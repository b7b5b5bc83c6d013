"""Where managed numbers come from (``ROUTER_MANAGED_PROVIDERS``), behind one interface:
LiveKit Phone Numbers on the project of ``LIVEKIT_URL`` (``outbound.livekit_numbers``), and
the platform's own Twilio account (``outbound.twilio_platform``). Each searches its inventory,
buys a number, says whether it holds one (how an interrupted purchase learns what happened),
and releases one."""

from __future__ import annotations

from typing import Protocol

import aiohttp
import msgspec

from router.config import Config
from router.core.managed import NumberType, Provider, Region
from router.outbound.livekit_numbers import LiveKitNumbers
from router.outbound.twilio_platform import TwilioPlatform

_LIVEKIT_TYPES: dict[str, NumberType] = {
    "PHONE_NUMBER_TYPE_LOCAL": "local",
    "PHONE_NUMBER_TYPE_TOLL_FREE": "toll_free",
    "PHONE_NUMBER_TYPE_MOBILE": "mobile",
}


class Found(msgspec.Struct, frozen=True, kw_only=True):
    e164: str
    friendly_name: str
    number_type: NumberType
    region: Region
    features: list[str]


class Held(msgspec.Struct, frozen=True, kw_only=True):
    provider_id: str
    e164: str


class NumberProvider(Protocol):
    name: Provider

    async def search(
        self, area_code: str | None, locality: str | None, limit: int
    ) -> list[Found]: ...

    async def buy(self, e164: str, label: str) -> Held:
        """Buy the number (``ProvisioningError``: a 4xx is the provider's refusal to sell
        it, anything else may have bought it — ask ``held`` before trying again)."""
        ...

    async def held(self, e164: str) -> Held | None: ...

    async def release(self, held: Held) -> None: ...


class LiveKitProvider:
    name: Provider = "livekit"

    def __init__(self, numbers: LiveKitNumbers) -> None:
        self.numbers = numbers

    async def search(self, area_code: str | None, locality: str | None, limit: int) -> list[Found]:
        # LiveKit's search takes no locality: a wider page, filtered here.
        items = await self.numbers.search(area_code, 50 if locality else limit)
        wanted = (locality or "").casefold()
        return [
            Found(
                e164=n.e164_format,
                friendly_name=_friendly(n.e164_format),
                number_type=_LIVEKIT_TYPES.get(n.number_type, "local"),
                region=Region(
                    locality=n.locality or None,
                    region=n.region or None,
                    country=n.country_code or "US",
                    area_code=n.area_code or None,
                ),
                features=sorted(n.capabilities),
            )
            for n in items
            if not wanted or n.locality.casefold() == wanted
        ][:limit]

    async def buy(self, e164: str, label: str) -> Held:
        bought = await self.numbers.purchase(e164)
        return Held(provider_id=bought.id, e164=bought.e164_format or e164)

    async def held(self, e164: str) -> Held | None:
        found = await self.numbers.get(e164)
        if found is None or found.status == "PHONE_NUMBER_STATUS_RELEASED":
            return None
        return Held(provider_id=found.id, e164=found.e164_format or e164)

    async def release(self, held: Held) -> None:
        await self.numbers.release(held.e164)


class TwilioProvider:
    name: Provider = "twilio"

    def __init__(self, platform: TwilioPlatform, voice_url: str | None) -> None:
        self.platform, self.voice_url = platform, voice_url

    async def search(self, area_code: str | None, locality: str | None, limit: int) -> list[Found]:
        return [
            Found(
                e164=n.phone_number,
                friendly_name=n.friendly_name or _friendly(n.phone_number),
                number_type="local",
                region=Region(
                    locality=n.locality,
                    region=n.region,
                    country=n.iso_country,
                    area_code=n.phone_number[2:5] if n.phone_number.startswith("+1") else None,
                ),
                features=n.features,
            )
            for n in await self.platform.search(area_code, locality, limit)
        ]

    async def buy(self, e164: str, label: str) -> Held:
        # The voice URL set in the same request: the number reaches the router at once.
        bought = await self.platform.buy(e164, self.voice_url, label)
        return Held(provider_id=bought.sid, e164=bought.phone_number)

    async def held(self, e164: str) -> Held | None:
        found = await self.platform.held(e164)
        return Held(provider_id=found.sid, e164=found.phone_number) if found else None

    async def release(self, held: Held) -> None:
        await self.platform.release(held.provider_id)


def _friendly(e164: str) -> str:
    """``(201) 555-0123`` for a NANP number, else the number."""
    digits = e164.removeprefix("+1")
    if e164.startswith("+1") and len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return e164


def providers_of(
    config: Config, session: aiohttp.ClientSession, numbers: LiveKitNumbers | None
) -> dict[str, NumberProvider]:
    """The providers the operator configured that have what they need (LiveKit's server API;
    the platform's Twilio account); in the operator's order."""
    found: dict[str, NumberProvider] = {}
    for name in config.managed.providers:
        if name == "livekit" and numbers is not None:
            found[name] = LiveKitProvider(numbers)
        elif name == "twilio" and config.twilio.account_sid and config.twilio.auth_token:
            base = config.http.public_url.rstrip("/") if config.http.public_url else None
            platform = TwilioPlatform(
                session, config.twilio.account_sid, config.twilio.auth_token,
                config.twilio.api_base_url,
            )  # fmt: skip
            found[name] = TwilioProvider(
                platform, f"{base}/webhooks/twilio/voice" if base else None
            )
    return found
