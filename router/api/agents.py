"""The admin API's agents under ``/v1/agents``: created, read, changed and deleted within an
organization; a webhook secret is never shown back (``***``), and an agent a number still
links to cannot be deleted (409, enforced by the registry)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from router.api import audit
from router.api.rules import LIST_DEFAULT, LIST_MAX, MAX_TEXT, check_policy, organization_for
from router.api.webhook_urls import check_webhook_url
from router.config import Config
from router.core import bounds
from router.core.models import (
    JOIN_TIMEOUT_BOUNDS_S,
    LIFECYCLE_EVENTS,
    MAX_CONCURRENT_CALLS,
    Agent,
    AgentCreate,
    AgentPatch,
    apply_patch,
    new_id,
    now_iso,
)
from router.errors import NotFound, ValidationError
from router.outbound.precall import MAX_TIMEOUT_MS
from router.outbound.signing import MAX_SECRETS, check_secret, secrets_of
from router.store.registry import Registry
from router.web import paging, state
from router.web.apidoc import CURSOR, LIMIT, documented
from router.web.auth import own, scope_of
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()


class Deleted(msgspec.Struct):
    deleted: bool


def _check_agent(agent: Agent, config: Config) -> None:
    for wire, value in (("name", agent.name), ("livekitAgentName", agent.livekit_agent_name)):
        if not value.strip() or len(value) > MAX_TEXT:
            raise ValidationError(f"{wire}: 1 to {MAX_TEXT} characters", field=wire)
    low, high = JOIN_TIMEOUT_BOUNDS_S
    if not low <= agent.join_timeout_s <= high:
        raise ValidationError(
            f"joinTimeoutS: from {low:g} to {high:g} seconds", field="joinTimeoutS"
        )
    check_policy(
        "noShow", agent.no_show, "fallback_agent",
        ("fallbackAgentId", agent.fallback_agent_id), ("transferTo", agent.transfer_to),
    )  # fmt: skip
    limit = agent.max_concurrent_calls
    if limit is not None and not 1 <= limit <= MAX_CONCURRENT_CALLS:
        raise ValidationError(
            f"maxConcurrentCalls: 1 to {MAX_CONCURRENT_CALLS}, or null for none",
            field="maxConcurrentCalls",
        )
    if agent.fallback_agent_id == agent.id:
        raise ValidationError(
            "fallbackAgentId: an agent cannot be its own fallback", field="fallbackAgentId"
        )
    free_form = {"tools": agent.tools, "providerPreferences": agent.provider_preferences}
    for name, shape in free_form.items():
        problem = bounds.shape_problem(shape)
        if problem:  # hydrated into every dispatch's metadata: bounded when stored
            raise ValidationError(f"{name} {problem}", field=name)
    hooks = agent.webhooks
    if hooks is None:
        return
    for name, hook in (("preCall", hooks.pre_call), ("lifecycle", hooks.lifecycle)):
        if hook is None:
            continue
        check_webhook_url(hook.url, config, field=f"webhooks.{name}.url")
        keys = secrets_of(hook.secret)
        if not 1 <= len(keys) <= MAX_SECRETS:
            raise ValidationError(
                f"webhooks.{name}.secret: one to {MAX_SECRETS} whsec_ secrets", field="webhooks"
            )
        for key in keys:
            check_secret(key, field=f"webhooks.{name}.secret")
    if hooks.pre_call is not None:
        timeout, reuse = hooks.pre_call.timeout_ms, hooks.pre_call.reuse_last_answer_s
        if timeout is not None and not 100 <= timeout <= MAX_TIMEOUT_MS:
            raise ValidationError(
                f"webhooks.preCall.timeoutMs: between 100 and {MAX_TIMEOUT_MS}", field="webhooks"
            )
        if reuse is not None and not 1 <= reuse <= 7 * 24 * 3600:
            raise ValidationError(
                "webhooks.preCall.reuseLastAnswerS: 1 s to 7 days", field="webhooks"
            )
    if hooks.lifecycle is not None and hooks.lifecycle.events is not None:
        unknown = set(hooks.lifecycle.events) - set(LIFECYCLE_EVENTS)
        if unknown:
            raise ValidationError(
                f"webhooks.lifecycle.events: unknown {sorted(unknown)}; known "
                f"{list(LIFECYCLE_EVENTS)}",
                field="webhooks",
            )


async def _check_fallback(reg: Registry, agent: Agent) -> None:
    """The fallback agent exists and is the same organization's (another's reads as absent)."""
    if agent.fallback_agent_id is None:
        return
    try:
        fallback, _ = await reg.get_agent(agent.fallback_agent_id)
    except NotFound:
        fallback = None
    if fallback is None or fallback.organization_id != agent.organization_id:
        raise ValidationError(
            f"fallbackAgentId: agent {agent.fallback_agent_id} does not exist",
            field="fallbackAgentId",
        )


async def _own_agent(request: web.Request) -> tuple[Agent, bytes]:
    agent_id = request.match_info["id"]
    agent, raw = await request.app[state.REGISTRY].get_agent(agent_id)
    own(request, agent.organization_id, f"agent {agent_id} not found")
    return agent, raw


def _agent_view(agent: Agent) -> dict[str, Any]:
    """An agent as the API shows it: webhook secrets are never echoed back."""
    out: dict[str, Any] = msgspec.to_builtins(agent)
    for hook in (out.get("webhooks") or {}).values():
        if isinstance(hook, dict) and hook.get("secret"):
            hook["secret"] = (
                ["***"] * len(hook["secret"]) if isinstance(hook["secret"], list) else "***"
            )
    return out


@routes.get("/v1/agents", role="viewer")
@documented(response=list[Agent], query=(LIMIT, CURSOR), paged=True)
async def list_agents(request: web.Request) -> web.Response:
    """Agents in the order they were created, a page at a time (``limit``, ``cursor``)."""
    limit = paging.limit_of(request, default=LIST_DEFAULT, maximum=LIST_MAX)
    reg = request.app[state.REGISTRY]
    agents, more = await reg.page_agents(paging.cursor_of(request), limit, scope_of(request))
    return paging.paged(json_response([_agent_view(a) for a in agents]), request, more)


@routes.post("/v1/agents", role="agent_manager")
@documented(request=AgentCreate, response=Agent, status=201)
async def create_agent(request: web.Request) -> web.Response:
    """Create an agent (webhook secrets are never shown again: ``***``)."""
    reg, config = request.app[state.REGISTRY], request.app[state.CONFIG]
    body = await read_json(request, AgentCreate)
    org = await organization_for(request, body.organization_id)
    fields = msgspec.structs.asdict(body)
    fields["organization_id"] = org.id
    now = now_iso()
    agent = Agent(id=new_id("ag"), **fields, created_at=now, updated_at=now)
    _check_agent(agent, config)
    await _check_fallback(reg, agent)
    await reg.write_agent(agent, old=None)
    await audit.note(request, agent.organization_id, "agent.created", agent.id, after=agent)
    return json_response(_agent_view(agent), status=201)


@routes.get("/v1/agents/{id}", role="viewer")
@documented(response=Agent, errors=(404,))
async def get_agent(request: web.Request) -> web.Response:
    """One agent."""
    agent, _ = await _own_agent(request)
    return json_response(_agent_view(agent))


@routes.patch("/v1/agents/{id}", role="agent_manager")
@documented(request=AgentPatch, response=Agent, errors=(404, 409))
async def patch_agent(request: web.Request) -> web.Response:
    """Change an agent (only the fields sent)."""
    reg, config = request.app[state.REGISTRY], request.app[state.CONFIG]
    patch = await read_json(request, AgentPatch)
    old, old_raw = await _own_agent(request)
    agent: Agent = apply_patch(old, patch, updated_at=now_iso())
    _check_agent(agent, config)
    await _check_fallback(reg, agent)
    await reg.write_agent(agent, old=old, old_raw=old_raw)
    await audit.note(
        request, agent.organization_id, "agent.updated", agent.id, before=old, after=agent
    )
    return json_response(_agent_view(agent))


@routes.delete("/v1/agents/{id}", role="agent_manager")
@documented(response=Deleted, errors=(404, 409))
async def delete_agent(request: web.Request) -> web.Response:
    """Delete an agent no number is linked to."""
    reg = request.app[state.REGISTRY]
    old, old_raw = await _own_agent(request)
    await reg.write_agent(None, old=old, old_raw=old_raw)
    await audit.note(request, old.organization_id, "agent.deleted", old.id, before=old)
    return json_response({"deleted": True})
