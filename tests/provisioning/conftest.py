"""What the provisioning tests share: a router that provisions LiveKit (the Twirp stand-in's
``livekit.SIP``), and stand-ins for Telnyx's and Twilio's number APIs with an organization's
account on each."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.protocol import sip

from tests.carrier_helpers import TELNYX_API_KEY, TelnyxStandIn, TwilioRestStandIn
from tests.conftest import (
    ADMIN,
    create_agent,
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
