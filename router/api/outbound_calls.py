"""``POST /v1/calls/outbound``: a call placed from one of the organization's numbers through
its SIP connection's outbound trunk, with an agent in the room.

The agent is dispatched into a new room first (so that it is there when the callee answers),
with the same metadata envelope as an inbound call's and ``direction: "outbound"``; then LiveKit
dials (``CreateSIPParticipant`` on the number's outbound trunk). The call is recorded like any
decision (``GET /v1/calls/{id}``, ``calls tail``). Refused, each in words naming the field: a
number of another organization or none, one that does not allow outbound calls or is not on an
outbound trunk (its ``setupStatus`` issues), a destination outside the allowed countries
(``ROUTER_OUTBOUND_COUNTRIES``; unset: the number's own country), an organization past its
calls a minute (``ROUTER_OUTBOUND_PER_MINUTE``, 429).
"""

from __future__ import annotations

import secrets
import time

import msgspec
from aiohttp import web

from router import logs
from router.api import audit
from router.core import routing
from router.core.forwarding import NOT_FORWARDED
from router.core.models import OUTBOUND, OutboundCallRequest, now_iso
from router.core.phone import region_of, to_e164
from router.core.readiness import setup_status
from router.core.records import CallRecord
from router.errors import (
    Conflict,
    NotFound,
    NotImplementedHere,
    ProvisioningError,
    RateLimited,
    RemoteRefusal,
    ValidationError,
    retry_after,
)
from router.store.provisioning import ProvisioningStates
from router.store.ratelimit import RateLimiter
from router.web import state
from router.web.apidoc import documented
from router.web.auth import scope_of
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

log = logs.get(__name__)
routes = Routes()
_json = msgspec.json.Encoder()


@routes.post("/v1/calls/outbound", role="agent_manager")
@documented(request=OutboundCallRequest, response=CallRecord, status=201, errors=(409, 501, 502))
async def place_call(request: web.Request) -> web.Response:
    """Call ``to`` from ``from`` (one of the organization's numbers allowing outbound calls, on
    its SIP connection's outbound trunk) with an agent in the room."""
    body = await read_json(request, OutboundCallRequest)
    app, config = request.app, request.app[state.CONFIG]
    provisioner = app.get(state.PROVISIONER)
    if provisioner is None:
        raise NotImplementedHere(
            "outbound calls go through LiveKit's outbound trunks, which the router provisions: "
            "set LIVEKIT_URL (and leave ROUTER_PROVISIONING on)"
        )
    caller = to_e164(body.caller, config.default_region)
    row, agent = await app[state.REGISTRY].lookup(e164=caller) if caller else (None, None)
    scope = scope_of(request)
    if row is None or (scope is not None and row.organization_id != scope):
        raise NotFound(f"from: {body.caller} is not a number of the organization", field="from")
    if row.direction not in OUTBOUND:
        raise ValidationError(
            f"from: {row.e164} does not allow outbound calls (direction {row.direction})",
            field="from",
        )
    known = (await ProvisioningStates(app[state.REDIS]).of([row])).get(row.id)
    trunk_id = known.livekit_outbound_trunk_id if known is not None else None
    if trunk_id is None:
        issues = setup_status(row, agent, config.default_agent_name, None, known).issues
        raise Conflict(f"from: {row.e164} is not ready for outbound calls: {'; '.join(issues)}",
                       field="from")  # fmt: skip
    home = region_of(row.e164) or config.default_region
    to = to_e164(body.to, home)
    if to is None:
        raise ValidationError(f"to: {body.to!r} is not a valid phone number", field="to")
    allowed = config.outbound.countries or (home,)
    if (country := region_of(to)) not in allowed:
        raise ValidationError(
            f"to: calls to {country} are not allowed from this router (allowed: "
            f"{', '.join(allowed)}; ROUTER_OUTBOUND_COUNTRIES)",
            field="to",
        )
    if body.agent_id is not None:
        agent = await app[state.REGISTRY].find_agent(body.agent_id)
        if agent is None or agent.organization_id != row.organization_id:
            raise ValidationError(f"agentId: no agent {body.agent_id}", field="agentId")
    if agent is None:
        raise ValidationError(
            f"agentId: {row.e164} has no agent: name the agent that talks", field="agentId"
        )
    per_minute = config.outbound.per_minute
    budget = RateLimiter(app[state.REDIS], per_minute / 60, per_minute)
    wait = await budget.take(f"{row.organization_id}:outbound")
    if wait > 0:
        raise RateLimited(
            f"organization {row.organization_id} placed its {per_minute} calls "
            f"of the minute; retry in {retry_after(wait)} s",
            retry_after_s=wait,
        )
    received = time.time()
    call_id = f"OUT_{secrets.token_hex(8)}"
    room, identity = f"out-{secrets.token_hex(6)}", f"sip_{to}"
    facts = routing.CallFacts(
        call_id=call_id, provider="livekit", caller_number=row.e164, dialed_number=to,
        forwarding=NOT_FORWARDED, room=room,
    )  # fmt: skip
    metadata = {**routing.session_metadata(facts, row, agent), "direction": "outbound"}
    dispatcher = app[state.DISPATCHER]
    record = CallRecord(
        call_id=call_id, provider="livekit", status="failed", caller_number=row.e164,
        dialed_number=to, received_at=now_iso(), decided_at="", organization_id=row.organization_id,
        phone_number_id=row.id, agent_id=agent.id, agent_name=agent.livekit_agent_name,
        metadata=metadata, room=room, matched_rule="outbound",
        match_reason=f"placed through the admin API from {row.e164}",
    )  # fmt: skip
    try:
        dispatch_id = await dispatcher.dispatch(
            room=room, agent_name=agent.livekit_agent_name, metadata=_json.encode(metadata).decode()
        )
        record = msgspec.structs.replace(record, dispatch_id=dispatch_id)
        placed = await provisioner.sip.call(
            trunk_id=trunk_id, to=to, number=row.e164, room=room, identity=identity
        )
    except ProvisioningError as exc:
        failed = msgspec.structs.replace(record, error=str(exc)[:300], decided_at=now_iso())
        await app[state.CALLS].put(failed)
        if failed.dispatch_id:  # the agent must not wait in an empty room
            await dispatcher.delete(room=room, dispatch_id=failed.dispatch_id)
        raise RemoteRefusal(str(exc)) from exc
    took = round((time.time() - received) * 1000, 3)
    record = msgspec.structs.replace(
        record, status="dispatched", sip_call_id=placed.sip_call_id or None,
        participant_identity=placed.participant_identity or identity, decided_at=now_iso(),
        timings_ms={"placed": took},
    )  # fmt: skip
    await app[state.CALLS].put(record)
    log.info("outbound_call_placed", call_id=call_id, number=row.id, agent=agent.id)
    await audit.note(request, row.organization_id, "call.placed", call_id)
    return json_response(record, status=201)
