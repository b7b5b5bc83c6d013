"""``POST /webhooks/livekit``: LiveKit's signed events in, SIP joins onto the stream.

LiveKit signs each webhook with a JWT in ``Authorization`` whose ``sha256`` claim is the body's
hash. The check is ``livekit.api.WebhookReceiver``'s, in two steps of our own: the token with
``TokenVerifier``'s checks (``outbound.tokens.verify_token``: signature, issuer = our API key,
``exp`` = the replay window: LiveKit issues it for minutes), then the body's SHA-256 against
the claim in constant time (``WebhookReceiver`` compares with ``!=``). The body is then
decoded into msgspec Structs of the protobuf JSON mapping LiveKit sends (lowerCamelCase names,
enums by name), holding only the fields the router reads; unknown fields are ignored (msgspec,
not protobuf's ``json_format.Parse``: docs/performance.md has the figures).
``tests/test_livekit_webhook.py`` checks both steps against ``WebhookReceiver`` on the same
bodies and tokens.

A ``participant_joined`` whose participant is of kind SIP is queued before the 200 is sent, and
so are what follows a dispatch in a room (an agent's ``participant_joined``, a SIP or agent
participant's ``participant_left``, ``room_finished``: ``events.LiveKitRoomEvent``, which the
worker matches to a call by its room); any other event is counted and answered 200, not
queued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import jwt
import msgspec
from aiohttp import web
from livekit import api

from router import logs
from router.core import events
from router.errors import InvalidSignature, Unavailable, ValidationError
from router.ingress.queueing import unavailable_as_503
from router.outbound.tokens import verify_token
from router.web import state
from router.web.httpapi import json_response, read_body
from router.web.routing import PUBLIC, Routes

log = logs.get(__name__)
routes = Routes()

MAX_BODY = 256 * 1024
SIP_KINDS = ("SIP", int(api.ParticipantInfo.Kind.SIP))  # protojson writes the name; ints parse too
AGENT_KINDS = ("AGENT", int(api.ParticipantInfo.Kind.AGENT))
_HEADER_PREFIX = "sip.h."
_KNOWN = {"sip.callID", "sip.phoneNumber", "sip.trunkPhoneNumber", "sip.trunkID", "sip.ruleID"}
# Where the bridged leg's X-Router-Call header arrives: include_headers puts it under sip.h.*,
# a headers_to_attributes mapping can name it routerCall.
_CORRELATION_ATTRS = ("sip.h.x-router-call", "routerCall")


class Room(msgspec.Struct):
    sid: str = ""
    name: str = ""


class Participant(msgspec.Struct, rename="camel"):
    sid: str = ""
    identity: str = ""
    kind: str | int = "STANDARD"  # protojson omits the default kind
    attributes: dict[str, str] = {}
    disconnect_reason: str | int = ""  # livekit.DisconnectReason (participant_left)


class WebhookEvent(msgspec.Struct):
    """livekit.WebhookEvent as LiveKit's server writes it (protojson), the fields we read."""

    event: str = ""
    id: str = ""
    room: Room = msgspec.field(default_factory=Room)
    participant: Participant = msgspec.field(default_factory=Participant)


_decode_webhook = msgspec.json.Decoder(WebhookEvent).decode


def _keys(request: web.Request) -> tuple[str, str]:
    keys = request.app[state.CONFIG].livekit_keys
    if keys is None:
        raise Unavailable("LiveKit webhooks disabled: set LIVEKIT_API_KEY and LIVEKIT_API_SECRET")
    return keys.api_key, keys.api_secret


def verify(api_key: str, api_secret: str, body: bytes, token: str) -> None:
    """Raise InvalidSignature unless ``token`` is a valid LiveKit token for exactly ``body``."""
    try:
        claims = verify_token(token, api_key, api_secret)
    except jwt.PyJWTError as exc:
        raise InvalidSignature(f"webhook signature rejected: {exc}") from exc
    digest = claims.get("sha256")
    if not digest or not isinstance(digest, str):
        raise InvalidSignature("webhook signature rejected: sha256 was not found in the token")
    try:
        signed = base64.b64decode(digest, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignature("webhook signature rejected: sha256 claim is not base64") from exc
    if not hmac.compare_digest(hashlib.sha256(body).digest(), signed):
        raise InvalidSignature("webhook signature rejected: hash mismatch")


def decode_webhook(body: bytes) -> WebhookEvent:
    try:
        return _decode_webhook(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise ValidationError(f"malformed LiveKit webhook body: {exc}") from exc


def to_event(webhook: WebhookEvent, received_at_ms: int) -> events.LiveKitSipJoined:
    """The normalized event for a SIP participant's join (raises ValidationError if unusable)."""
    participant = webhook.participant
    attrs = participant.attributes
    call_id = attrs.get("sip.callID") or participant.sid
    if not call_id or not webhook.room.name or not participant.identity:
        raise ValidationError("participant_joined without room name, identity or sip.callID")
    return events.LiveKitSipJoined(
        event_id=webhook.id or f"{webhook.room.name}/{participant.sid}/joined",
        call_id=call_id,
        room=webhook.room.name,
        participant_identity=participant.identity,
        participant_sid=participant.sid,
        caller=attrs.get("sip.phoneNumber"),
        dialed=attrs.get("sip.trunkPhoneNumber"),
        trunk_id=attrs.get("sip.trunkID"),
        rule_id=attrs.get("sip.ruleID"),
        sip_headers={
            k[len(_HEADER_PREFIX) :].lower(): v
            for k, v in attrs.items()
            if k.startswith(_HEADER_PREFIX)
        },
        attributes={
            k: v for k, v in attrs.items() if not k.startswith(_HEADER_PREFIX) and k not in _KNOWN
        },
        correlation_id=next((attrs[a] for a in _CORRELATION_ATTRS if attrs.get(a)), None),
        received_at_ms=received_at_ms,
    )


def follows_dispatch(webhook: WebhookEvent) -> bool:
    """An event of what follows a dispatch: the agent's join, a SIP or agent participant
    leaving, the room finishing."""
    kind = webhook.participant.kind
    if webhook.event == "participant_joined":
        return kind in AGENT_KINDS
    if webhook.event == "participant_left":
        return kind in SIP_KINDS or kind in AGENT_KINDS
    return webhook.event == "room_finished"


def _kind_name(kind: str | int) -> str:
    if isinstance(kind, int):
        try:
            return str(api.ParticipantInfo.Kind.Name(kind))
        except ValueError:
            return str(kind)
    return kind


def room_event(webhook: WebhookEvent, received_at_ms: int) -> events.LiveKitRoomEvent:
    room = webhook.room.name
    if not room:
        raise ValidationError(f"{webhook.event} without a room name")
    participant = webhook.participant
    kind = "agent_joined" if webhook.event == "participant_joined" else webhook.event
    reason = participant.disconnect_reason
    if isinstance(reason, int):
        try:
            reason = str(api.DisconnectReason.Name(reason))
        except ValueError:
            reason = str(reason)
    return events.LiveKitRoomEvent(
        event_id=webhook.id or f"{room}/{participant.sid}/{kind}",
        call_id=room,
        kind=kind,
        room=room,
        participant_identity=participant.identity,
        participant_kind=_kind_name(participant.kind) if participant.identity else "",
        disconnect_reason=reason,
        received_at_ms=received_at_ms,
    )


@routes.post("/webhooks/livekit", role=PUBLIC)
async def livekit_webhook(request: web.Request) -> web.Response:
    received_at = events.now_ms()
    api_key, api_secret = _keys(request)
    ingress = request.app[state.INGRESS]
    body = await read_body(
        request, limit=MAX_BODY, types=("application/webhook+json", "application/json")
    )
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token:
        ingress.counts["livekit", "unsigned"] += 1
        raise InvalidSignature("missing Authorization token")
    if not token.isascii():  # a JWT is ASCII; other bytes arrive surrogate-escaped
        ingress.counts["livekit", "bad_signature"] += 1
        raise InvalidSignature("Authorization token is not ASCII")
    try:
        verify(api_key, api_secret, body, token)
    except InvalidSignature:
        ingress.counts["livekit", "bad_signature"] += 1
        raise
    try:
        webhook = decode_webhook(body)
    except ValidationError:
        ingress.counts["livekit", "malformed"] += 1
        raise

    kind = webhook.participant.kind
    if webhook.event == "participant_joined" and kind in SIP_KINDS:
        event: events.InboundEvent = to_event(webhook, received_at)
    elif follows_dispatch(webhook):
        event = room_event(webhook, received_at)
    else:
        ingress.counts["livekit", f"ignored:{webhook.event or 'unknown'}"] += 1
        return json_response({"queued": False, "reason": "not an event of a call"})
    # The enqueue has the Redis deadline (ROUTER_REDIS_DEADLINE_S) of its pipelined batch.
    with unavailable_as_503(ingress, "livekit", event.call_id):
        queued, _ = await ingress.enqueue(event.event_id, event)
    ingress.counts["livekit", "queued" if queued else "duplicate"] += 1
    log.debug("event_queued", source="livekit", call_id=event.call_id, duplicate=not queued)
    return json_response({"queued": queued, "duplicate": not queued, "callId": event.call_id})
