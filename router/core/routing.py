"""The routing decision, as a pure function of the call's facts and the rows found for it.

No I/O here: the worker looks the rows up, this module decides whether to dispatch or reject
and builds the session metadata. The metadata is the router's call facts and the linked agent's
hydration, with the rendered ``dispatchMetadataTemplate`` merged over it (``template.merge``).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from router.core import template
from router.core.dispatch_metadata import (
    AgentInfo,
    AgentWebhooksInfo,
    DispatchMetadata,
    LifecycleInfo,
)
from router.core.forwarding import Forwarding
from router.core.models import INBOUND, Agent, PhoneNumber
from router.core.phone import Reading
from router.core.readiness import setup_status

RejectReason = Literal[
    "unknown_number", "no_dialed_number", "outbound_only", "not_ready", "pre_call_rejected",
    "concurrency_limit", "suspended",
]  # fmt: skip


class CallFacts(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    provider: str  # "livekit" | "twilio" | "telnyx"
    caller_number: str | None  # E.164 or None
    dialed_number: str | None
    forwarding: Forwarding
    # Every reading of the dialed number, the preferred first (``dialed_number``): bare digits
    # read as LiveKit reads them (international), then nationally; matching tries each.
    dialed_readings: tuple[Reading, ...] = ()
    # What the source said, kept so the facts can be read again in another country when the
    # row is found under another reading of the dialed number (``matching.call_facts``).
    caller_raw: str | None = None
    forwarded_from_raw: str | None = None
    sip_headers: dict[str, str] = msgspec.field(default_factory=dict)
    default_region: str = "US"
    room: str | None = None
    sip: dict[str, str] = msgspec.field(default_factory=dict)  # LiveKit sip.* facts


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    action: Literal["dispatch", "reject"]
    matched_rule: str | None = None
    phone_number_id: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    metadata: dict[str, Any] | None = None
    reject_reason: RejectReason | None = None
    detail: str | None = None
    # The number's overflow policy, for a call over a maxConcurrentCalls
    overflow: str = "reject"
    overflow_agent_id: str | None = None
    overflow_transfer_to: str | None = None


PreCallStatus = Literal[
    "ok", "rejected", "timeout", "http_error", "bad_answer", "unknown_agent",
    "connect_error", "blocked_address",
]  # fmt: skip


class PreCallOutcome(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    status: PreCallStatus
    ms: float
    attempts: int = 1
    http_status: int | None = None
    detail: str | None = None
    fallback: Literal["static", "last_answer"] | None = None


class Routing(msgspec.Struct, frozen=True, kw_only=True):
    """The one decision result: the action (``decision``), the row and agent it came from,
    why (``reason``, ``override``, ``notes``), and — once the worker has asked it — what the
    pre-call webhook did to it. ``matching.route`` makes it; the worker completes it."""

    decision: Decision
    row: PhoneNumber | None
    agent: Agent | None
    reason: str
    override: str | None = None
    notes: list[str] = msgspec.field(default_factory=list)
    dialed: Reading | None = None  # the reading of the dialed number that found the row
    facts: CallFacts | None = None  # the facts as read for that reading, when it is not the first
    lookup_ms: float = 0.0  # how long finding the row took
    pre_call: PreCallOutcome | None = None  # set when a pre-call webhook was asked


def _hydrate(agent: Agent) -> AgentInfo:
    """What a linked agent adds to the session metadata; webhook secrets never go in."""
    lifecycle = agent.webhooks.lifecycle if agent.webhooks else None
    return AgentInfo(
        id=agent.id,
        name=agent.name,
        livekit_agent_name=agent.livekit_agent_name,
        prompt=agent.prompt,
        routing_intent=agent.routing_intent,
        provider_preferences=agent.provider_preferences,
        tools=agent.tools,
        webhooks=(
            AgentWebhooksInfo(lifecycle=LifecycleInfo(url=lifecycle.url, events=lifecycle.events))
            if lifecycle is not None
            else msgspec.UNSET
        ),
    )


def fallback_metadata(metadata: dict[str, Any] | None, agent: Agent) -> dict[str, Any]:
    """A call's rendered metadata for its fallback agent: the envelope's agent fields are the
    fallback's (hydrated as any linked agent is); the number's template stays as rendered."""
    out = dict(metadata or {})
    out["agentId"] = agent.id
    out["agent"] = msgspec.to_builtins(_hydrate(agent))
    return out


def token_values(facts: CallFacts, row: PhoneNumber, agent_id: str | None) -> dict[str, str | None]:
    return {
        "callerNumber": facts.caller_number,
        "dialedNumber": facts.dialed_number,
        "forwardedFromNumber": facts.forwarding.number,
        "callId": facts.call_id,
        "provider": facts.provider,
        "phoneNumberId": row.id,
        "agentId": agent_id,
        "label": row.label,
    }


def session_metadata(facts: CallFacts, row: PhoneNumber, agent: Agent | None) -> dict[str, Any]:
    """The envelope (``dispatch_metadata.DispatchMetadata``), the number's template on top."""
    values = token_values(facts, row, agent.id if agent else None)
    envelope = DispatchMetadata(
        caller_number=facts.caller_number,
        dialed_number=facts.dialed_number,
        forwarded_from_number=facts.forwarding.number,
        call_id=facts.call_id,
        provider=facts.provider,
        phone_number_id=row.id,
        agent_id=agent.id if agent else None,
        label=row.label,
        forwarded_from_withheld=facts.forwarding.withheld,
        forwarding_chain=list(facts.forwarding.chain),
        sip=dict(facts.sip) if facts.sip else msgspec.UNSET,
        agent=_hydrate(agent) if agent is not None else msgspec.UNSET,
    )
    base: dict[str, Any] = msgspec.to_builtins(envelope)
    return template.merge(base, template.render(row.dispatch_metadata_template, values))


class Verdict(msgspec.Struct, frozen=True):
    reason: RejectReason
    detail: str


def verdict(
    dialed: str | None, row: PhoneNumber | None, agent: Agent | None, default_agent_name: str | None
) -> Verdict | None:
    """Why a call to this row cannot be taken (None: it can). Carriers' ingress asks this too."""
    if row is None:
        if dialed is None:
            return Verdict("no_dialed_number", "the dialed number is missing or not a number")
        return Verdict("unknown_number", f"no phone number row for {dialed}")
    if row.direction not in INBOUND:
        return Verdict("outbound_only", f"{row.e164} is {row.direction}-only")
    if row.suspended_at is not None:
        return Verdict("suspended", f"{row.e164} is suspended since {row.suspended_at}")
    status = setup_status(row, agent, default_agent_name)
    if not status.inbound_ready:
        return Verdict("not_ready", "; ".join(status.issues) or "not ready for inbound calls")
    return None


def decide(
    facts: CallFacts,
    row: PhoneNumber | None,
    agent: Agent | None,
    *,
    default_agent_name: str | None,
    matched_rule: str = "dialed_number",
) -> Decision:
    refused = verdict(facts.dialed_number, row, agent, default_agent_name)
    if refused is not None or row is None:
        return Decision(
            action="reject",
            matched_rule=matched_rule if row is not None else None,
            phone_number_id=row.id if row is not None else None,
            agent_id=row.agent_id if row is not None else None,  # whose lifecycle hook hears it
            reject_reason=refused.reason if refused else "unknown_number",
            detail=refused.detail if refused else None,
        )
    agent_name = agent.livekit_agent_name if agent is not None else default_agent_name
    assert agent_name  # inbound_ready guarantees one
    return Decision(
        action="dispatch",
        matched_rule=matched_rule,
        phone_number_id=row.id,
        agent_id=agent.id if agent else None,
        agent_name=agent_name,
        metadata=session_metadata(facts, row, agent),
        overflow=row.overflow,
        overflow_agent_id=row.overflow_agent_id,
        overflow_transfer_to=row.overflow_transfer_to,
    )
