"""POST /webhooks/livekit: signature checks, malformed bodies, what is queued and what is not."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import jwt
import pytest
from google.protobuf.json_format import MessageToJson
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit import api

from router.errors import InvalidSignature
from router.ingress.livekit_webhook import SIP_KINDS, decode_webhook, verify
from router.store import keys
from tests.conftest import post_livekit, refused, sign_webhook, sip_join_event
from tests.livekit_helpers import API_KEY, API_SECRET


@pytest.fixture
async def ingress(make_router: Any) -> Any:
    return await make_router(worker=False)


async def _stream_len(redis: Any) -> int:
    return int(await redis.xlen(keys.stream()))


async def test_sip_join_is_queued_with_its_sip_facts(ingress, redis):
    headers = {"Diversion": "<sip:+16175550177@b>", "X-Custom": "1"}
    event = sip_join_event(call_id="SCL_q", headers=headers, extra_attributes={"foo": "bar"})
    resp = await post_livekit(ingress, event)
    assert await resp.json() == {"queued": True, "duplicate": False, "callId": "SCL_q"}
    [(_, fields)] = await redis.xrange(keys.stream())
    from router.core import events

    queued = events.decode(fields[b"e"])
    assert queued.dialed == "+12015550123"
    assert queued.sip_headers == {"diversion": "<sip:+16175550177@b>", "x-custom": "1"}
    assert queued.attributes == {"foo": "bar"}
    assert queued.participant_identity == "sip_SCL_q"


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "",
        "not-a-jwt",
        sign_webhook("{}"),  # signed, but for another body
        sign_webhook("x", secret="wrong-secret-long-enough-for-hs256-abcdefgh"),
    ],
)
async def test_bad_or_missing_signature_is_401(ingress, redis, auth):
    body = MessageToJson(sip_join_event())
    headers = {"Content-Type": "application/webhook+json"}
    if auth is not None:
        headers["Authorization"] = auth
    resp = await ingress.post("/webhooks/livekit", data=body, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["code"] == "INVALID_SIGNATURE"
    assert await _stream_len(redis) == 0


async def test_expired_token_is_refused_as_a_replay(ingress, redis):
    resp = await post_livekit(ingress, sip_join_event(), ttl_s=-120)
    assert resp.status == 401
    assert await _stream_len(redis) == 0


async def test_malformed_body_is_400(ingress):
    resp = await post_livekit(ingress, '{"event": 12, "room": "not an object"}')
    await refused(resp, 400, "VALIDATION_ERROR", field="", says="at `$.event`")


async def test_wrong_content_type_is_415(ingress):
    resp = await ingress.post(
        "/webhooks/livekit", data="{}", headers={"Content-Type": "text/plain"}
    )
    assert resp.status == 415


async def test_non_sip_and_other_events_are_acknowledged_not_queued(ingress, redis):
    standard = sip_join_event(kind=api.ParticipantInfo.Kind.STANDARD)
    standard_left = sip_join_event(kind=api.ParticipantInfo.Kind.STANDARD, event_id="EV_sl")
    standard_left.event = "participant_left"
    for event in (standard, standard_left, api.WebhookEvent(event="room_started", id="EV_r")):
        resp = await post_livekit(ingress, event)
        assert resp.status == 200
        assert (await resp.json())["queued"] is False
    assert await _stream_len(redis) == 0


async def test_what_follows_a_dispatch_is_queued(ingress, redis):
    """The agent's join, the caller's or the agent's leaving and the room finishing are
    queued for supervision (worker/supervise.py), each once."""
    from tests.livekit_helpers import agent_join_event, participant_left_event, room_finished_event

    sent = (
        agent_join_event(room="call-q"),
        participant_left_event(room="call-q", identity="sip_x"),
        participant_left_event(
            room="call-q", identity="agent-x", kind=api.ParticipantInfo.Kind.AGENT
        ),
        room_finished_event(room="call-q"),
    )
    for event in (*sent, sent[0]):
        resp = await post_livekit(ingress, event)
        assert resp.status == 200
    assert await _stream_len(redis) == 4  # the repeated agent join queued once


async def test_livekit_webhooks_are_refused_when_no_key_is_configured(make_router):
    client = await make_router(
        worker=False, LIVEKIT_API_KEY=None, LIVEKIT_API_SECRET=None, LIVEKIT_URL=None
    )
    resp = await post_livekit(client, sip_join_event())
    assert resp.status == 503
    assert "LIVEKIT_API_KEY" in (await resp.json())["error"]


async def test_oversized_body_is_413(ingress):
    body = "{" + " " * (300 * 1024) + "}"
    resp = await ingress.post(
        "/webhooks/livekit",
        data=body,
        headers={"Authorization": sign_webhook(body), "Content-Type": "application/json"},
    )
    assert resp.status == 413


# ---- our verify + decode against livekit-api's WebhookReceiver, on the same bodies/tokens ----

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_events = st.builds(
    lambda event, eid, room, sid, ident, kind, attrs: api.WebhookEvent(
        event=event,
        id=eid,
        room=api.Room(name=room, sid="RM_x"),
        participant=api.ParticipantInfo(sid=sid, identity=ident, kind=kind, attributes=attrs),
    ),
    st.sampled_from(["participant_joined", "participant_left", "room_started", ""]),
    _text,
    _text,
    _text,
    _text,
    st.sampled_from([k for _, k in api.ParticipantInfo.Kind.items()]),
    st.dictionaries(_text, _text, max_size=6),
)
_tamper = st.sampled_from(
    ["none", "body", "secret", "expired", "no_sha256", "garbage", "issuer", "no_exp", "not_yet"]
)


def _token(body: str, tamper: str) -> str:
    if tamper == "secret":
        return sign_webhook(body, secret="another-secret-another-secret-another-0123")
    if tamper == "expired":
        return sign_webhook(body, ttl_s=-600)
    if tamper == "no_sha256":
        return api.AccessToken(API_KEY, API_SECRET).to_jwt()
    if tamper == "garbage":
        return "not.a.jwt"
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    now = int(time.time())
    if tamper == "issuer":  # signed with our secret, issued by another key
        return api.AccessToken("APIother", API_SECRET).with_sha256(digest).to_jwt()
    if tamper == "no_exp":  # valid signature, no expiry: would verify forever
        return jwt.encode({"iss": API_KEY, "sha256": digest}, API_SECRET, algorithm="HS256")
    if tamper == "not_yet":  # nbf ten minutes ahead, past the one-minute leeway
        claims = {"iss": API_KEY, "sha256": digest, "nbf": now + 600, "exp": now + 900}
        return jwt.encode(claims, API_SECRET, algorithm="HS256")
    return sign_webhook(body)


@settings(max_examples=300, deadline=None)
@given(event=_events, tamper=_tamper)
def test_verify_and_decode_agree_with_webhook_receiver(event: api.WebhookEvent, tamper: str):
    body = MessageToJson(event, indent=None)
    token = _token(body, tamper)
    if tamper == "body":
        body = body.replace('"event"', '"event" ', 1)  # same JSON, different bytes
    reference = api.WebhookReceiver(api.TokenVerifier(API_KEY, API_SECRET))
    try:
        expected = reference.receive(body, token)
    except Exception:
        expected = None
    if expected is None:
        with pytest.raises(InvalidSignature):
            verify(API_KEY, API_SECRET, body.encode(), token)
        return
    verify(API_KEY, API_SECRET, body.encode(), token)
    ours = decode_webhook(body.encode())
    p = expected.participant
    assert (ours.event, ours.id, ours.room.name, ours.room.sid) == (
        expected.event,
        expected.id,
        expected.room.name,
        expected.room.sid,
    )
    assert (ours.participant.sid, ours.participant.identity) == (p.sid, p.identity)
    assert ours.participant.attributes == dict(p.attributes)
    assert (ours.participant.kind in SIP_KINDS) == (p.kind == api.ParticipantInfo.Kind.SIP)
