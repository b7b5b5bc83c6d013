"""Organizations and their API keys under ``/v1/organizations`` (docs/organizations.md).

Organizations are the operator's (``ROUTER_ADMIN_TOKEN``): created, renamed, given a number
limit, deleted once empty. Each has API keys, made and revoked by the operator or by the
organization's own ``admin`` keys; a key is shown once, at creation, and kept only as a hash.
Another organization's organization or key answers 404, as if it did not exist.
"""

from __future__ import annotations

import base64
import binascii

import msgspec
from aiohttp import web

from router import logs
from router.api import audit, provisioning
from router.core.models import (
    MAX_CONCURRENT_CALLS,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    Organization,
    OrganizationCreate,
    OrganizationPatch,
    apply_patch,
    new_id,
    now_iso,
)
from router.core.sip_connections import canonical_addresses
from router.errors import CredentialsUnreadable, NotFound, ValidationError
from router.store.integrations import (
    Carrier,
    Credentials,
    Integrations,
    TelnyxCredentials,
    TwilioCredentials,
)
from router.web import state
from router.web.apidoc import documented
from router.web.auth import own
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

log = logs.get(__name__)
routes = Routes()
MAX_NUMBER_LIMIT = 1_000_000
_MAX_NAME = 200


class Revoked(msgspec.Struct):
    revoked: bool


class Removed(msgspec.Struct):
    deleted: bool


def _check(org: Organization) -> Organization:
    """The organization as stored: every rule checked, addresses in canonical form."""
    if not org.name.strip() or len(org.name) > _MAX_NAME:
        raise ValidationError(f"name: 1 to {_MAX_NAME} characters", field="name")
    if not 0 <= org.number_limit <= MAX_NUMBER_LIMIT:
        raise ValidationError(f"numberLimit: 0 to {MAX_NUMBER_LIMIT}", field="numberLimit")
    limit = org.max_concurrent_calls
    if limit is not None and not 1 <= limit <= MAX_CONCURRENT_CALLS:
        raise ValidationError(
            f"maxConcurrentCalls: 1 to {MAX_CONCURRENT_CALLS}, or null for none",
            field="maxConcurrentCalls",
        )
    addresses = canonical_addresses(org.sip_allowed_addresses, "sipAllowedAddresses")
    return msgspec.structs.replace(org, sip_allowed_addresses=addresses)


def _org_id(request: web.Request) -> str:
    """The organization in the path, if the caller may see it (else 404)."""
    org_id = request.match_info["id"]
    own(request, org_id, f"organization {org_id} not found")
    return org_id


@routes.get("/v1/organizations", role="operator")
@documented(response=list[Organization])
async def list_organizations(request: web.Request) -> web.Response:
    """Every organization (the operator's view)."""
    return json_response(await request.app[state.ORGS].all())


@routes.post("/v1/organizations", role="operator")
@documented(request=OrganizationCreate, response=Organization, status=201)
async def create_organization(request: web.Request) -> web.Response:
    """Create an organization (default number limit: 100)."""
    body = await read_json(request, OrganizationCreate)
    now = now_iso()
    org = Organization(
        id=new_id("org"),
        name=body.name,
        number_limit=body.number_limit,
        sip_allowed_addresses=body.sip_allowed_addresses,
        created_at=now,
        updated_at=now,
    )
    org = _check(org)
    await request.app[state.ORGS].save(org, create=True)
    await audit.note(request, org.id, "organization.created", org.id, after=org)
    return json_response(org, status=201)


@routes.get("/v1/organizations/{id}", role="viewer")
@documented(response=Organization, errors=(404,))
async def get_organization(request: web.Request) -> web.Response:
    """One organization (an organization's key: its own)."""
    return json_response(await request.app[state.ORGS].get(_org_id(request)))


@routes.patch("/v1/organizations/{id}", role="operator")
@documented(request=OrganizationPatch, response=Organization, errors=(404,))
async def patch_organization(request: web.Request) -> web.Response:
    """Rename an organization, change its number limit, or the addresses its carrier sends
    SIP from (``sipAllowedAddresses``: its managed LiveKit trunk follows at once)."""
    orgs = request.app[state.ORGS]
    patch = await read_json(request, OrganizationPatch)
    old = await orgs.get(request.match_info["id"])
    org: Organization = _check(apply_patch(old, patch, updated_at=now_iso()))
    await orgs.save(org, create=False)
    if org.sip_allowed_addresses != old.sip_allowed_addresses:
        await provisioning.organization_changed(request, org)
    await audit.note(request, org.id, "organization.updated", org.id, before=old, after=org)
    return json_response(org)


@routes.delete("/v1/organizations/{id}", role="operator")
@documented(response=Removed, errors=(404, 409))
async def delete_organization(request: web.Request) -> web.Response:
    """Delete an organization that holds no numbers or agents (its keys go with it)."""
    org_id = request.match_info["id"]
    old = await request.app[state.ORGS].get(org_id)
    await request.app[state.ORGS].delete(org_id)
    await audit.note(request, org_id, "organization.deleted", org_id, before=old)
    return json_response(Removed(deleted=True))


@routes.post("/v1/organizations/{id}/api-keys", role="admin")
@documented(request=ApiKeyCreate, response=ApiKeyCreated, status=201, errors=(404,))
async def create_api_key(request: web.Request) -> web.Response:
    """A new API key of the organization, with its role; the key is shown this once."""
    org_id = _org_id(request)
    body = await read_json(request, ApiKeyCreate)
    if not body.name.strip() or len(body.name) > _MAX_NAME:
        raise ValidationError(f"name: 1 to {_MAX_NAME} characters", field="name")
    row, secret = await request.app[state.ORGS].create_key(org_id, body.name, body.role)
    await audit.note(request, org_id, "api_key.created", row.id, after=row)
    shown = ApiKeyCreated(**msgspec.structs.asdict(row), key=secret)
    return json_response(shown, status=201)


@routes.get("/v1/organizations/{id}/api-keys", role="admin")
@documented(response=list[ApiKey], errors=(404,))
async def list_api_keys(request: web.Request) -> web.Response:
    """The organization's keys (their prefixes and roles, never the keys)."""
    org_id = _org_id(request)
    await request.app[state.ORGS].get(org_id)
    return json_response(await request.app[state.ORGS].keys_of(org_id))


@routes.delete("/v1/organizations/{id}/api-keys/{keyId}", role="admin")
@documented(response=Revoked, errors=(404,))
async def revoke_api_key(request: web.Request) -> web.Response:
    """Revoke a key: refused by every web process within a second."""
    org_id = _org_id(request)
    key_id = request.match_info["keyId"]
    await request.app[state.ORGS].revoke_key(org_id, key_id)
    await audit.note(request, org_id, "api_key.revoked", key_id)
    return json_response(Revoked(revoked=True))


# ---- carrier integrations ---------------------------------------------------------------------


class IntegrationView(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A carrier's credentials as the API shows them: set or not, never a secret."""

    carrier: str
    configured: bool
    account_sid: str | None = None  # Twilio's account (not a secret)
    connection_id: str | None = None  # Telnyx's application the numbers are pointed at
    public_key: str | None = None  # Telnyx's webhook public key (not a secret)
    issue: str | None = None  # stored, but unreadable: why, and what to do


class CredentialsBody(msgspec.Struct, rename="camel", kw_only=True):
    """For the document: Twilio takes accountSid and authToken, Telnyx apiKey (each body is
    checked as exactly its carrier's)."""

    account_sid: str | None = None
    auth_token: str | None = None
    api_key: str | None = None
    connection_id: str | None = None
    public_key: str | None = None


def _integrations(request: web.Request) -> Integrations:
    return state.required(
        request, state.INTEGRATIONS,
        "carrier credentials are kept encrypted with ROUTER_SECRETS_KEY, which is not set: "
        "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
        ".decode())'",
    )  # fmt: skip


def _carrier(request: web.Request) -> Carrier:
    match request.match_info["carrier"]:
        case "twilio":
            return "twilio"
        case "telnyx":
            return "telnyx"
        case other:
            raise NotFound(f"no integration {other!r}: twilio or telnyx")


def _view(carrier: str, found: Credentials | None) -> IntegrationView:
    sid = found.account_sid if isinstance(found, TwilioCredentials) else None
    telnyx = found if isinstance(found, TelnyxCredentials) else None
    return IntegrationView(
        carrier=carrier,
        configured=found is not None,
        account_sid=sid,
        connection_id=telnyx.connection_id if telnyx else None,
        public_key=telnyx.public_key if telnyx else None,
    )


def _check_public_key(value: str | None) -> None:
    """A Telnyx account's webhook public key: base64 of a 32-byte ed25519 key."""
    if value is None:
        return
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValidationError(
            "publicKey: the account's webhook public key, base64 of 32 bytes (Mission Control "
            "Portal: Keys & Credentials, Public Key)",
            field="publicKey",
        )


@routes.get("/v1/organizations/{id}/integrations", role="admin")
@documented(response=list[IntegrationView], errors=(404, 501))
async def list_integrations(request: web.Request) -> web.Response:
    """Which carriers' credentials the organization has given (never the secrets)."""
    org_id = _org_id(request)
    await request.app[state.ORGS].get(org_id)
    store = _integrations(request)
    views = []
    for carrier in ("twilio", "telnyx"):
        try:
            views.append(_view(carrier, await store.get(org_id, carrier)))
        except CredentialsUnreadable as exc:  # the list still answers, naming the one
            log.warning("integration_unreadable", organization=org_id, carrier=carrier)
            views.append(IntegrationView(carrier=carrier, configured=True, issue=exc.message))
    return json_response(views)


@routes.put("/v1/organizations/{id}/integrations/{carrier}", role="admin")
@documented(
    request=CredentialsBody,
    response=IntegrationView,
    errors=(404, 501),
)
async def save_integration(request: web.Request) -> web.Response:
    """Give a carrier's credentials (Twilio: accountSid + authToken; Telnyx: apiKey), kept
    encrypted at rest and never shown again."""
    org_id = _org_id(request)
    carrier = _carrier(request)
    await request.app[state.ORGS].get(org_id)
    kind = TwilioCredentials if carrier == "twilio" else TelnyxCredentials
    credentials: Credentials = await read_json(request, kind)
    if isinstance(credentials, TelnyxCredentials):
        _check_public_key(credentials.public_key)
    credentials = await provisioning.prepare_integration(request, carrier, org_id, credentials)
    await _integrations(request).save(org_id, carrier, credentials)
    await audit.note(request, org_id, "integration.saved", carrier)
    return json_response(_view(carrier, credentials))


@routes.delete("/v1/organizations/{id}/integrations/{carrier}", role="admin")
@documented(response=Removed, errors=(404, 501))
async def delete_integration(request: web.Request) -> web.Response:
    """Forget a carrier's credentials."""
    org_id = _org_id(request)
    carrier = _carrier(request)
    if not await _integrations(request).forget(org_id, carrier):
        raise NotFound(f"no {carrier} integration for organization {org_id}")
    await audit.note(request, org_id, "integration.deleted", carrier)
    return json_response(Removed(deleted=True))
