"""``calls simulate`` for LiveKit, Twilio and Telnyx against a running router, signed the real
way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from tests.carrier_helpers import LIVEKIT_SIP_URI, TELNYX_PRIVATE, TELNYX_PUBLIC
from tests.cli.conftest import cli
from tests.conftest import (
    ADMIN,
    API_KEY,
    API_SECRET,
    create_agent,
    import_number,
)
from tests.provisioning.conftest import SECRETS_KEY

TEMPLATE = {"greeting": "Calls for {{dialedNumber}}", "forwardedFrom": "{{forwardedFromNumber}}"}


async def _simulated(router: Any, *args: str, **env: str) -> tuple[int, str, str]:
    agent = await create_agent(router, prompt="Be kind")
    await import_number(
        router, e164="+12015550123", agentId=agent["id"], dispatchMetadataTemplate=TEMPLATE
    )
    keys_env = {"LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET, **env}
    return await cli(router, "calls", "simulate", "--to", "+12015550123", *args, **keys_env)


async def test_simulate_a_forwarded_livekit_call(router, twirp):
    code, out, err = await _simulated(
        router, "--diversion", "<sip:+16175550177@pbx.example.com>;reason=unconditional"
    )
    assert code == 0, err
    assert "status: dispatched" in out
    assert "forwarded from +16175550177 (source: diversion)" in out
    assert '"greeting": "Calls for +12015550123"' in out  # the rendered metadata
    assert '"forwardedFrom": "+16175550177"' in out
    standin, _ = twirp
    dispatch = standin.dispatches.get_nowait()  # the stand-in really got it
    assert json.loads(dispatch.metadata)["forwardedFrom"] == "+16175550177"


async def test_simulate_with_a_history_info_chain(router, twirp):
    code, out, err = await _simulated(
        router,
        "--history-info", "<sip:+12015550100@pbx.example.com>;index=1",
        "--history-info", "<sip:+12015550123@pbx.example.com;cause=302>;index=1.1",
    )  # fmt: skip
    assert code == 0, err
    assert "forwarded from +12015550100 (source: history-info)" in out


async def test_simulate_refuses_a_wrong_livekit_secret(router, twirp):
    code, _, err = await _simulated(router, LIVEKIT_API_SECRET="not-the-routers-secret-0123456789")
    assert code == 1
    assert "HTTP 401" in err


async def test_simulate_a_twilio_call_through_its_bridge(make_router, twirp):
    router = await make_router(
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests", LIVEKIT_SIP_URI=LIVEKIT_SIP_URI
    )
    code, out, err = await _simulated(
        router,
        "--carrier", "twilio",
        "--diversion", "<sip:+16175550177@pbx.example.com>;reason=unconditional",
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests",
    )  # fmt: skip
    assert code == 0, err
    assert "the router answered: bridge to sip:+12015550123@" in err
    assert "(twilio)  status: dispatched" in out
    assert "leg livekit" in out
    assert '"forwardedFrom": "+16175550177"' in out


async def test_simulate_a_telnyx_texml_call(make_router, twirp, tmp_path: Path):
    router = await make_router(TELNYX_PUBLIC_KEY=TELNYX_PUBLIC, LIVEKIT_SIP_URI=LIVEKIT_SIP_URI)
    pem = tmp_path / "telnyx-test-key.pem"
    pem.write_bytes(TELNYX_PRIVATE.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    code, out, err = await _simulated(
        router, "--carrier", "telnyx", "--telnyx-signing-key", str(pem)
    )
    assert code == 0, err
    assert "(telnyx)  status: dispatched" in out


async def test_simulate_an_outbound_call(make_router, twirp):
    router = await make_router(
        worker=False, ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY
    )
    body = {"name": "PBX", "inbound": {"allowedAddresses": ["203.0.113.7"]},
            "outbound": {"address": "pbx.acme.example"}}  # fmt: skip
    made = await router.post("/v1/sip-connections", json=body, headers=ADMIN)
    connection = await made.json()
    agent = await create_agent(router)
    await import_number(
        router, e164="+12015550971", direction="both", agentId=agent["id"],
        sipConnectionInstallationId=connection["id"],
    )  # fmt: skip
    code, _, err = await cli(router, "calls", "simulate", "--outbound", "--to", "+14155550100")
    assert (code, "give it with --from" in err) == (1, True)
    code, out, err = await cli(
        router, "calls", "simulate", "--outbound", "--from", "+12015550971",
        "--to", "+14155550100",
    )  # fmt: skip
    assert code == 0, err
    assert "(livekit)  status: dispatched" in out
    assert "dialed +14155550100" in out
    [placed] = twirp[0].sip.participants
    assert (placed.sip_number, placed.sip_call_to) == ("+12015550971", "+14155550100")


async def test_a_key_simulating_another_organization_s_number_is_told_at_once(router):
    """Issue 31 part 11: the call would be routed to the other organization in milliseconds,
    where this key cannot see it — said at once, not after waiting 15 s for a decision."""
    import time

    from tests.conftest import make_key, make_org

    await _simulated(router)  # +12015550123 is the default organization's
    other = await make_org(router, "Other")
    key = (await make_key(router, other["id"], "admin"))["key"]
    started = time.monotonic()
    code, _, err = await cli(router, "calls", "simulate", "--to", "+12015550123",
                             ROUTER_ADMIN_TOKEN=key, LIVEKIT_API_KEY=API_KEY,
                             LIVEKIT_API_SECRET=API_SECRET)  # fmt: skip
    assert time.monotonic() - started < 10  # no 15 s wait
    assert code == 1
    assert "+12015550123 is not one of this key's organization's numbers" in err
