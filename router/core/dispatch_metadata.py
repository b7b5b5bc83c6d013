"""The dispatch metadata's envelope: what every agent the router dispatches finds in
``ctx.job.metadata`` (JSON), before the number's ``dispatchMetadataTemplate`` and a pre-call
answer merge their own keys on top (``routing.session_metadata``).

The Structs are both how the envelope is built and where its JSON Schema comes from
(``GET /schemas/dispatch-metadata.json``; ``schema()``): the schema allows the keys a
template adds, and describes the envelope's own.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from router.core.forwarding import Hop

SCHEMA_ID = "/schemas/dispatch-metadata.json"


class LifecycleInfo(msgspec.Struct, kw_only=True):
    url: str
    events: list[str] | None = None


class AgentWebhooksInfo(msgspec.Struct, kw_only=True):
    lifecycle: LifecycleInfo


class AgentInfo(msgspec.Struct, rename="camel", kw_only=True):
    """The linked agent, hydrated (its webhook secrets never go in)."""

    id: str
    name: str
    livekit_agent_name: str
    prompt: str | None = None
    routing_intent: str | None = None
    provider_preferences: dict[str, Any] | None = None
    tools: list[Any] | None = None
    webhooks: AgentWebhooksInfo | msgspec.UnsetType = msgspec.UNSET


class DispatchMetadata(msgspec.Struct, rename="camel", kw_only=True):
    """The envelope of every dispatch: the call's numbers (E.164, or null when not known),
    how it was forwarded, its ids, LiveKit's ``sip.*`` facts and the agent."""

    caller_number: str | None
    dialed_number: str | None
    forwarded_from_number: str | None  # the party the call was first forwarded from
    call_id: str
    provider: str  # livekit | twilio | telnyx
    phone_number_id: str
    agent_id: str | None
    label: str | None
    forwarded_from_withheld: bool  # the forwarding party asked for privacy
    forwarding_chain: list[Hop]  # every redirecting party, oldest first
    sip: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    agent: AgentInfo | msgspec.UnsetType = msgspec.UNSET
    # "outbound" on a call the router placed (POST /v1/calls/outbound); absent on inbound calls
    direction: Literal["outbound"] | msgspec.UnsetType = msgspec.UNSET


def schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the dispatch metadata."""
    found: dict[str, Any] = msgspec.json.schema(DispatchMetadata)
    found = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "description": (
            "The JSON in a dispatched agent's ctx.job.metadata: this envelope, with the "
            "number's dispatchMetadataTemplate (rendered) and a pre-call answer's metadata "
            "(and dynamicVariables) merged on top; their keys may add to it freely."
        ),
        **found,
    }
    return found
