"""Buying managed numbers: ``GET /v1/phone-numbers/available`` (the reference's search:
``areaCode``, ``locality``, ``limit``) and ``POST /v1/phone-numbers`` (buy one from a recent
search, with an ``Idempotency-Key``: a retried request never buys or charges twice). Each
refusal names what is missing: ``KYB_REQUIRED`` and ``INSUFFICIENT_CREDITS`` (402),
``PURCHASE_LIMIT`` and ``NOT_OFFERED`` (422), ``NUMBER_UNAVAILABLE`` (409, the provider's
words). The purchase itself is ``provisioning.purchases``'."""

from __future__ import annotations

from aiohttp import web

from router.api import audit
from router.api.credits import idempotency_key
from router.api.phone_numbers import check_row, one_view
from router.api.rules import organization_for
from router.core.managed import (
    AREA_CODE,
    MAX_LOCALITY,
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
    AvailableNumber,
    Order,
    PurchaseRequest,
)
from router.core.models import PhoneNumber, PhoneNumberView, now_iso
from router.core.phone import to_e164
from router.errors import ApiError, Conflict, RemoteRefusal, ValidationError
from router.provisioning.purchases import Purchaser
from router.store.purchases import order_key
from router.web import paging, state
from router.web.apidoc import Param, documented
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()


def _purchaser(request: web.Request) -> Purchaser:
    return state.required(
        request, state.PURCHASER,
        "buying numbers needs a provider (ROUTER_MANAGED_PROVIDERS) and provisioning "
        "(LIVEKIT_URL): import numbers you own with POST /v1/phone-numbers/import",
    )  # fmt: skip


@routes.get("/v1/phone-numbers/available", role="viewer")
@documented(
    response=list[AvailableNumber],
    query=(
        Param("areaCode", "three digits", {"type": "string", "pattern": r"^\d{3}$"}),
        Param("locality", "a city"),
        Param("limit", "1 to 50 (default 10)", {"type": "integer", "minimum": 1, "maximum": 50}),
    ),
    errors=(501, 502),
)
async def search(request: web.Request) -> web.Response:
    """US numbers the providers can sell now, with the operator's prices; buyable for 15
    minutes by the organization that searched."""
    area_code = request.query.get("areaCode") or None
    if area_code is not None and not AREA_CODE.match(area_code):
        raise ValidationError("areaCode: three digits, e.g. 415", field="areaCode")
    locality = (request.query.get("locality") or "").strip() or None
    if locality is not None and len(locality) > MAX_LOCALITY:
        raise ValidationError(f"locality: at most {MAX_LOCALITY} characters", field="locality")
    limit = paging.limit_of(request, default=SEARCH_LIMIT_DEFAULT, maximum=SEARCH_LIMIT_MAX)
    org = await organization_for(request, request.query.get("organizationId"))
    found = await _purchaser(request).search(org.id, area_code, locality, limit)
    return json_response(found)


@routes.post("/v1/phone-numbers", role="admin")
@documented(
    request=PurchaseRequest, response=PhoneNumberView, status=201,
    errors=(402, 409, 422, 501, 502),
)  # fmt: skip
async def buy(request: web.Request) -> web.Response:
    """Buy a number from a recent search (``Idempotency-Key`` required): charged its setup
    price and first month from the organization's credits, provisioned as an import is."""
    purchaser = _purchaser(request)
    key = idempotency_key(request)
    body = await read_json(request, PurchaseRequest)
    org = await organization_for(request, body.organization_id)
    e164 = to_e164(body.e164, "US")
    if e164 is None:
        raise ValidationError(f"e164: {body.e164!r} is not a valid phone number", field="e164")
    now = now_iso()
    prospective = PhoneNumber(
        id="", organization_id=org.id, e164=e164, source="managed", direction=body.direction,
        agent_id=body.agent_id, dispatch_metadata_template=body.dispatch_metadata_template,
        label=body.label, created_at=now, updated_at=now,
    )  # fmt: skip
    await check_row(request.app[state.REGISTRY], prospective)
    order, new = await purchaser.start(org, key, body, e164)
    if not new and (order.e164, order.organization_id) != (e164, org.id):
        raise Conflict(
            f"Idempotency-Key {key} bought {order.e164} before; use a new key for a new purchase",
            field="Idempotency-Key",
        )
    if order.state not in ("done", "failed", "refunded"):  # new, or left half-way
        order = await purchaser.run(order_key(org.id, key))
    return await _answer(request, order, new)


async def _answer(request: web.Request, order: Order, new: bool) -> web.Response:
    """The bought row; or the order's refusal, as the first attempt gave it."""
    if order.state in ("failed", "refunded"):
        status = {"INSUFFICIENT_CREDITS": 402, "NUMBER_UNAVAILABLE": 409, "LIMIT_REACHED": 402}
        error = ApiError(order.error or "the purchase failed", code=order.error_code)
        error.status = status.get(order.error_code or "", 409)
        raise error
    if order.state not in ("done", "ordered"):  # ordered: the row says it waits
        raise RemoteRefusal(
            f"the provider did not answer ({order.error}); nothing is lost and nothing is "
            "charged twice: retry with the same Idempotency-Key"
        )
    row, _ = await request.app[state.REGISTRY].get_number(order.row_id)
    if new:
        await audit.note(request, order.organization_id, "phone_number.bought", order.row_id)
    answer = json_response(await one_view(request, row), status=201 if new else 200)
    if not new:
        answer.headers["Idempotent-Replayed"] = "true"
    return answer
