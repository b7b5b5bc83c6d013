"""``POST /v1/provisioning/reconcile``, and the provisioning steps the other ``/v1`` handlers
take after their writes — each a no-op when the router does not provision (LiveKit not
configured, or ``ROUTER_PROVISIONING=off``)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from router.core.models import Organization, PhoneNumber
from router.core.sip_connections import SipConnection
from router.errors import RemoteRefusal
from router.provisioning.reconcile import Report
from router.store.integrations import Credentials
from router.web import state
from router.web.apidoc import documented
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()


class ReconcileRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    fix: bool = False


async def check_import(request: web.Request, row: PhoneNumber) -> PhoneNumber:
    """The row as it will be stored, once its carrier account has been asked."""
    provisioner = request.app.get(state.PROVISIONER)
    return row if provisioner is None else await provisioner.check_import(row)


async def check_trunk(request: web.Request, row: PhoneNumber) -> None:
    """The LiveKit inbound trunk the row names exists (when the router speaks to LiveKit)."""
    provisioner = request.app.get(state.PROVISIONER)
    if provisioner is not None:
        await provisioner.check_trunk(row)


async def release_bought(request: web.Request, row: PhoneNumber) -> bool:
    """A bought number given back to its provider and deleted (True); False: not one the
    router bought. A provider's refusal keeps the row ``releasing`` and is a 502 in its
    words (the next reconcile tries again)."""
    biller = request.app.get(state.BILLER)
    billing = await biller.purchaser.purchases.billing(row.id) if biller is not None else None
    if biller is None or billing is None:
        return False
    if not await biller.release(billing, row):
        refused = await biller.purchaser.purchases.billing(row.id)
        raise RemoteRefusal(
            f"the provider has not taken {row.e164} back yet: "
            f"{refused.release_error if refused else 'refused'}; the number stays until it "
            "does (the next reconcile tries again)"
        )
    return True


async def prepare_integration(
    request: web.Request, carrier: str, org: str, credentials: Credentials
) -> Credentials:
    """A carrier integration as it will be kept (a Telnyx one: its application verified on
    its account, or made there), when the router provisions carriers."""
    provisioner = request.app.get(state.PROVISIONER)
    side = provisioner.carriers.get(carrier) if provisioner is not None else None
    return credentials if side is None else await side.prepare(org, credentials)


async def organization_changed(request: web.Request, org: Organization) -> None:
    """After an organization's allowed addresses changed: its LiveKit trunk follows."""
    provisioner = request.app.get(state.PROVISIONER)
    if provisioner is not None:
        await provisioner.addresses_changed(org.id)


async def connection_changed(request: web.Request, connection: SipConnection) -> None:
    """After a SIP connection's settings changed: its LiveKit trunk follows."""
    provisioner = request.app.get(state.PROVISIONER)
    if provisioner is not None:
        await provisioner.connection_changed(connection)


async def number_written(
    request: web.Request, old: PhoneNumber | None, new: PhoneNumber | None
) -> None:
    """After a number's write: its LiveKit and carrier sides, when the router provisions."""
    provisioner = request.app.get(state.PROVISIONER)
    if provisioner is not None:
        await provisioner.number_written(old, new)


@routes.post("/v1/provisioning/reconcile", role="operator")
@documented(request=ReconcileRequest, response=Report, errors=(501,))
async def reconcile(request: web.Request) -> web.Response:
    """Compare every organization's numbers with LiveKit; repair the drift with ``fix``."""
    body = await read_json(request, ReconcileRequest)
    reconciler = state.required(
        request, state.RECONCILER,
        "provisioning is off: set LIVEKIT_URL (and leave ROUTER_PROVISIONING on)",
    )  # fmt: skip
    return json_response(await reconciler.reconcile(fix=body.fix))
