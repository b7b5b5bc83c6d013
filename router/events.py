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
    received_at_ms: int


InboundEvent = LiveKitSipJoined

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(InboundEvent)


def encode(event: InboundEvent) -> bytes:
    return _encoder.encode(event)


def decode(data: bytes) -> InboundEvent:
    return _decoder.decode(data)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
