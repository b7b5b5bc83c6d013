"""``POST /v1/route/preview``: the decision the router would take for a call, without a call.

Given caller, dialed number, the carrier's forwarding field, SIP headers and a LiveKit trunk id,
it runs the same matching and decision as the worker (``matching.route``) — matched row and
rule, forwarding chain, origin override, rendered metadata — and dispatches nothing; the
agent's pre-call webhook is not called. ``python -m router route preview`` is the same, for
the command line.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from router.config import Config
from router.core.matching import OrganizationRows, Rows, call_facts, route
from router.errors import ValidationError
from router.web import state
from router.web.apidoc import documented
from router.web.auth import scope_of
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()


class PreviewRequest(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    dialed_number: str | None = None
    caller_number: str | None = None
    provider: str = "livekit"
    forwarded_from: str | None = None  # a carrier's own forwarding field
    headers: dict[str, str] = msgspec.field(default_factory=dict)  # Diversion, History-Info...
    trunk_id: str | None = None


@routes.post("/v1/route/preview", role="viewer")
@documented(request=PreviewRequest, response=dict[str, Any])
async def route_preview(request: web.Request) -> web.Response:
    """The decision the router would take for such a call — without dispatching anything."""
    body = await read_json(request, PreviewRequest)
    config = request.app[state.CONFIG]
    scope = scope_of(request)
    rows: Rows = request.app[state.REGISTRY]
    if scope is not None:
        rows = OrganizationRows(rows, scope)
    return json_response(await preview(rows, body, config))


async def preview(rows: Rows, body: PreviewRequest, config: Config) -> dict[str, Any]:
    if len(body.headers) > 50 or any(len(v) > 8192 for v in body.headers.values()):
        raise ValidationError("headers: at most 50, each at most 8 KiB", field="headers")
    # The same reading of the numbers as a real call's (the dialed number's country).
    facts = call_facts(
        call_id="preview",
        provider=body.provider,
        caller=body.caller_number,
        dialed=body.dialed_number,
        default_region=config.default_region,
        sip_headers=body.headers,
        forwarded_from=body.forwarded_from,
        sip={"trunkId": body.trunk_id} if body.trunk_id else {},
    )
    routing = await route(rows, facts, config.default_agent_name)
    decision = routing.decision
    hook = routing.agent.webhooks.pre_call if routing.agent and routing.agent.webhooks else None
    return {
        "action": decision.action,
        "matchedRule": decision.matched_rule,
        "matchReason": routing.reason,
        "originOverride": routing.override,
        "phoneNumberId": decision.phone_number_id,
        "agentId": decision.agent_id,
        "agentName": decision.agent_name,
        "rejectReason": (
            f"{decision.reject_reason}: {decision.detail}" if decision.reject_reason else None
        ),
        "callerNumber": facts.caller_number,
        "dialedNumber": facts.dialed_number,
        "forwardedFromNumber": facts.forwarding.number,
        "forwardedFromWithheld": facts.forwarding.withheld,
        "forwardingChain": msgspec.to_builtins(facts.forwarding.chain),
        "metadata": decision.metadata,
        "preCall": "not called in a preview" if hook is not None else None,
        "notes": routing.notes,
    }
