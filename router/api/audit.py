"""The audit log over the admin API: ``note`` is called by every handler that writes, and
``GET /v1/audit`` reads an organization's log (an organization's ``admin`` key: its own; the
operator: any, with ``organizationId``).

What changed is kept for the fields that decide where calls go (a number's agent, direction,
template, overrides...; an agent's name, prompt, tools, webhook URLs; an organization's limit;
a key's name and role). Secrets never enter it: webhook secrets are masked, keys are never
there (only their ids).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from router.core.models import now_iso
from router.errors import ValidationError
from router.store.audit import AuditEntry, AuditLog, Change
from router.web import paging, state
from router.web.apidoc import CURSOR, LIMIT, Param, documented
from router.web.auth import principal_of, scope_of
from router.web.httpapi import json_response
from router.web.routing import Routes

routes = Routes()
OPERATOR_LOG = "_operator"  # the operator's writes that belong to no one organization
AUDITED = {
    "phone_number": (
        "e164", "source", "direction", "agentId", "dispatchMetadataTemplate", "originOverrides",
        "sharedLanding", "sipTrunkId", "sipConnectionInstallationId", "label",
    ),
    "agent": (
        "name", "livekitAgentName", "prompt", "routingIntent", "providerPreferences", "tools",
        "webhooks",
    ),
    "organization": ("name", "numberLimit"),
    "api_key": ("name", "role"),
    # The row never holds a password or PIN (only passwordSet / pinSet): nothing to mask.
    "sip_connection": ("name", "sipProviderName", "inbound", "outbound"),
}  # fmt: skip


def _masked(value: Any) -> Any:
    """Webhook secrets (any ``secret`` key, at any depth) shown as ``***``."""
    if isinstance(value, dict):
        return {k: ("***" if k == "secret" else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _changes(kind: str, before: Any, after: Any) -> dict[str, Change]:
    old = _masked(msgspec.to_builtins(before)) if before is not None else {}
    new = _masked(msgspec.to_builtins(after)) if after is not None else {}
    return {
        field: Change(before=old.get(field), after=new.get(field))
        for field in AUDITED[kind]
        if old.get(field) != new.get(field)
    }


async def note(
    request: web.Request,
    organization: str | None,
    action: str,
    resource: str,
    *,
    before: Any = None,
    after: Any = None,
) -> None:
    """Record one write (``action``: ``<kind>.<verb>``) in the organization's log."""
    who = principal_of(request)
    kind = action.partition(".")[0]
    entry = AuditEntry(
        at=now_iso(),
        who=who.who,
        role=who.role,
        action=action,
        resource=resource,
        changes=_changes(kind, before, after) if kind in AUDITED else {},
    )
    await request.app[state.AUDIT].add(organization or OPERATOR_LOG, entry)


@routes.get("/v1/audit", role="admin")
@documented(
    response=list[AuditEntry],
    query=(
        LIMIT,
        CURSOR,
        Param("organizationId", "the operator's choice of log (default: default)"),
    ),
    paged=True,
)
async def audit_log(request: web.Request) -> web.Response:
    """The organization's writes, newest first: who, what, when, and what changed."""
    scope = scope_of(request)
    asked = request.query.get("organizationId")
    if scope is not None and asked not in (None, scope):
        raise ValidationError(
            "organizationId: an organization's key reads its own log", field="organizationId"
        )
    org = scope or asked or "default"
    limit = paging.limit_of(request, default=50, maximum=500)
    before = paging.stream_cursor_of(request)
    log: AuditLog = request.app[state.AUDIT]
    entries, more = await log.page(org, before, limit)
    return paging.paged(json_response(entries), request, more)
