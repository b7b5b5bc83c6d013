"""LiveKit webhooks built and signed the way LiveKit does it (shared by tests and bench)."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import timedelta

from google.protobuf.json_format import MessageToJson
from livekit import api

from router.ingress.livekit_webhook import WebhookEvent, decode_webhook

API_KEY = "APItestkey"
API_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


def sip_join_event(
    *,
    call_id: str = "SCL_test1",
    room: str = "call-room-1",
    caller: str | None = "+14155550100",
    dialed: str | None = "+12015550123",
    headers: dict[str, str] | None = None,
    event_id: str | None = None,
    kind: int = api.ParticipantInfo.Kind.SIP,
    extra_attributes: dict[str, str] | None = None,
) -> api.WebhookEvent:
    attrs = {"sip.callID": call_id, "sip.trunkID": "ST_trunk1", "sip.ruleID": "SDR_rule1"}
    if caller is not None:
        attrs["sip.phoneNumber"] = caller
    if dialed is not None:
        attrs["sip.trunkPhoneNumber"] = dialed
    for name, value in (headers or {}).items():
        attrs[f"sip.h.{name.lower()}"] = value
    attrs.update(extra_attributes or {})
    return api.WebhookEvent(
        event="participant_joined",
        id=event_id or f"EV_{call_id}",
        created_at=int(time.time()),
        room=api.Room(name=room, sid="RM_1"),
        participant=api.ParticipantInfo(
            sid=f"PA_{call_id}", identity=f"sip_{call_id}", kind=kind, attributes=attrs
        ),
    )


def sign_webhook(body: str, *, secret: str = API_SECRET, ttl_s: int = 300) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = api.AccessToken(API_KEY, secret).with_sha256(digest)
    return token.with_ttl(timedelta(seconds=ttl_s)).to_jwt()


def as_received(event: api.WebhookEvent) -> WebhookEvent:
    """The event as the router's ingress decodes it from LiveKit's JSON."""
    return decode_webhook(MessageToJson(event, indent=None).encode())


def agent_join_event(
    *, room: str, identity: str = "agent-AJ_1", event_id: str | None = None
) -> api.WebhookEvent:
    """An agent participant joined the room (LiveKit's participant_joined, kind AGENT)."""
    participant = api.ParticipantInfo(
        sid=f"PA_{identity}", identity=identity, kind=api.ParticipantInfo.Kind.AGENT
    )
    return _in_room("participant_joined", room, participant, event_id or f"EV_{room}_{identity}")


def participant_left_event(
    *,
    room: str,
    identity: str,
    kind: int = api.ParticipantInfo.Kind.SIP,
    reason: int = api.DisconnectReason.CLIENT_INITIATED,
    event_id: str | None = None,
) -> api.WebhookEvent:
    """A participant left (participant_left, with LiveKit's disconnect reason)."""
    participant = api.ParticipantInfo(
        sid=f"PA_{identity}", identity=identity, kind=kind, disconnect_reason=reason
    )
    return _in_room("participant_left", room, participant, event_id or f"EV_{room}_{identity}_left")


def room_finished_event(*, room: str) -> api.WebhookEvent:
    return _in_room("room_finished", room, None, f"EV_{room}_finished")


def _in_room(
    event: str, room: str, participant: api.ParticipantInfo | None, event_id: str
) -> api.WebhookEvent:
    """A webhook event of one room, as LiveKit's server sends it."""
    found = api.WebhookEvent(
        event=event, id=event_id, created_at=int(time.time()), room=api.Room(name=room, sid="RM_1")
    )
    if participant is not None:
        found.participant.CopyFrom(participant)
    return found
