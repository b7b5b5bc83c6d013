"""Business verification (KYB) before buying a managed US number: the reference's
``GET /v1/phone-numbers/kyb``, ``PUT /v1/phone-numbers/kyb/draft`` and
``POST /v1/phone-numbers/kyb/submit`` for the organization (a key's own; the operator's choice
with ``?organizationId=``), and the operator's review
(``POST /v1/organizations/{id}/kyb/review``). A submission tells the operations team through
the operator's Slack webhook (``ROUTER_SLACK_WEBHOOK_URL``), delivered by the workers.

The profile is personal data: it is answered to the organization and the operator only, and
the audit log records that it changed, never its contents.
"""

from __future__ import annotations

import hashlib

import msgspec
from aiohttp import web

from router.api import audit
from router.api.rules import organization_for
from router.core.kyb import (
    BusinessProfile,
    KybDraft,
    KybReview,
    KybSubmission,
    KybView,
    Prefill,
    Representative,
    drafted,
    reviewed,
    submitted,
)
from router.core.models import Organization, new_id, now_iso
from router.core.phone import region_of
from router.errors import NotFound
from router.store.kyb import Kyb, SlackState
from router.store.notifications import Notification, enqueue
from router.web import state
from router.web.apidoc import documented
from router.web.auth import own
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()


def _store(request: web.Request) -> Kyb:
    return Kyb(request.app[state.REDIS])


async def _organization(request: web.Request) -> Organization:
    return await organization_for(request, request.query.get("organizationId"))


async def _current(request: web.Request, org: Organization) -> KybSubmission:
    found = await _store(request).get(org.id)
    if found is not None:
        return found
    now = now_iso()
    return KybSubmission(id=new_id("kyb"), organization_id=org.id, created_at=now, updated_at=now)


async def _prefill(request: web.Request, org: Organization) -> Prefill:
    """What the organization already told us: its name, and the country of its numbers."""
    rows = await request.app[state.REGISTRY].numbers_of(org.id)
    countries = [c for c in (region_of(r.e164) for r in rows) if c]
    country = max(set(countries), key=countries.count) if countries else None
    return Prefill(
        business_profile=BusinessProfile(
            legal_name=org.name, display_name=org.name, country=country
        ),
        authorized_representative=Representative(),
    )


@routes.get("/v1/phone-numbers/kyb", role="viewer")
@documented(response=KybView)
async def get_kyb(request: web.Request) -> web.Response:
    """The organization's business verification: its status (``missing`` until a draft is
    saved), the submission, and a prefill from what the organization already told us."""
    org = await _organization(request)
    found = await _store(request).get(org.id)
    return json_response(
        KybView(
            status=found.status if found is not None else "missing",
            submission=found,
            prefill=await _prefill(request, org),
        )
    )


@routes.put("/v1/phone-numbers/kyb/draft", role="admin")
@documented(request=KybDraft, response=KybSubmission, errors=(409,))
async def save_draft(request: web.Request) -> web.Response:
    """Save any part of the profile (each field checked as it comes); 409 once submitted or
    approved."""
    body = await read_json(request, KybDraft)
    org = await _organization(request)
    row = drafted(await _current(request, org), body, now_iso())
    await _store(request).save(row)
    await audit.note(request, org.id, "kyb.draft_saved", row.id)
    return json_response(row)


@routes.post("/v1/phone-numbers/kyb/submit", role="admin")
@documented(request=KybDraft, response=KybSubmission, errors=(409,))
async def submit(request: web.Request) -> web.Response:
    """Submit the profile (the body's fields put in first) for the operator's review: every
    missing field is named, ``attestationAccepted`` must be true; the operations team is
    told (``slackNotificationStatus``)."""
    body = await read_json(request, KybDraft)
    org = await _organization(request)
    now = now_iso()
    row = submitted(drafted(await _current(request, org), body, now), now)
    store = _store(request)
    if request.app[state.CONFIG].slack_webhook_url is None:
        slack = SlackState(status="not_queued")
    else:
        digest = hashlib.sha256(f"{row.id}|{now}".encode()).hexdigest()[:24]
        slack = SlackState(status="queued", job_id=f"job_{digest}")
        row = msgspec.structs.replace(row, slack_notification_job_id=slack.job_id)
    row = msgspec.structs.replace(
        row, slack_notification_status=slack.status, slack_notification_error=None
    )
    await store.save(row)
    await store.notified(org.id, slack)
    if slack.job_id is not None:
        await enqueue(
            request.app[state.REDIS],
            Notification(
                id=slack.job_id, kind="kyb_submitted", organization_id=org.id,
                text=_announcement(org, row),
            ),
        )  # fmt: skip
    await audit.note(request, org.id, "kyb.submitted", row.id)
    return json_response(row)


def _announcement(org: Organization, row: KybSubmission) -> str:
    profile = row.business_profile
    return (
        f"Business verification submitted for review: {profile.legal_name} "
        f"({profile.entity_type}, {profile.country}) for organization {org.name} ({org.id}). "
        f"Review it: python -m router kyb approve --org {org.id}, or "
        f"python -m router kyb reject --org {org.id} --reason '…'"
    )


@routes.post("/v1/organizations/{id}/kyb/review", role="operator")
@documented(request=KybReview, response=KybSubmission, errors=(404, 409))
async def review(request: web.Request) -> web.Response:
    """The operator approves a submitted business verification, or rejects it with a
    ``rejectionReason`` the customer sees (then edits and submits again)."""
    org_id = request.match_info["id"]
    own(request, org_id, f"organization {org_id} not found")
    body = await read_json(request, KybReview)
    store = _store(request)
    found = await store.get(org_id)
    if found is None:
        raise NotFound(f"organization {org_id} has no business verification")
    row = reviewed(found, body, now_iso())
    await store.save(row)
    await audit.note(request, org_id, f"kyb.{row.status}", row.id)
    return json_response(row)
