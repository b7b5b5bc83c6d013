"""``/v1/sip-connections``: a customer's own SIP trunk, both directions (the reference's "SIP
connection"), in an organization: created, read, changed field by field and deleted.

A number names its connection (``check_connection``), or the import makes one inline
(``inline_connection``, the reference's peer form). Passwords and the PIN are write-only: kept
encrypted apart from the row (``ROUTER_SECRETS_KEY`` is needed to give any), never answered,
logged or audited — the row says ``passwordSet`` / ``pinSet``. A connection numbers still use
cannot be deleted (409 naming them).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from router.api import audit, provisioning
from router.api.rules import organization_for
from router.core.models import PhoneNumber, PhoneNumberImport, new_id, now_iso
from router.core.sip_connections import (
    InboundSettings,
    OutboundSettings,
    Secrets,
    SipConnection,
    SipConnectionCreate,
    SipConnectionPatch,
    build,
    patched,
)
from router.errors import Conflict, NotFound, NotImplementedHere, ValidationError
from router.store.sip_connections import SipConnections
from router.web import state
from router.web.apidoc import documented
from router.web.auth import own, scope_of
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()
MAX_NAMED = 10  # numbers a refused delete names


class Deleted(msgspec.Struct):
    deleted: bool


def _store(request: web.Request) -> SipConnections:
    return request.app[state.SIP_CONNECTIONS]


async def own_connection(request: web.Request, connection_id: str) -> SipConnection:
    """The connection, if it is the caller's organization's (else 404, as everywhere)."""
    row = await _store(request).get(connection_id)
    own(request, row.organization_id, f"SIP connection {connection_id} not found")
    return row


def _keepable(request: web.Request, secrets: Secrets) -> None:
    if secrets != Secrets() and not _store(request).keeps_secrets:
        raise NotImplementedHere(
            "a SIP connection's passwords and PIN are kept encrypted: set ROUTER_SECRETS_KEY "
            "(Fernet keys) to give them"
        )


@routes.post("/v1/sip-connections", role="admin")
@documented(request=SipConnectionCreate, response=SipConnection, status=201, errors=(501,))
async def create_connection(request: web.Request) -> web.Response:
    """A SIP connection in the organization (a key's own; the operator's choice with
    ``organizationId``)."""
    body = await read_json(request, SipConnectionCreate)
    org = await organization_for(request, body.organization_id)
    return json_response(await create(request, body, org.id), status=201)


async def create(request: web.Request, body: SipConnectionCreate, org: str) -> SipConnection:
    """A new connection of ``org``, every rule checked, kept and audited."""
    row, secrets = build(body, new_id("sc"), org, now_iso())
    _keepable(request, secrets)
    await _store(request).save(row, secrets)
    await audit.note(request, org, "sip_connection.created", row.id, after=row)
    return row


async def forget(request: web.Request, row: SipConnection) -> None:
    """Delete a connection made for an import that was then refused (nothing half-made)."""
    await _store(request).delete(row)
    await audit.note(request, row.organization_id, "sip_connection.deleted", row.id, before=row)


# ---- the connection a number is imported onto ------------------------------------------------

_INLINE_FIELDS = {"name": "sipTrunkName", "inbound": "sipUsername", "outbound": "sipServerAddress"}


async def inline_connection(
    request: web.Request, body: PhoneNumberImport, org: str
) -> SipConnection | None:
    """The reference's inline form: a SIP connection made for the number in the same request
    (the credentials serve both ways; an outbound side when a server address is given)."""
    if not body.inline_connection:
        return None
    if body.sip_connection_installation_id is not None:
        raise ValidationError(
            "sipConnectionInstallationId: give a connection, or the inline SIP fields "
            "(sipUsername, sipServerAddress, …) to make one, not both",
            field="sipConnectionInstallationId",
        )
    settings = SipConnectionCreate(
        name=body.sip_trunk_name or f"{body.e164} trunk",
        inbound=InboundSettings(
            username=body.sip_username,
            password=body.sip_password,
            pin=body.inbound_pin,
            media_encryption=body.media_encryption or "allow",
        ),
        outbound=(
            OutboundSettings(
                address=body.sip_server_address,
                username=body.sip_username,
                password=body.sip_password,
            )
            if body.sip_server_address
            else None
        ),
    )
    try:
        return await create(request, settings, org)
    except ValidationError as exc:
        field = _INLINE_FIELDS.get(exc.field or "", exc.field)
        raise ValidationError(exc.message, field=field) from exc


async def check_connection(request: web.Request, row: PhoneNumber) -> None:
    """``sipConnectionInstallationId`` names one of the organization's SIP connections: an
    unknown one is a 400 naming the field, another organization's a 404 (as everywhere)."""
    connection_id = row.sip_connection_installation_id
    if connection_id is None:
        return
    field = "sipConnectionInstallationId"
    found = await request.app[state.SIP_CONNECTIONS].find(connection_id)
    if found is None:
        raise ValidationError(
            f"{field}: no SIP connection {connection_id}: create it with "
            "POST /v1/sip-connections, or leave the field out",
            field=field,
        )
    if found.organization_id != row.organization_id:
        raise NotFound(f"{field}: SIP connection {connection_id} not found", field=field)


@routes.get("/v1/sip-connections", role="viewer")
@documented(response=list[SipConnection])
async def list_connections(request: web.Request) -> web.Response:
    """The organization's SIP connections, oldest first (the operator: every organization's)."""
    return json_response(await _store(request).of(scope_of(request)))


@routes.get("/v1/sip-connections/{id}", role="viewer")
@documented(response=SipConnection, errors=(404,))
async def get_connection(request: web.Request) -> web.Response:
    """One SIP connection (never its passwords)."""
    return json_response(await own_connection(request, request.match_info["id"]))


@routes.patch("/v1/sip-connections/{id}", role="admin")
@documented(request=SipConnectionPatch, response=SipConnection, errors=(404, 501))
async def patch_connection(request: web.Request) -> web.Response:
    """Change a connection field by field (``null`` clears; ``outbound: null`` removes the
    outbound side); every rule is checked on the result."""
    change = await read_json(request, SipConnectionPatch)
    store = _store(request)
    row = await own_connection(request, request.match_info["id"])
    new, secrets = patched(row, await store.secrets(row.id), change, now_iso())
    _keepable(request, secrets)
    await store.save(new, secrets)
    await provisioning.connection_changed(request, new)
    await audit.note(
        request, row.organization_id, "sip_connection.updated", row.id, before=row, after=new
    )
    return json_response(new)


@routes.delete("/v1/sip-connections/{id}", role="admin")
@documented(response=Deleted, errors=(404, 409))
async def delete_connection(request: web.Request) -> web.Response:
    """Delete a connection no number uses (409 names the numbers that still do)."""
    row = await own_connection(request, request.match_info["id"])
    users = await request.app[state.REGISTRY].numbers_of(row.organization_id, row.id)
    if users:
        named = ", ".join(n.e164 for n in users[:MAX_NAMED])
        more = f" and {len(users) - MAX_NAMED} more" if len(users) > MAX_NAMED else ""
        raise Conflict(
            f"SIP connection {row.id} is used by {named}{more}: release them or move them to "
            "another connection first"
        )
    await _store(request).delete(row)
    await audit.note(request, row.organization_id, "sip_connection.deleted", row.id, before=row)
    return json_response(Deleted(deleted=True))
