"""Where managed numbers come from (``ROUTER_MANAGED_PROVIDERS``), behind one interface:
LiveKit Phone Numbers on the project of ``LIVEKIT_URL`` (``outbound.livekit_numbers``), the
platform's own Twilio account (``outbound.twilio_platform``) — both sell at once — and the
platform's Telnyx account (``outbound.telnyx_platform``), which takes an order and carries it
out later. Each searches its inventory, buys a number, says whether it holds one (how an
interrupted purchase learns what happened), and releases one."""

from __future__ import annotations

from typing import Protocol

import aiohttp
import msgspec

from router.config import Config
from router.core.managed import NumberType, Provider, Region
from router.errors import ProvisioningError
from router.outbound.livekit_numbers import LiveKitNumbers
from router.outbound.telnyx_platform import TelnyxPlatform
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
    price: tuple[int, int] | None = None  # the provider's own (monthly, upfront) cents


class Held(msgspec.Struct, frozen=True, kw_only=True):
    provider_id: str
    e164: str


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """An order the provider carries out later (Telnyx's number orders)."""

    order_id: str


class Failed(msgspec.Struct, frozen=True, kw_only=True):
    """An order the provider could not carry out, in its words."""

    words: str


class NumberProvider(Protocol):
    name: Provider

    async def search(
        self, area_code: str | None, locality: str | None, limit: int
    ) -> list[Found]: ...

    async def buy(self, e164: str, label: str) -> Held | Pending:
        """Buy the number (``ProvisioningError``: a 4xx is the provider's refusal to sell
        it, anything else may have bought it — ask ``held`` before trying again); or order
        it (``Pending``)."""
        ...

    async def order_status(self, order_id: str) -> Held | Pending | Failed:
        """Where an order stands (providers that order)."""
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

    async def buy(self, e164: str, label: str) -> Held | Pending:
        bought = await self.numbers.purchase(e164)
        return Held(provider_id=bought.id, e164=bought.e164_format or e164)

    async def order_status(self, order_id: str) -> Held | Pending | Failed:
        return Failed(words=f"{self.name} sells at once: there is no order {order_id}")

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

    async def buy(self, e164: str, label: str) -> Held | Pending:
        # The voice URL set in the same request: the number reaches the router at once.
        bought = await self.platform.buy(e164, self.voice_url, label)
        return Held(provider_id=bought.sid, e164=bought.phone_number)

    async def order_status(self, order_id: str) -> Held | Pending | Failed:
        return Failed(words=f"{self.name} sells at once: there is no order {order_id}")

    async def held(self, e164: str) -> Held | None:
        found = await self.platform.held(e164)
        return Held(provider_id=found.sid, e164=found.phone_number) if found else None

    async def release(self, held: Held) -> None:
        await self.platform.release(held.provider_id)


class TelnyxProvider:
    name: Provider = "telnyx"

    def __init__(self, platform: TelnyxPlatform, connection_id: str | None) -> None:
        self.platform, self.connection_id = platform, connection_id

    async def search(self, area_code: str | None, locality: str | None, limit: int) -> list[Found]:
        return [
            Found(
                e164=n.phone_number,
                friendly_name=_friendly(n.phone_number),
                number_type="local",
                region=Region(
                    locality=n.region("location"),
                    region=n.region("state"),
                    country=n.region("country_code") or "US",
                    area_code=n.phone_number[2:5] if n.phone_number.startswith("+1") else None,
                ),
                features=sorted(f.name for f in n.features if f.name),
                price=n.cents(),
            )
            for n in await self.platform.search(area_code, locality, limit)
        ]

    async def buy(self, e164: str, label: str) -> Held | Pending:
        # The router's application as the number's connection: its calls reach the router.
        order = await self.platform.order(e164, self.connection_id, label)
        result = _of_order(order.id, order.status, e164)
        if isinstance(result, Failed):  # refused at once: not sold
            raise ProvisioningError(result.words, status=422)
        return result

    async def order_status(self, order_id: str) -> Held | Pending | Failed:
        order = await self.platform.order_status(order_id)
        e164 = order.phone_numbers[0].phone_number if order.phone_numbers else ""
        return _of_order(order.id, order.status, e164)

    async def held(self, e164: str) -> Held | None:
        found = await self.platform.held(e164)
        return Held(provider_id=found.id, e164=found.phone_number) if found else None

    async def release(self, held: Held) -> None:
        await self.platform.release(held.provider_id)


def _of_order(order_id: str, status: str, e164: str) -> Pending | Failed | Held:
    if status == "pending":
        return Pending(order_id=order_id)
    if status != "success":
        return Failed(words=f"Telnyx's number order {order_id} ended {status}")
    # Done: the number's own id comes from the account (``held``).
    return Held(provider_id="", e164=e164)


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
        elif name == "telnyx" and config.telnyx.api_key:
            telnyx = TelnyxPlatform(session, config.telnyx.api_base_url, config.telnyx.api_key)
            found[name] = TelnyxProvider(telnyx, config.telnyx.connection_id)
    return found
