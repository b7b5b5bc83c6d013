"""Hostile input: thousands of generated requests to every endpoint, signed and unsigned.

Whatever arrives, the answer is a clear 4xx (or a 2xx when the input happens to be valid),
never a 5xx, and the worker never crashes. Bodies that pass the signature check are the
interesting ones: they reach the parsers, so most examples here are signed properly.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from router.web.state import CONSUMER_TASK
from tests.carrier_helpers import LIVEKIT_SIP_URI, TELNYX_PUBLIC, telnyx_headers
from tests.conftest import ADMIN, sign_webhook

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
_keys = st.sampled_from(
    ["CallSid", "From", "To", "Called", "Caller", "ForwardedFrom", "Direction", "CallerName",
     "SipHeader_Diversion", "SipHeader_History-Info", "SipHeader_X-Router-Call", "x"]
)  # fmt: skip
_form_text = st.text(max_size=60)
_livekit_like = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["participant_joined", "room_started", "", "x"]),
        "id": st.text(max_size=20),
        "room": st.one_of(st.none(), st.fixed_dictionaries({"name": st.text(max_size=20)})),
        "participant": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "identity": st.text(max_size=20),
                    "kind": st.sampled_from(["SIP", "STANDARD", 3, "bogus"]),
                    "attributes": st.dictionaries(
                        st.sampled_from(
                            [
                                "sip.callID",
                                "sip.phoneNumber",
                                "sip.trunkPhoneNumber",
                                "sip.h.diversion",
                                "sip.h.history-info",
                                "sip.h.x-router-call",
                            ]
                        ),
                        st.text(max_size=80),
                    ),
                }
            ),
        ),
    }
)
_telnyx_like = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries(
            {
                "event_type": st.sampled_from(["call.initiated", "call.hangup", 7]),
                "id": st.text(max_size=10),
                "payload": st.one_of(
                    _json_value,
                    st.fixed_dictionaries(
                        {
                            "call_control_id": st.text(max_size=40),
                            "from": st.text(max_size=20),
                            "to": st.sampled_from(["+12015550123", "sip:+12015550123@x", "junk"]),
                            "direction": st.sampled_from(["incoming", "outgoing"]),
                            "sip_headers": st.lists(
                                st.fixed_dictionaries(
                                    {"name": st.text(max_size=12), "value": st.text(max_size=60)}
                                ),
                                max_size=3,
                            ),
                        }
                    ),
                ),
            }
        )
    }
)


@pytest.fixture
async def target(make_router: Any) -> Any:
    client = await make_router(
        TWILIO_AUTH_TOKEN="tok",
        TELNYX_PUBLIC_KEY=TELNYX_PUBLIC,
        TELNYX_API_KEY="key",
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )
    yield client
    assert not client.app[CONSUMER_TASK].done(), "the worker died under fuzzed input"


def _ok(status: int) -> None:
    assert status < 500, status


@FUZZ
@given(body=st.one_of(_livekit_like.map(json.dumps), st.text(max_size=200)), signed=st.booleans())
async def test_livekit_webhook_fuzz(target, body, signed):
    headers = {"Content-Type": "application/webhook+json"}
    if signed:
        headers["Authorization"] = sign_webhook(body)
    _ok((await target.post("/webhooks/livekit", data=body.encode(), headers=headers)).status)


@FUZZ
@given(form=st.dictionaries(_keys, _form_text, max_size=8), signed=st.booleans())
async def test_twilio_webhook_fuzz(target, form, signed):
    url = str(target.make_url("/webhooks/twilio/voice"))
    sig = RequestValidator("tok").compute_signature(url, form) if signed else "x"
    headers = {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}
    _ok((await target.post("/webhooks/twilio/voice", data=urlencode(form), headers=headers)).status)


@FUZZ
@given(
    body=st.one_of(
        _telnyx_like.map(json.dumps), _json_value.map(json.dumps), st.text(max_size=100)
    ),
    form=st.booleans(),
)
async def test_telnyx_webhook_fuzz(target, body, form):
    raw = body.encode()
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    headers = {**telnyx_headers(raw), "Content-Type": kind}
    _ok((await target.post("/webhooks/telnyx", data=raw, headers=headers)).status)


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from(
            ["e164", "source", "direction", "agentId", "dispatchMetadataTemplate", "label", "x"]
        ),
        _json_value,
        max_size=6,
    )
)
async def test_admin_import_fuzz(target, body):
    _ok((await target.post("/v1/phone-numbers/import", json=body, headers=ADMIN)).status)


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from(
            ["name", "livekitAgentName", "prompt", "tools", "webhooks", "providerPreferences"]
        ),
        _json_value,
        max_size=6,
    ),
    raw=st.binary(max_size=64),
)
async def test_admin_agents_fuzz(target, body, raw):
    _ok((await target.post("/v1/agents", json=body, headers=ADMIN)).status)
    headers = {**ADMIN, "Content-Type": "application/json"}
    _ok((await target.post("/v1/agents", data=raw, headers=headers)).status)
