"""Stored rows and admin-API request bodies (camelCase on the wire, as the platform documents).

Rows are what Redis holds; ``*Create`` / ``*Patch`` are request bodies and forbid unknown
fields, so a typo is an error rather than a silent default. A PATCH field left out is
``UNSET``; sent as ``null`` it clears the field.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

Source = Literal[
    "managed", "sip_trunk", "livekit", "twilio", "telnyx", "byoc", "verified_caller_id"
]
Direction = Literal["inbound", "outbound", "both"]
# How a Twilio number reaches the router: its voice URL (the Twilio webhook, bridged to LiveKit
# SIP), or an Elastic SIP Trunk straight to LiveKit's SIP host.
Mode = Literal["webhook", "sip_trunk"]

INBOUND: frozenset[str] = frozenset({"inbound", "both"})
OUTBOUND: frozenset[str] = frozenset({"outbound", "both"})
# Rows written before organizations existed read as this one's (the upgrade path).
DEFAULT_ORG = "default"
Role = Literal["admin", "agent_manager", "viewer"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class Row(msgspec.Struct, rename="camel", kw_only=True):
    """A stored row (camelCase on the wire; unknown fields of an older router tolerated)."""


class Body(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """An admin-API request body: a field it does not know is an error, not ignored."""


# ---- agents ---------------------------------------------------------------------------------


class PreCallWebhook(Body, kw_only=True, omit_defaults=True):
    url: str
    secret: str | list[str]  # whsec_...; several sign at once while a receiver rotates
    timeout_ms: int | None = None  # measured from when the call reached us
    reuse_last_answer_s: int | None = None  # on failure, reuse this number's last good answer


class LifecycleWebhook(Body, kw_only=True, omit_defaults=True):
    url: str
    secret: str | list[str]
    events: list[str] | None = None  # default: every event


class AgentWebhooks(Body, kw_only=True, omit_defaults=True):
    pre_call: PreCallWebhook | None = None
    lifecycle: LifecycleWebhook | None = None


DEFAULT_JOIN_TIMEOUT_S = 10.0
JOIN_TIMEOUT_BOUNDS_S = (2.0, 60.0)
NoShowPolicy = Literal["hangup", "fallback_agent", "transfer"]
OverflowPolicy = Literal["reject", "overflow_agent", "transfer"]
MAX_CONCURRENT_CALLS = 100_000
# A human line the router may send a caller to (a no-show's or an overflow's transfer).
TRANSFER_TO = re.compile(r"tel:\+[1-9]\d{6,14}|sips?:[^\s@<>\"]+@[^\s@<>\"]+")


class Agent(Row, kw_only=True):
    id: str
    organization_id: str = DEFAULT_ORG
    name: str
    livekit_agent_name: str
    prompt: str | None = None
    routing_intent: str | None = None
    provider_preferences: dict[str, Any] | None = None
    tools: list[Any] | None = None
    webhooks: AgentWebhooks | None = None
    # Supervision: an agent that has not joined the call's room this long after its dispatch
    # is a no-show, and the policy runs (the caller never waits beyond it in silence).
    join_timeout_s: float = DEFAULT_JOIN_TIMEOUT_S
    no_show: NoShowPolicy = "hangup"
    fallback_agent_id: str | None = None  # no_show "fallback_agent": dispatched instead
    # A human line (tel:+E.164 or sip:…) the caller is sent to: no_show "transfer", or after
    # a fallback agent that did not join either.
    transfer_to: str | None = None
    max_concurrent_calls: int | None = None  # live calls of this agent at once (None: no cap)
    created_at: str
    updated_at: str


class AgentCreate(Body, kw_only=True):
    organization_id: str | None = None  # the operator's choice; a key's own organization
    name: str
    livekit_agent_name: str
    prompt: str | None = None
    routing_intent: str | None = None
    provider_preferences: dict[str, Any] | None = None
    tools: list[Any] | None = None
    webhooks: AgentWebhooks | None = None
    join_timeout_s: float = DEFAULT_JOIN_TIMEOUT_S
    no_show: NoShowPolicy = "hangup"
    fallback_agent_id: str | None = None
    transfer_to: str | None = None
    max_concurrent_calls: int | None = None


class AgentPatch(Body, kw_only=True):
    name: str | UnsetType = UNSET
    livekit_agent_name: str | UnsetType = UNSET
    prompt: str | UnsetType | None = UNSET
    routing_intent: str | UnsetType | None = UNSET
    provider_preferences: dict[str, Any] | UnsetType | None = UNSET
    tools: list[Any] | UnsetType | None = UNSET
    webhooks: AgentWebhooks | UnsetType | None = UNSET
    join_timeout_s: float | UnsetType = UNSET
    no_show: NoShowPolicy | UnsetType = UNSET
    fallback_agent_id: str | UnsetType | None = UNSET
    transfer_to: str | UnsetType | None = UNSET
    max_concurrent_calls: int | UnsetType | None = UNSET


# ---- phone numbers --------------------------------------------------------------------------


class SetupStatus(Row, kw_only=True):
    status: Literal["ready", "incomplete"]
    inbound_ready: bool
    outbound_ready: bool
    agent_ready: bool
    forwarding_required: bool
    sip_connection_ready: bool
    issues: list[str]


class OriginOverride(Body, kw_only=True, omit_defaults=True):
    """Calls forwarded from ``match`` (an E.164 number, or a prefix of one) are steered."""

    match: str
    agent_id: str | None = None
    metadata: dict[str, Any] | None = None


class PhoneNumber(Row, kw_only=True):
    id: str
    organization_id: str = DEFAULT_ORG
    e164: str
    source: Source
    direction: Direction
    provider_resource_id: str | None = None
    sip_connection_installation_id: str | None = None
    sip_provider_name: str | None = None
    sip_trunk_id: str | None = None  # LiveKit inbound trunk id (``sip.trunkID``)
    agent_id: str | None = None
    dispatch_metadata_template: dict[str, Any] | None = None
    label: str | None = None
    shared_landing: bool = False  # many businesses forward here: match on where calls came from
    origin_overrides: list[OriginOverride] | None = None
    mode: Mode | None = None  # a Twilio number: webhook (default) or sip_trunk
    # A call over its organization's or agent's maxConcurrentCalls: rejected politely
    # (concurrency_limit), given to another agent, or sent to a human line.
    overflow: OverflowPolicy = "reject"
    overflow_agent_id: str | None = None
    overflow_transfer_to: str | None = None
    # A managed number (bought through the router): the provider's own ids, and its billing.
    telnyx_phone_number_id: str | None = None
    next_charge_at: str | None = None
    last_charged_at: str | None = None
    suspended_at: str | None = None
    created_at: str
    updated_at: str


class PhoneNumberView(PhoneNumber, kw_only=True):
    """A row as the API shows it: with its readiness computed at read time. The reference's
    SMS fields are always null: the router does not send SMS."""

    setup_status: SetupStatus
    sms10dlc_profile_id: None = msgspec.field(default=None, name="sms10dlcProfileId")
    sms_campaign_id: None = None
    sms_assignment_status: None = None
    sms_assignment_updated_at: None = None


class PhoneNumberImport(Body, kw_only=True):
    organization_id: str | None = None  # the operator's choice; a key's own organization
    e164: str
    source: Source = "sip_trunk"
    direction: Direction | UnsetType = UNSET
    provider_resource_id: str | None = None
    sip_connection_installation_id: str | None = None
    sip_provider_name: str | None = None
    sip_trunk_id: str | None = None
    agent_id: str | None = None
    dispatch_metadata_template: dict[str, Any] | None = None
    label: str | None = None
    shared_landing: bool = False
    origin_overrides: list[OriginOverride] | None = None
    mode: Mode | None = None
    overflow: OverflowPolicy = "reject"
    overflow_agent_id: str | None = None
    overflow_transfer_to: str | None = None
    # The reference's inline SIP connection (peer import, 003): any of these makes a SIP
    # connection for the number in the same request (``sipConnectionInstallationId`` left out).
    sip_trunk_name: str | None = None
    sip_username: str | None = None
    sip_password: str | None = None
    sip_server_address: str | None = None
    inbound_pin: str | None = None
    media_encryption: Literal["disable", "allow", "require"] | None = None

    @property
    def inline_connection(self) -> bool:
        return any(
            v is not None
            for v in (
                self.sip_trunk_name, self.sip_username, self.sip_password,
                self.sip_server_address, self.inbound_pin, self.media_encryption,
            )
        )  # fmt: skip


class PhoneNumberPatch(Body, kw_only=True):
    direction: Direction | UnsetType = UNSET
    agent_id: str | UnsetType | None = UNSET
    dispatch_metadata_template: dict[str, Any] | UnsetType | None = UNSET
    label: str | UnsetType | None = UNSET
    sip_connection_installation_id: str | UnsetType | None = UNSET
    sip_provider_name: str | UnsetType | None = UNSET
    sip_trunk_id: str | UnsetType | None = UNSET
    shared_landing: bool | UnsetType = UNSET
    origin_overrides: list[OriginOverride] | UnsetType | None = UNSET
    overflow: OverflowPolicy | UnsetType = UNSET
    overflow_agent_id: str | UnsetType | None = UNSET
    overflow_transfer_to: str | UnsetType | None = UNSET


def apply_patch(row: Any, patch: msgspec.Struct, *, updated_at: str) -> Any:
    """A copy of ``row`` with every field the patch sets (``null`` clears)."""
    changes = {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not UNSET}
    return msgspec.structs.replace(row, **changes, updated_at=updated_at)


LIFECYCLE_EVENTS = (
    "call.dispatched",
    "call.rejected",
    "call.failed",
    "call.agent_joined",
    "call.no_show",
    "call.ended",
)  # an agent may pick


# ---- organizations and their API keys -------------------------------------------------------

DEFAULT_NUMBER_LIMIT = 100


class Organization(Row, kw_only=True):
    id: str
    name: str
    number_limit: int = DEFAULT_NUMBER_LIMIT
    # Where the organization's carrier sends SIP from (IPs or CIDRs): its managed LiveKit
    # trunk takes calls from these only. Empty: from anywhere that knows a number.
    sip_allowed_addresses: list[str] = msgspec.field(default_factory=list)
    max_concurrent_calls: int | None = None  # live calls at once, set by the operator
    created_at: str
    updated_at: str


class OrganizationCreate(Body, kw_only=True):
    name: str
    number_limit: int = DEFAULT_NUMBER_LIMIT
    sip_allowed_addresses: list[str] = msgspec.field(default_factory=list)


class OrganizationPatch(Body, kw_only=True):
    name: str | UnsetType = UNSET
    number_limit: int | UnsetType = UNSET
    max_concurrent_calls: int | UnsetType | None = UNSET
    sip_allowed_addresses: list[str] | UnsetType = UNSET


class ApiKey(Row, kw_only=True):
    """An organization's key as stored and listed: never the key itself (only its hash is
    kept, as the row's place in the store)."""

    id: str
    organization_id: str
    name: str
    role: Role
    prefix: str  # the key's first characters, to tell keys apart
    created_at: str


class ApiKeyCreate(Body, kw_only=True):
    name: str
    role: Role


class ApiKeyCreated(ApiKey, kw_only=True):
    key: str  # shown once, at creation


class OutboundCallRequest(Body, kw_only=True):
    """``POST /v1/calls/outbound``: a call from one of the organization's numbers."""

    caller: str = msgspec.field(name="from")  # the organization's number, allowing outbound
    to: str  # the number called (E.164, or national in the calling number's country)
    agent_id: str | None = None  # the agent that talks; default the number's agent
