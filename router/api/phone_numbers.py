"""``/v1/phone-numbers``: the admin API's phone numbers, shaped like the platform's API.

Every write checks the number rules (docs/http-api.md) and answers ``400 VALIDATION_ERROR``
naming the field; rules that involve other rows (one row per number, a known agent, no deleting
a linked agent) are enforced atomically by the registry. Business verification is
``api.kyb``'s, buying numbers ``api.purchases``'."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from router.api import audit, provisioning, sip_connections
from router.api.rules import LIST_DEFAULT, LIST_MAX, MAX_TEXT, check_policy, organization_for
from router.config import Config
from router.core import template
from router.core.carrier_states import Provisioning
from router.core.models import (
    INBOUND,
    Agent,
    Organization,
    PhoneNumber,
    PhoneNumberImport,
    PhoneNumberPatch,
    PhoneNumberView,
    apply_patch,
    new_id,
    now_iso,
)
from router.core.phone import to_e164
from router.core.readiness import setup_status
from router.errors import ValidationError
from router.store.provisioning import ProvisioningStates
from router.store.registry import Registry
from router.web import paging, state
from router.web.apidoc import CURSOR, LIMIT, documented
from router.web.auth import own, scope_of
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()


class Released(msgspec.Struct):
    released: bool


# ---- rules ----------------------------------------------------------------------------------


def _check_number(row: PhoneNumber) -> None:
    """The single-row number rules (docs/http-api.md), checked on the row as it would be stored."""
    if row.mode is not None and row.source not in ("twilio",):
        raise ValidationError("mode: webhook or sip_trunk is for twilio numbers", field="mode")
    if row.source == "verified_caller_id":
        if row.direction != "outbound":
            raise ValidationError(
                "direction: a verified_caller_id number is outbound-only", field="direction"
            )
        if row.agent_id is not None:
            raise ValidationError(
                "agentId: a verified_caller_id number cannot be bound to an agent",
                field="agentId",
            )
    if row.direction in INBOUND and row.agent_id is None and row.dispatch_metadata_template is None:
        raise ValidationError(
            "agentId: a number that allows inbound calls needs an agentId or a "
            "dispatchMetadataTemplate",
            field="agentId",
        )
    if row.dispatch_metadata_template is not None:
        template.validate(row.dispatch_metadata_template)
    check_policy(
        "overflow", row.overflow, "overflow_agent",
        ("overflowAgentId", row.overflow_agent_id),
        ("overflowTransferTo", row.overflow_transfer_to),
    )  # fmt: skip
    for name in ("label", "sip_provider_name"):
        value = getattr(row, name)
        if value is not None and len(value) > MAX_TEXT:
            field = msgspec.structs.fields(PhoneNumber)
            wire = next(f.encode_name for f in field if f.name == name)
            raise ValidationError(f"{wire}: longer than {MAX_TEXT} characters", field=wire)


_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")
MAX_OVERRIDES = 100


async def _check_overrides(reg: Registry, row: PhoneNumber) -> None:
    """Each override: a ``+digits`` number or prefix, an existing agent, bounded metadata."""
    overrides = row.origin_overrides or []
    if len(overrides) > MAX_OVERRIDES:
        raise ValidationError(f"originOverrides: at most {MAX_OVERRIDES}", field="originOverrides")
    for i, override in enumerate(overrides):
        where = f"originOverrides[{i}]"
        if not _PREFIX.fullmatch(override.match):
            raise ValidationError(
                f"{where}.match: a number or prefix in E.164 form (+ and digits), got "
                f"{override.match!r}",
                field="originOverrides",
            )
        if override.agent_id is not None and not await _agent_of(reg, override.agent_id, row):
            raise ValidationError(
                f"{where}.agentId: agent {override.agent_id} does not exist",
                field="originOverrides",
            )
        if override.metadata is not None:
            try:
                template.validate(override.metadata)
            except ValidationError as exc:
                message = exc.message.replace("dispatchMetadataTemplate", f"{where}.metadata")
                raise ValidationError(message, field="originOverrides") from exc
        if override.agent_id is None and override.metadata is None:
            raise ValidationError(f"{where}: set agentId and/or metadata", field="originOverrides")


async def _agent_of(reg: Registry, agent_id: str, row: PhoneNumber) -> bool:
    """The agent exists in the row's organization (another's reads as missing)."""
    agent = await reg.find_agent(agent_id)
    return agent is not None and agent.organization_id == row.organization_id


async def check_row(reg: Registry, row: PhoneNumber) -> None:
    """A new row's own rules and the agents it names (a purchase's, before it buys)."""
    _check_number(row)
    await _check_link(reg, row)


async def _check_link(reg: Registry, row: PhoneNumber) -> None:
    if row.agent_id is not None and not await _agent_of(reg, row.agent_id, row):
        raise ValidationError(f"agentId: agent {row.agent_id} does not exist", field="agentId")
    other = row.overflow_agent_id
    if other is not None and not await _agent_of(reg, other, row):
        raise ValidationError(
            f"overflowAgentId: agent {other} does not exist", field="overflowAgentId"
        )


# ---- views ----------------------------------------------------------------------------------


def _view(
    row: PhoneNumber,
    agent: Agent | None,
    config: Config,
    landing: PhoneNumber | None,
    provisioned: Provisioning | None = None,
) -> PhoneNumberView:
    return PhoneNumberView(
        **msgspec.structs.asdict(row),
        setup_status=setup_status(
            row, agent, config.default_agent_name, landing, provisioned, dry_run=config.dry_run
        ),
    )


async def _provisioned(request: web.Request, rows: list[PhoneNumber]) -> dict[str, Provisioning]:
    """What provisioning saw at LiveKit for these numbers (when the router provisions)."""
    if request.app[state.CONFIG].provisioning is None:
        return {}
    return await ProvisioningStates(request.app[state.REDIS]).of(rows)


async def one_view(request: web.Request, row: PhoneNumber) -> PhoneNumberView:
    reg, config = request.app[state.REGISTRY], request.app[state.CONFIG]
    agent = await reg.find_agent(row.agent_id) if row.agent_id else None
    provisioned = (await _provisioned(request, [row])).get(row.id)
    return _view(row, agent, config, await reg.landing(row.organization_id), provisioned)


async def _own_number(request: web.Request) -> tuple[PhoneNumber, bytes]:
    """The number named in the path, if it is the caller's organization's (else 404)."""
    number_id = request.match_info["id"]
    row, raw = await request.app[state.REGISTRY].get_number(number_id)
    own(request, row.organization_id, f"phone number {number_id} not found")
    return row, raw


# ---- phone numbers --------------------------------------------------------------------------


@routes.get("/v1/phone-numbers", role="viewer")
@documented(response=list[PhoneNumberView], query=(LIMIT, CURSOR), paged=True)
async def list_numbers(request: web.Request) -> web.Response:
    """Numbers in the order they were imported, a page at a time (``limit``, ``cursor``);
    an organization's key sees its own."""
    reg, config = request.app[state.REGISTRY], request.app[state.CONFIG]
    limit = paging.limit_of(request, default=LIST_DEFAULT, maximum=LIST_MAX)
    scope = scope_of(request)
    rows, more = await reg.page_numbers(paging.cursor_of(request), limit, scope)
    agents = await reg.agents_of({r.agent_id for r in rows if r.agent_id})
    landings = await reg.landings()
    provisioned = await _provisioned(request, rows)
    views = [
        _view(
            r,
            agents.get(r.agent_id or ""),
            config,
            landings.get(r.organization_id),
            provisioned.get(r.id),
        )
        for r in rows
    ]
    return paging.paged(json_response(views), request, more)


async def import_row(
    reg: Registry,
    body: PhoneNumberImport,
    config: Config,
    org: Organization,
    before_write: Callable[[PhoneNumber], Awaitable[PhoneNumber]] | None = None,
) -> PhoneNumber:
    """Validate and store one imported number of ``org``, within its number limit;
    ``before_write`` may still refuse it (a carrier number not on the account)."""
    e164 = to_e164(body.e164, config.default_region)
    if e164 is None:
        raise ValidationError(f"e164: {body.e164!r} is not a valid phone number", field="e164")
    direction = body.direction
    if direction is msgspec.UNSET:
        direction = "outbound" if body.source == "verified_caller_id" else "inbound"
    now = now_iso()
    row = PhoneNumber(
        id=new_id("pn"),
        organization_id=org.id,
        e164=e164,
        source=body.source,
        direction=direction,
        provider_resource_id=body.provider_resource_id,
        sip_connection_installation_id=body.sip_connection_installation_id,
        sip_provider_name=body.sip_provider_name,
        sip_trunk_id=body.sip_trunk_id,
        agent_id=body.agent_id,
        dispatch_metadata_template=body.dispatch_metadata_template,
        label=body.label,
        shared_landing=body.shared_landing,
        origin_overrides=body.origin_overrides,
        mode=body.mode,
        overflow=body.overflow,
        overflow_agent_id=body.overflow_agent_id,
        overflow_transfer_to=body.overflow_transfer_to,
        created_at=now,
        updated_at=now,
    )
    if before_write is not None:  # the carrier account first: it may say what the row is
        row = await before_write(row)
    _check_number(row)
    await _check_link(reg, row)
    await _check_overrides(reg, row)
    await reg.write_number(row, old=None, number_limit=org.number_limit)
    return row


@routes.post("/v1/phone-numbers/import", role="agent_manager")
@documented(
    request=PhoneNumberImport,
    response=PhoneNumberView,
    status=201,
    errors=(402, 409, 502),
)
async def import_number(request: web.Request) -> web.Response:
    """Register a number bought from a carrier (the documented import). A number belongs to
    one organization across the router: a second import of it is 409; past the
    organization's number limit, 402."""
    body = await read_json(request, PhoneNumberImport)
    org = await organization_for(request, body.organization_id)
    inline = await sip_connections.inline_connection(request, body, org.id)
    if inline is not None:
        body = msgspec.structs.replace(body, sip_connection_installation_id=inline.id)

    async def before_write(row: PhoneNumber) -> PhoneNumber:
        await sip_connections.check_connection(request, row)
        return await provisioning.check_import(request, row)

    try:
        row = await import_row(
            request.app[state.REGISTRY], body, request.app[state.CONFIG], org, before_write
        )
    except Exception:
        if inline is not None:  # the number refused: its connection goes too
            await sip_connections.forget(request, inline)
        raise
    await provisioning.number_written(request, None, row)
    await audit.note(request, org.id, "phone_number.imported", row.id, after=row)
    return json_response(await one_view(request, row), status=201)


@routes.get("/v1/phone-numbers/{id}", role="viewer")
@documented(response=PhoneNumberView, errors=(404,))
async def get_number(request: web.Request) -> web.Response:
    """One number with its setup status."""
    row, _ = await _own_number(request)
    return json_response(await one_view(request, row))


@routes.patch("/v1/phone-numbers/{id}", role="agent_manager")
@documented(request=PhoneNumberPatch, response=PhoneNumberView, errors=(404, 409))
async def patch_number(request: web.Request) -> web.Response:
    """Change a number's routing (only the fields sent)."""
    reg = request.app[state.REGISTRY]
    patch = await read_json(request, PhoneNumberPatch)
    old, old_raw = await _own_number(request)
    row: PhoneNumber = apply_patch(old, patch, updated_at=now_iso())
    if row.sip_connection_installation_id != old.sip_connection_installation_id:
        await sip_connections.check_connection(request, row)
    if row.sip_trunk_id != old.sip_trunk_id:
        await provisioning.check_trunk(request, row)
    _check_number(row)
    await _check_link(reg, row)
    await _check_overrides(reg, row)
    await reg.write_number(row, old=old, old_raw=old_raw)
    await provisioning.number_written(request, old, row)
    await audit.note(
        request, row.organization_id, "phone_number.updated", row.id, before=old, after=row
    )
    return json_response(await one_view(request, row))


@routes.delete("/v1/phone-numbers/{id}", role="agent_manager")
@documented(response=Released, errors=(404,))
async def delete_number(request: web.Request) -> web.Response:
    """Release a number from the router."""
    reg = request.app[state.REGISTRY]
    old, old_raw = await _own_number(request)
    if not await provisioning.release_bought(request, old):
        await reg.write_number(None, old=old, old_raw=old_raw)
        await provisioning.number_written(request, old, None)
    await audit.note(request, old.organization_id, "phone_number.released", old.id, before=old)
    return json_response({"released": True})
