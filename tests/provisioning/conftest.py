"""What the provisioning tests share: a router that provisions LiveKit (the Twirp stand-in's
``livekit.SIP``), and stand-ins for Telnyx's and Twilio's number APIs with an organization's
account on each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from livekit.protocol import sip

from router.web import state
from tests.api.test_kyb import COMPLETE
from tests.carrier_helpers import TELNYX_API_KEY, TelnyxStandIn, TwilioRestStandIn
from tests.conftest import (
    ADMIN,
    create_agent,
    json_of,
)


@pytest.fixture
async def provisioned(make_router, twirp) -> Any:
    router = await make_router(ROUTER_PROVISIONING=True)
    agent = await create_agent(router)
    return router, agent, twirp[0].sip


def managed(standin: Any) -> list[sip.SIPInboundTrunkInfo]:
    return [t for t in standin.trunks.values() if t.name.startswith("call-router/")]


async def setup_status(router: Any, number_id: str) -> dict[str, Any]:
    row = await (await router.get(f"/v1/phone-numbers/{number_id}", headers=ADMIN)).json()
    status: dict[str, Any] = row["setupStatus"]
    return status


SECRETS_KEY = "kM0lrXW3-8cbYH2e-7qDZmDqfcQfHqz4c4wO2AGpmrA="  # a Fernet key for the tests


ROUTERS_APP = "2680000000000000001"  # the router's TeXML application (TELNYX_CONNECTION_ID)


@pytest.fixture
async def telnyx_api(aiohttp_server: Any) -> Any:
    standin = TelnyxStandIn()
    standin.application(ROUTERS_APP)  # the platform's application (TELNYX_CONNECTION_ID)
    standin.application("1111111111111111111")  # where the number pointed before
    server = await aiohttp_server(standin.app())
    standin.numbers["1293384261075731499"] = {
        "id": "1293384261075731499", "phone_number": "+13125550111",
        "connection_id": "1111111111111111111", "record_type": "phone_number",
    }  # fmt: skip
    return standin, str(server.make_url("/v2"))


async def telnyx_router(make_router: Any, base: str) -> Any:
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY, TELNYX_CONNECTION_ID=ROUTERS_APP,
        TELNYX_API_BASE_URL=base,
    )  # fmt: skip
    url = "/v1/organizations/default/integrations/telnyx"
    assert (await router.put(url, json={"apiKey": TELNYX_API_KEY}, headers=ADMIN)).status == 200
    return router


TWILIO_SID, TWILIO_TOKEN_ = "AC" + "7" * 32, "twilio-account-token-0123456789"


PUBLIC = "https://router.example.com"


@pytest.fixture
async def twilio_api(aiohttp_server: Any) -> Any:
    standin = TwilioRestStandIn(TWILIO_SID, TWILIO_TOKEN_)
    standin.numbers["PN" + "1" * 32] = {
        "sid": "PN" + "1" * 32, "account_sid": TWILIO_SID, "phone_number": "+14155550199",
        "voice_url": "https://demo.twilio.com/welcome/voice/", "voice_method": "GET",
        "friendly_name": "(415) 555-0199",
    }  # fmt: skip
    standin.caller_ids.append("+14155550188")
    server = await aiohttp_server(standin.app())
    return standin, str(server.make_url("/2010-04-01"))


async def twilio_router(make_router: Any, base: str) -> Any:
    router = await make_router(
        ROUTER_PROVISIONING=True,
        ROUTER_SECRETS_KEY=SECRETS_KEY,
        TWILIO_API_BASE_URL=base,
        TWILIO_TRUNKING_BASE_URL=base.removesuffix("/2010-04-01") + "/v1",
        ROUTER_PUBLIC_URL=PUBLIC,
    )
    body = {"accountSid": TWILIO_SID, "authToken": TWILIO_TOKEN_}
    url = "/v1/organizations/default/integrations/twilio"
    assert (await router.put(url, json=body, headers=ADMIN)).status == 200
    return router


# ---- managed numbers: a router that sells LiveKit's and the platform's Twilio numbers -------

LIVEKIT_NUMBER, TWILIO_NUMBER = "+14155550101", "+12015550111"


class Shop:
    def __init__(self, router: Any, livekit: Any, twilio: Any, sip: Any) -> None:
        self.router, self.livekit, self.twilio, self.sip = router, livekit, twilio, sip
        self.topups = 0

    async def search(self, query: str = "") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await json_of(
            await self.router.get(f"/v1/phone-numbers/available{query}", headers=ADMIN), 200
        )
        return found

    def buy(self, e164: str, key: str, **fields: Any) -> Any:
        body = {"e164": e164, "dispatchMetadataTemplate": {"line": "{{dialedNumber}}"}, **fields}
        return self.router.post(
            "/v1/phone-numbers", json=body, headers={**ADMIN, "Idempotency-Key": key}
        )

    async def credits(self, amount: int) -> None:
        self.topups += 1
        resp = await self.router.post(
            "/v1/organizations/default/credits", json={"amountCents": amount, "reason": "t"},
            headers={**ADMIN, "Idempotency-Key": f"topup-{self.topups}"},
        )  # fmt: skip
        await json_of(resp, 201)

    async def verified(self) -> None:
        """The default organization's business verification approved (once)."""
        found = await json_of(await self.router.get("/v1/phone-numbers/kyb", headers=ADMIN), 200)
        if found["status"] == "approved":
            return
        await json_of(
            await self.router.post("/v1/phone-numbers/kyb/submit", json=COMPLETE, headers=ADMIN),
            200,
        )
        review = {"decision": "approve"}
        await json_of(
            await self.router.post(
                "/v1/organizations/default/kyb/review", json=review, headers=ADMIN
            ),
            200,
        )

    async def due(self, row_id: str) -> str:
        """The number's month ran out yesterday (as a month later would find it)."""
        registry = self.router.app[state.REGISTRY]
        row, raw = await registry.get_number(row_id)
        yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="milliseconds")
        due = msgspec.structs.replace(row, next_charge_at=yesterday.replace("+00:00", "Z"))
        await registry.write_number(due, old=row, old_raw=raw)
        return str(due.next_charge_at)

    async def ledger(self) -> dict[str, Any]:
        found: dict[str, Any] = await json_of(
            await self.router.get("/v1/credits", headers=ADMIN), 200
        )
        return found


@pytest.fixture
async def shop(make_router: Any, twirp: Any, twilio_api: Any) -> Shop:
    twilio, base = twilio_api
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY,
        ROUTER_MANAGED_PROVIDERS="livekit,twilio", ROUTER_PURCHASE_LIMIT=2,
        TWILIO_ACCOUNT_SID=TWILIO_SID, TWILIO_AUTH_TOKEN=TWILIO_TOKEN_,
        TWILIO_API_BASE_URL=base, ROUTER_PUBLIC_URL=PUBLIC,
    )  # fmt: skip
    livekit = twirp[0].phone_number_service
    livekit.stock(LIVEKIT_NUMBER, "San Francisco", "CA")
    livekit.stock("+14155550102", "Oakland", "CA")
    twilio.inventory.stock(TWILIO_NUMBER, "Newark")
    twilio.inventory.stock("+12015550112", "Hoboken")
    return Shop(router, livekit, twilio, twirp[0].sip)
