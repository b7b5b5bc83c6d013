"""What the router did at LiveKit and at each number's carrier, kept beside the row
(``store.provisioning``): the per-carrier states put back on release, and what the last
provisioning step or reconcile saw (``Provisioning``, which ``setupStatus`` reads)."""

from __future__ import annotations

from router.core.models import Row


class TwilioRouting(Row, kw_only=True):
    """Where a Twilio number sent its calls before the router pointed it at itself. Twilio's
    precedence (IncomingPhoneNumber resource): a ``trunkSid`` overrides everything, then a
    ``voiceApplicationSid``, then the voice URL."""

    voice_url: str | None = None
    voice_method: str | None = None
    voice_application_sid: str | None = None
    trunk_sid: str | None = None


class TwilioVoiceUrl(Row, kw_only=True, tag="twilio_voice_url"):
    """A Twilio number whose voice URL the router pointed at itself; ``previous`` is put back
    when the number is released."""

    number_sid: str
    previous: TwilioRouting


class TwilioTrunk(Row, kw_only=True, tag="twilio_trunk"):
    """A Twilio number the router attached to the organization's Elastic SIP Trunk (detached
    on release)."""

    number_sid: str
    trunk_sid: str


class TwilioTermination(Row, kw_only=True):
    """What the router made on an organization's Twilio account so its numbers can place
    calls (``outbound.twilio_termination``): the trunk's termination address and the
    credential Twilio checks there — the password kept encrypted (``store.integrations``)."""

    account_sid: str  # the account it was made on (another account: made again)
    trunk_sid: str
    domain: str
    credential_list_sid: str
    username: str
    password: str


class TelnyxConnection(Row, kw_only=True, tag="telnyx_connection"):
    """A Telnyx number the router pointed at its application; ``previous`` (None: none) is put
    back on release."""

    number_id: str
    previous: str | None = None


class LiveKitNumber(Row, kw_only=True, tag="livekit_number"):
    """A number bought from LiveKit, bound to the organization's dispatch rule."""

    phone_number_id: str


# Where a carrier sends the number's calls because the router told it to, and what to put
# back: one member per carrier (``provisioning.carriers``), told apart by ``type``.
CarrierState = TwilioVoiceUrl | TwilioTrunk | TelnyxConnection | LiveKitNumber


class Provisioning(Row, kw_only=True):
    """What the last provisioning step or reconcile saw of a number at LiveKit: the managed
    inbound trunk that carries it, or why not (kept beside the row, never in it)."""

    livekit_trunk_id: str | None = None
    livekit_outbound_trunk_id: str | None = None  # the outbound trunk LiveKit holds it on
    # The router put the number on a customer's own trunk (``sipTrunkId``), and takes it off
    # again when the number leaves; False: the trunk held it already.
    added_to_trunk: bool = False
    # Why the number is on no outbound trunk, in the refuser's words (the inbound side may
    # be fine: ``ok`` is about that).
    outbound_issue: str | None = None
    ok: bool
    issue: str | None = None
    checked_at: str
    carrier: CarrierState | None = None  # what the router did at the number's carrier
