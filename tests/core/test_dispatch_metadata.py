"""The dispatch metadata's JSON Schema, served by the router: the metadata LiveKit really
receives (decoded by the Twirp stand-in from CreateDispatch) validates against it for direct
and carrier calls, with and without forwarding, with a fully hydrated agent; and
``examples/agent.py`` — imported with the real livekit-agents — reads that same metadata."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.carrier_helpers import LIVEKIT_SIP_URI
from tests.cli.conftest import cli
from tests.conftest import (
    API_KEY,
    API_SECRET,
    WHSEC,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
)

TEMPLATE = {"prompt": "You answer for Acme; the caller dialed {{dialedNumber}}", "team": "sales"}
EXAMPLE = Path(__file__).parents[2] / "examples" / "agent.py"


@pytest.fixture
async def schema(router) -> dict[str, Any]:
    resp = await router.get("/schemas/dispatch-metadata.json")  # public, like /openapi.json
    assert resp.status == 200
    assert resp.content_type == "application/schema+json"
    found: dict[str, Any] = await resp.json()
    jsonschema.Draft202012Validator.check_schema(found)
    return found


async def _linked(router: Any, **agent: Any) -> dict[str, Any]:
    made = await create_agent(router, **agent)
    await import_number(
        router, e164="+12015550123", agentId=made["id"], dispatchMetadataTemplate=TEMPLATE
    )
    return made


async def _sent_metadata(twirp: Any) -> dict[str, Any]:
    standin, _ = twirp
    dispatch = await standin.dispatches.get()
    sent: dict[str, Any] = json.loads(dispatch.metadata)
    return sent


@pytest.mark.parametrize(
    "headers",
    [
        {"Diversion": "<sip:+16175550177@pbx.example.com>;reason=unconditional"},
        {"Diversion": "<sip:anonymous@anonymous.invalid>;privacy=full;reason=user-busy"},
        {},
    ],
    ids=["forwarded", "forwarded-withheld", "direct"],
)
async def test_what_livekit_receives_validates(router, twirp, schema, headers):
    await _linked(
        router,
        prompt="Be kind",
        tools=[{"name": "lookup", "parameters": {"type": "object"}}],
        providerPreferences={"llm": "any"},
        webhooks={"lifecycle": {"url": "https://hooks.example.com/calls", "secret": WHSEC}},
    )
    event = sip_join_event(headers=headers)
    assert (await post_livekit(router, event)).status == 200
    sent = await _sent_metadata(twirp)
    jsonschema.validate(sent, schema)
    assert sent["agent"]["webhooks"]["lifecycle"]["url"] == "https://hooks.example.com/calls"
    assert "secret" not in json.dumps(sent["agent"])  # never a webhook secret
    assert sent["team"] == "sales"  # the template's own keys ride along


async def test_a_withheld_caller_validates_too(router, twirp, schema):
    await _linked(router)
    assert (await post_livekit(router, sip_join_event(caller=None))).status == 200
    sent = await _sent_metadata(twirp)
    jsonschema.validate(sent, schema)
    assert sent["callerNumber"] is None


async def test_a_twilio_call_validates(make_router, twirp, schema):
    router = await make_router(
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests", LIVEKIT_SIP_URI=LIVEKIT_SIP_URI
    )
    await _linked(router, prompt="Be kind")

    code, _, err = await cli(
        router, "calls", "simulate", "--to", "+12015550123", "--carrier", "twilio",
        "--diversion", "<sip:+16175550177@pbx.example.com>;reason=unconditional",
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests",
        LIVEKIT_API_KEY=API_KEY, LIVEKIT_API_SECRET=API_SECRET,
    )  # fmt: skip
    assert code == 0, err
    sent = await _sent_metadata(twirp)
    jsonschema.validate(sent, schema)
    assert sent["provider"] == "twilio"


def test_the_schema_refuses_what_is_not_the_envelope(schema):
    good = {
        "callerNumber": "+14155550100", "dialedNumber": "+12015550123",
        "forwardedFromNumber": None, "callId": "SCL_1", "provider": "livekit",
        "phoneNumberId": "pn_1", "agentId": None, "label": None,
        "forwardedFromWithheld": False, "forwardingChain": [],
    }  # fmt: skip
    jsonschema.validate(good, schema)
    for broken in ({"forwardingChain": "x"}, {"callId": None}, {"forwardedFromWithheld": "no"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, **broken}, schema)
    missing = dict(good)
    del missing["dialedNumber"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(missing, schema)


async def test_the_example_agent_reads_the_real_metadata(router, twirp):
    spec = importlib.util.spec_from_file_location("example_agent", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    sys.modules["example_agent"] = example  # dataclasses look their module up by name
    spec.loader.exec_module(example)  # imports livekit.agents: the real library
    assert example.AGENT_NAME == "support-agent"  # what create_agent registers
    await _linked(router, prompt="Be kind")
    event = sip_join_event(
        headers={"Diversion": "<sip:+16175550177@pbx.example.com>;reason=unconditional"}
    )
    assert (await post_livekit(router, event)).status == 200
    standin, _ = twirp
    dispatch = await standin.dispatches.get()
    assert dispatch.agent_name == example.AGENT_NAME
    call = example.Call.from_metadata(dispatch.metadata)
    assert call.caller == "+14155550100"
    assert call.forwarded_from == "+16175550177"
    assert call.prompt.startswith("You answer for Acme; the caller dialed +12015550123")
    assert call.extra == {"team": "sales"}
    text = call.instructions()
    assert "forwarded to you from +16175550177" in text
    assert "+14155550100" in text
