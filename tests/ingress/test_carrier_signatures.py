"""Carrier signatures, checked against Twilio's published vector, Twilio's own validator, and
real ed25519 keys."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from router.errors import Forbidden
from router.ingress.carrier_signatures import (
    public_url,
    twilio_signature,
    verify_telnyx,
    verify_twilio,
)
from tests.carrier_helpers import LIVEKIT_SIP_URI, TWILIO_TOKEN, twilio_form
from tests.conftest import ADMIN

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_twilio_published_test_vector():
    assert twilio_signature("12345", DOC_URL, DOC_PARAMS.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    verify_twilio("12345", DOC_URL, list(DOC_PARAMS.items()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True), _text, max_size=8)
)
def test_twilio_signature_agrees_with_twilios_request_validator(params):
    token, url = "auth-token-0123", "https://router.example.com/webhooks/twilio/voice"
    theirs = RequestValidator(token).compute_signature(url, params)
    assert twilio_signature(token, url, params.items()) == theirs
    verify_twilio(token, url, list(params.items()), theirs)


def test_twilio_mismatch_and_missing_are_forbidden():
    with pytest.raises(Forbidden):
        verify_twilio("12345", DOC_URL, [("CallSid", "CA2")], "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    with pytest.raises(Forbidden):
        verify_twilio("12345", DOC_URL, list(DOC_PARAMS.items()), None)


def test_twilio_default_port_variants_are_accepted():
    sig = twilio_signature("t", "https://a.example.com:443/hook", [])
    verify_twilio("t", "https://a.example.com/hook", [], sig)


def test_public_url_replaces_scheme_host_and_base_path():
    assert (
        public_url("http://10.0.0.5:8080/webhooks/twilio/voice?x=1", "https://r.example.com/base")
        == "https://r.example.com/base/webhooks/twilio/voice?x=1"
    )
    assert public_url("http://h/p", None) == "http://h/p"


def _keys() -> tuple[Ed25519PrivateKey, bytes]:
    private = Ed25519PrivateKey.generate()
    return private, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _sign(private: Ed25519PrivateKey, ts: str, body: bytes) -> str:
    return base64.b64encode(private.sign(ts.encode() + b"|" + body)).decode()


def test_telnyx_signature_verifies_with_a_real_key_pair():
    private, public = _keys()
    ts, body = str(int(time.time())), b'{"data": {}}'
    verify_telnyx(public, body, _sign(private, ts, body), ts)


@pytest.mark.parametrize("case", ["tampered", "other_key", "old", "future", "missing", "garbage"])
def test_telnyx_bad_signatures_are_forbidden(case):
    private, public = _keys()
    now = int(time.time())
    ts, body = str(now), b'{"data": {}}'
    sig = _sign(private, ts, body)
    args: tuple[bytes, str | None, str | None] = (body, sig, ts)
    if case == "tampered":
        args = (body + b" ", sig, ts)
    elif case == "other_key":
        args = (body, _sign(_keys()[0], ts, body), ts)
    elif case == "old":
        old = str(now - 301)
        args = (body, _sign(private, old, body), old)
    elif case == "future":
        later = str(now + 301)
        args = (body, _sign(private, later, body), later)
    elif case == "missing":
        args = (body, None, ts)
    else:
        args = (body, "!!not base64!!", ts)
    with pytest.raises(Forbidden):
        verify_telnyx(public, *args)


SHARED_SECRET = "webhooks-sharedkey-secret-for-tests-0123456789"


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1"])
async def test_a_webhook_shared_key_signature_is_verified_with_its_algorithm(
    make_router, algorithm
):
    """Signed by Twilio's own RequestValidator with a SharedKey secret, as Twilio does when
    X-Twilio-Webhooks-Signature-Settings names the key and algorithm."""
    client = await make_router(
        worker=False,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_WEBHOOK_SHARED_KEY=SHARED_SECRET,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )
    form = twilio_form("CA" + "5" * 32)
    url = str(client.make_url("/webhooks/twilio/voice"))
    signature = RequestValidator(SHARED_SECRET).compute_signature(url, form, algorithm=algorithm)
    settings = f"key=webhooks_sharedkey_abc,algorithm={algorithm}"
    ok = await _post_form(client, form, signature, settings)
    assert ok.status == 200, await ok.text()
    # The same body signed with the Auth Token does not pass as a SharedKey signature.
    legacy = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    assert (await _post_form(client, form, legacy, settings)).status == 403


async def test_shared_key_signatures_are_refused_clearly_when_not_configured(make_router):
    client = await make_router(
        worker=False, TWILIO_AUTH_TOKEN=TWILIO_TOKEN, LIVEKIT_SIP_URI=LIVEKIT_SIP_URI
    )
    form = twilio_form("CA" + "6" * 32)
    url = str(client.make_url("/webhooks/twilio/voice"))
    signature = RequestValidator(SHARED_SECRET).compute_signature(url, form, "HMAC_SHA256")
    resp = await _post_form(client, form, signature, "key=k1,algorithm=HMAC_SHA256")
    assert resp.status == 403
    assert "TWILIO_WEBHOOK_SHARED_KEY" in (await resp.json())["error"]
    unknown = await _post_form(client, form, signature, "key=k1,algorithm=HMAC_SHA512")
    assert unknown.status == 403
    assert "unsupported algorithm" in (await unknown.json())["error"]
    # No settings header: the Auth Token's HMAC-SHA1, as before.
    legacy = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    assert (await _post_form(client, form, legacy, None)).status == 200


async def _post_form(client: Any, form: dict[str, str], signature: str, settings: str | None):
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    if settings is not None:
        headers["X-Twilio-Webhooks-Signature-Settings"] = settings
    return await client.post("/webhooks/twilio/voice", data=urlencode(form), headers=headers)


PLATFORM_SID = "AC" + "0" * 32  # twilio_form's AccountSid
ORG_SID, ORG_TOKEN = "AC" + "7" * 32, "the-organizations-own-twilio-auth-token"
TEST_SECRETS_KEY = "kM0lrXW3-8cbYH2e-7qDZmDqfcQfHqz4c4wO2AGpmrA="


async def test_twilio_signs_each_account_with_its_own_auth_token(make_router):
    """Twilio signs a webhook with the auth token of the account that owns the number: an
    organization's own account is checked with its integration's token, the platform's with
    TWILIO_AUTH_TOKEN, and an account that is neither is refused (TWILIO_ACCOUNT_SID set).
    Signatures by Twilio's own RequestValidator."""
    client = await make_router(
        worker=False, TWILIO_AUTH_TOKEN=TWILIO_TOKEN, TWILIO_ACCOUNT_SID=PLATFORM_SID,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI, ROUTER_SECRETS_KEY=TEST_SECRETS_KEY,
    )  # fmt: skip
    body = {"accountSid": ORG_SID, "authToken": ORG_TOKEN}
    saved = await client.put(
        "/v1/organizations/default/integrations/twilio", json=body, headers=ADMIN
    )
    assert saved.status == 200
    url = str(client.make_url("/webhooks/twilio/voice"))

    def signed(account: str, token: str, sid: str) -> tuple[dict[str, str], str]:
        form = twilio_form("CA" + sid * 32, AccountSid=account)
        return form, RequestValidator(token).compute_signature(url, form)

    answers = {}
    for name, (account, token) in {
        "org_with_org_token": (ORG_SID, ORG_TOKEN),
        "platform_with_platform_token": (PLATFORM_SID, TWILIO_TOKEN),
        "org_with_platform_token": (ORG_SID, TWILIO_TOKEN),
        "platform_with_org_token": (PLATFORM_SID, ORG_TOKEN),
        "unknown_with_platform_token": ("AC" + "9" * 32, TWILIO_TOKEN),
    }.items():
        form, signature = signed(account, token, str(len(answers) + 1))
        answers[name] = (await _post_form(client, form, signature, None)).status
    assert answers == {
        "org_with_org_token": 200,
        "platform_with_platform_token": 200,
        "org_with_platform_token": 403,
        "platform_with_org_token": 403,
        "unknown_with_platform_token": 403,
    }
    # Forgotten: the account is no organization's any more.
    gone = await client.delete("/v1/organizations/default/integrations/twilio", headers=ADMIN)
    assert gone.status == 200
    form, signature = signed(ORG_SID, ORG_TOKEN, "8")
    assert (await _post_form(client, form, signature, None)).status == 403


async def test_one_twilio_account_is_one_organizations(make_router):
    client = await make_router(worker=False, ROUTER_SECRETS_KEY=TEST_SECRETS_KEY)
    other = await (
        await client.post("/v1/organizations", json={"name": "Other"}, headers=ADMIN)
    ).json()
    body = {"accountSid": ORG_SID, "authToken": ORG_TOKEN}
    first = await client.put(
        "/v1/organizations/default/integrations/twilio", json=body, headers=ADMIN
    )
    assert first.status == 200
    second = await client.put(
        f"/v1/organizations/{other['id']}/integrations/twilio", json=body, headers=ADMIN
    )
    assert second.status == 409
    assert (await second.json())["field"] == "accountSid"
