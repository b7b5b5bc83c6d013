"""Prepaid credits: the organization reads its balance and ledger (``GET /v1/credits``), the
operator adds credits or takes some back (``POST /v1/organizations/{id}/credits`` with an
``Idempotency-Key``: a retried request adds once). Amounts are integer cents."""

from __future__ import annotations

from aiohttp import web

from router.api import audit
from router.api.rules import LIST_DEFAULT, LIST_MAX, MAX_TEXT, organization_for
from router.core.credits import MAX_ENTRY_CENTS, CreditAdd, Credits, LedgerEntry, key_problem
from router.core.models import now_iso
from router.errors import Conflict, InsufficientCredits, NotFound, ValidationError
from router.money import dollars
from router.store.ledger import Ledger, Replayed, Short
from router.web import paging, state
from router.web.apidoc import CURSOR, LIMIT, Param, documented
from router.web.auth import principal_of
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()
IDEMPOTENCY = "Idempotency-Key"


def ledger_of(request: web.Request) -> Ledger:
    return Ledger(request.app[state.REDIS])


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get(IDEMPOTENCY)
    if (problem := key_problem(key)) is not None:
        raise ValidationError(f"{IDEMPOTENCY}: {problem}", field=IDEMPOTENCY)
    assert key is not None
    return key


@routes.get("/v1/credits", role="viewer")
@documented(
    response=Credits,
    query=(LIMIT, CURSOR, Param("organizationId", "the operator's choice (default: default)")),
    paged=True,
)
async def get_credits(request: web.Request) -> web.Response:
    """The organization's balance and its ledger, newest first (older entries: the
    ``Link: rel="next"`` header)."""
    org = await organization_for(request, request.query.get("organizationId"))
    limit = paging.limit_of(request, default=LIST_DEFAULT, maximum=LIST_MAX)
    before = paging.stream_cursor_of(request)
    ledger = ledger_of(request)
    entries, more = await ledger.page(org.id, before, limit)
    body = Credits(
        organization_id=org.id, balance_cents=await ledger.balance(org.id), entries=entries
    )
    return paging.paged(json_response(body), request, more)


@routes.post("/v1/organizations/{id}/credits", role="operator")
@documented(request=CreditAdd, response=LedgerEntry, status=201, errors=(402, 404, 409))
async def add_credits(request: web.Request) -> web.Response:
    """Add credits to the organization (a negative amount takes some back, never below
    zero), with an ``Idempotency-Key`` header: the same key again answers the entry it made
    (200) and adds nothing."""
    org_id = request.match_info["id"]
    if await request.app[state.ORGS].find(org_id) is None:
        raise NotFound(f"organization {org_id} not found")
    key = idempotency_key(request)
    body = await read_json(request, CreditAdd)
    if body.amount_cents == 0 or abs(body.amount_cents) > MAX_ENTRY_CENTS:
        raise ValidationError(
            f"amountCents: a whole number of cents, not 0, at most {MAX_ENTRY_CENTS} either way",
            field="amountCents",
        )
    reason = body.reason.strip()
    if not reason or len(reason) > MAX_TEXT:
        raise ValidationError(f"reason: say why, in 1 to {MAX_TEXT} characters", field="reason")
    entry = LedgerEntry(
        organization_id=org_id,
        amount_cents=body.amount_cents,
        kind="credit" if body.amount_cents > 0 else "adjustment",
        reason=reason,
        who=principal_of(request).who,
        at=now_iso(),
        idempotency_key=key,
    )
    try:
        written = await ledger_of(request).write(entry)
    except Replayed as replay:
        earlier = replay.entry
        if (earlier.amount_cents, earlier.reason) != (entry.amount_cents, entry.reason):
            raise Conflict(
                f"{IDEMPOTENCY} {key} was used for another request ({dollars(earlier.amount_cents)}"
                f", {earlier.reason!r}); use a new key for a new request",
                field=IDEMPOTENCY,
            ) from None
        replayed = json_response(earlier)
        replayed.headers["Idempotent-Replayed"] = "true"
        return replayed
    except Short as short:
        raise InsufficientCredits(
            f"amountCents: the balance is {dollars(short.balance_cents)}; taking "
            f"{dollars(-body.amount_cents)} would leave it below zero",
            field="amountCents",
        ) from None
    await audit.note(request, org_id, "credits.added", written.id)
    biller = request.app.get(state.BILLER)
    if biller is not None and written.amount_cents > 0:  # what is owed charged, numbers back
        await biller.bill(org_id)
        written = await ledger_of(request).entry(org_id, written.id) or written
    return json_response(written, status=201)
