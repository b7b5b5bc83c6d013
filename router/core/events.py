"""The normalized inbound-call events that travel on the Redis stream.

Ingress turns each webhook source into one of these Structs (a tagged union) and XADDs it as
MessagePack; the worker decodes the union and branches with ``match``. Raw values are kept as
the source sent them — normalization is the worker's pure logic, so a record can always show
what arrived.
"""

from __future__ import annotations

import time

import msgspec

STREAM_FIELD = b"e"


class LiveKitSipJoined(msgspec.Struct, tag="livekit_sip", kw_only=True, omit_defaults=True):
    """A SIP participant joined a LiveKit room (``participant_joined``, kind SIP)."""

    event_id: str
    call_id: str  # sip.callID, LiveKit's SIP call id
    room: str
    participant_identity: str
    participant_sid: str = ""
    caller: str | None = None  # sip.phoneNumber
    dialed: str | None = None  # sip.trunkPhoneNumber (absent when the trunk hides numbers)
    trunk_id: str | None = None  # sip.trunkID
    rule_id: str | None = None  # sip.ruleID
    sip_headers: dict[str, str] = msgspec.field(default_factory=dict)  # sip.h.<name>, lowercase
    attributes: dict[str, str] = msgspec.field(default_factory=dict)  # the rest of the attributes
    correlation_id: str | None = None  # X-Router-Call from a carrier bridge
    received_at_ms: int


class CarrierCall(msgspec.Struct, tag="carrier", kw_only=True, omit_defaults=True):
    """A carrier asked what to do with an inbound call (Twilio, Telnyx TeXML or Call Control).

    For TwiML/TeXML the ingress has already answered (``answer``); for Call Control the worker
    acts through Telnyx's API. ``correlation_id`` rides to LiveKit in the bridged leg's
    ``X-Router-Call`` header.
    """

    event_id: str
    provider: str  # "twilio" | "telnyx"
    mode: str  # "twiml" | "texml" | "call_control"
    call_id: str  # the carrier's call id (CallSid, call_control_id)
    correlation_id: str
    caller: str | None = None
    dialed: str | None = None
    forwarded_from: str | None = None  # the carrier's own forwarding field
    caller_name: str | None = None
    sip_headers: dict[str, str] = msgspec.field(default_factory=dict)  # lower-case names
    answer: str = "pending"  # "bridge" | "reject" | "pending" (Call Control: the worker acts)
    answer_reason: str | None = None
    account: str | None = None  # the carrier account the call is on (Twilio's AccountSid)
    received_at_ms: int


class CarrierLegEnded(msgspec.Struct, tag="carrier_leg_ended", kw_only=True, omit_defaults=True):
    """The leg a carrier call was transferred on ended (Telnyx ``call.hangup`` of leg B). Before
    LiveKit answered, that is a failed transfer: the caller must not be left parked."""

    event_id: str
    provider: str  # "telnyx"
    call_id: str  # the *inbound* call's id (from the client_state set on the transfer)
    leg_id: str  # the transfer leg's own call_control_id
    cause: str | None = None  # hangup_cause
    received_at_ms: int


class LiveKitRoomEvent(msgspec.Struct, tag="livekit_room", kw_only=True, omit_defaults=True):
    """What follows a dispatch in the call's room (LiveKit webhooks): an agent participant
    joined (``agent_joined``), the caller's SIP participant or the agent left
    (``participant_left``), the room finished (``room_finished``). The worker finds the call
    by its room; ``call_id`` is the room's name until then (it shards the stream)."""

    event_id: str
    call_id: str  # the room name (the call is found by it)
    kind: str  # "agent_joined" | "participant_left" | "room_finished"
    room: str
    participant_identity: str = ""
    participant_kind: str = ""  # "SIP" | "AGENT" | ... (participant events)
    disconnect_reason: str = ""  # LiveKit's DisconnectReason name (participant_left)
    received_at_ms: int


InboundEvent = LiveKitSipJoined | CarrierCall | CarrierLegEnded | LiveKitRoomEvent

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[InboundEvent] = msgspec.msgpack.Decoder(InboundEvent)


def encode(event: InboundEvent) -> bytes:
    return _encoder.encode(event)


def decode(data: bytes) -> InboundEvent:
    return _decoder.decode(data)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
