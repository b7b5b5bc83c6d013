"""Business verification (#30 part 3): the reference's getKyb / saveKybDraft / submitKyb, the
operator's review, and the operations team told through a Slack incoming webhook (the Slack
stand-in answers as Slack documents: tests/slack_standin.py)."""

from __future__ import annotations

from typing import Any

import pytest

from router.store import keys
from tests.conftest import (
    ADMIN,
    bearer,
    import_number,
    json_of,
    make_key,
    make_org,
    refused,
    wait_key,
)
from tests.slack_standin import SlackStandIn

PROFILE = {
    "legalName": "Acme Inc.", "displayName": "Acme", "entityType": "Corporation",
    "country": "us", "website": "https://acme.example",
    "address": {"street": "1 Market St", "city": "San Francisco", "state": "CA",
                "postalCode": "94105", "country": "US"},
    "useCase": "Customer support calls and appointment reminders.",
    "expectedUsage": "500 calls per month in the US.",
}  # fmt: skip
PERSON = {"name": "Ava Martinez", "title": "Operations Lead", "email": "ava@acme.example",
          "phone": "(201) 555-1234"}  # fmt: skip
COMPLETE = {"businessProfile": PROFILE, "authorizedRepresentative": PERSON,
            "attestationAccepted": True}  # fmt: skip


async def _org(router: Any, name: str = "Acme") -> tuple[dict[str, Any], dict[str, str]]:
    org = await make_org(router, name)
    return org, bearer((await make_key(router, org["id"], "admin"))["key"])


async def test_a_draft_is_saved_in_parts_each_field_checked(admin):
    org, key = await _org(admin)
    await import_number(admin, e164="+442071838750", organizationId=org["id"],
                        dispatchMetadataTemplate={})  # fmt: skip
    empty = await json_of(await admin.get("/v1/phone-numbers/kyb", headers=key), 200)
    assert (empty["status"], empty["submission"]) == ("missing", None)
    # The prefill: the organization's name, the country of its numbers.
    assert empty["prefill"]["businessProfile"]["legalName"] == "Acme"
    assert empty["prefill"]["businessProfile"]["country"] == "GB"
    first = await admin.put("/v1/phone-numbers/kyb/draft", headers=key,
                            json={"businessProfile": {"legalName": "Acme Inc."}})  # fmt: skip
    row = await json_of(first, 200)
    assert (row["status"], row["organizationId"]) == ("draft", org["id"])
    second = await admin.put("/v1/phone-numbers/kyb/draft", headers=key,
                             json={"authorizedRepresentative": PERSON})  # fmt: skip
    row = await json_of(second, 200)
    assert row["businessProfile"]["legalName"] == "Acme Inc."  # the earlier part kept
    assert row["authorizedRepresentative"]["phone"] == "+12015551234"  # read as E.164
    for body, field in (
        ({"businessProfile": {"country": "USA"}}, "businessProfile.country"),
        ({"businessProfile": {"website": "acme dot com"}}, "businessProfile.website"),
        ({"businessProfile": {"address": {"zip": "94105"}}}, "businessProfile.address.zip"),
        ({"authorizedRepresentative": {"email": "ava"}}, "authorizedRepresentative.email"),
        ({"authorizedRepresentative": {"phone": "12"}}, "authorizedRepresentative.phone"),
        ({"businessProfile": {"legalName": "x" * 501}}, "businessProfile.legalName"),
        ({"businessProfile": {"tax": "1"}}, "businessProfile.tax"),
    ):
        resp = await admin.put("/v1/phone-numbers/kyb/draft", json=body, headers=key)
        await refused(resp, 400, "VALIDATION_ERROR", field=field)
    resp = await admin.put("/v1/phone-numbers/kyb/draft", json={"status": "approved"}, headers=key)
    await refused(resp, 400, "VALIDATION_ERROR", field="status")  # not the customer's to set
    # Another organization sees its own (none).
    _, other = await _org(admin, "Other")
    theirs = await json_of(await admin.get("/v1/phone-numbers/kyb", headers=other), 200)
    assert theirs["status"] == "missing"


async def test_submitting_names_every_missing_field_then_the_operator_reviews(admin):
    org, key = await _org(admin)
    partial = {"businessProfile": {"legalName": "Acme Inc."}, "attestationAccepted": False}
    resp = await admin.post("/v1/phone-numbers/kyb/submit", json=partial, headers=key)
    body = await refused(resp, 400, "VALIDATION_ERROR", field="businessProfile.entityType")
    for gap in ("businessProfile.website", "businessProfile.address.street",
                "authorizedRepresentative.email", "attestationAccepted"):  # fmt: skip
        assert gap in body["error"]
    made = await admin.post("/v1/phone-numbers/kyb/submit", json=COMPLETE, headers=key)
    row = await json_of(made, 200)
    assert row["status"] == "submitted"
    assert row["attestedAt"] == row["submittedAt"] is not None
    assert row["businessProfile"]["country"] == "US"
    assert row["slackNotificationStatus"] == "not_queued"  # no Slack webhook configured
    # Submitted: not the customer's to change until the operator decides.
    again = await admin.put("/v1/phone-numbers/kyb/draft", json=COMPLETE, headers=key)
    await refused(again, 409, "CONFLICT", says="wait for the operator's review")
    review = f"/v1/organizations/{org['id']}/kyb/review"
    assert (await admin.post(review, json={"decision": "approve"}, headers=key)).status == 403
    unsaid = await admin.post(review, json={"decision": "reject"}, headers=ADMIN)
    await refused(unsaid, 400, "VALIDATION_ERROR", field="rejectionReason")
    rejected = await admin.post(
        review, json={"decision": "reject", "rejectionReason": "The website does not load."},
        headers=ADMIN,
    )  # fmt: skip
    assert (await json_of(rejected, 200))["status"] == "rejected"
    seen = await json_of(await admin.get("/v1/phone-numbers/kyb", headers=key), 200)
    assert seen["submission"]["rejectionReason"] == "The website does not load."
    # Fixed and submitted again; approved.
    fixed = {"businessProfile": {"website": "https://www.acme.example"}}
    assert (await admin.put("/v1/phone-numbers/kyb/draft", json=fixed, headers=key)).status == 200
    await json_of(await admin.post("/v1/phone-numbers/kyb/submit", json={}, headers=key), 200)
    approved = await json_of(
        await admin.post(review, json={"decision": "approve"}, headers=ADMIN), 200
    )
    assert (approved["status"], approved["rejectionReason"]) == ("approved", None)
    late = await admin.post(review, json={"decision": "reject", "rejectionReason": "x"},
                            headers=ADMIN)  # fmt: skip
    await refused(late, 409, "CONFLICT")
    nothing = await admin.post("/v1/organizations/default/kyb/review",
                               json={"decision": "approve"}, headers=ADMIN)  # fmt: skip
    await refused(nothing, 404, "NOT_FOUND")
    # The audit log says what happened, never the profile.
    log = await (await admin.get("/v1/audit", headers=key)).text()
    assert "kyb.submitted" in log
    assert "kyb.approved" in log
    assert "Ava Martinez" not in log


@pytest.fixture
async def slack(aiohttp_server: Any) -> tuple[SlackStandIn, str]:
    standin = SlackStandIn()
    server = await aiohttp_server(standin.app())
    return standin, str(server.make_url("/services/T000/B000/XXXX"))


async def _slack_status(redis: Any, org: str, wanted: str) -> None:
    from router.store.kyb import Kyb

    async def ready() -> bool:
        found = await Kyb(redis).get(org)
        return found is not None and found.slack_notification_status == wanted

    await wait_key(redis, keys.KYB, ready)


async def test_a_submission_tells_the_operations_team_on_slack_at_least_once(
    make_router, redis, slack
):
    standin, url = slack
    standin.answers = [(429, "rate_limited", {"Retry-After": "0"})]  # once: come back at once
    router = await make_router(ROUTER_SLACK_WEBHOOK_URL=url)
    org, key = await _org(router)
    row = await json_of(
        await router.post("/v1/phone-numbers/kyb/submit", json=COMPLETE, headers=key), 200
    )
    assert row["slackNotificationStatus"] == "queued"
    assert row["slackNotificationJobId"].startswith("job_")
    await _slack_status(redis, org["id"], "sent")
    message = standin.messages.get_nowait()
    assert "Acme Inc." in message["text"]
    assert f"kyb approve --org {org['id']}" in message["text"]
    assert standin.requests == 2  # the 429, then the delivery
    seen = await json_of(await router.get("/v1/phone-numbers/kyb", headers=key), 200)
    submission = seen["submission"]
    assert submission["slackNotificationStatus"] == "sent"
    assert submission["slackNotificationJobId"] == row["slackNotificationJobId"]


async def test_a_refusal_slack_will_repeat_fails_the_notification_with_its_words(
    make_router, redis, slack
):
    standin, url = slack
    standin.answers = [(404, "no_service", {})]
    router = await make_router(ROUTER_SLACK_WEBHOOK_URL=url)
    org, key = await _org(router)
    await json_of(
        await router.post("/v1/phone-numbers/kyb/submit", json=COMPLETE, headers=key), 200
    )
    await _slack_status(redis, org["id"], "failed")
    seen = await json_of(await router.get("/v1/phone-numbers/kyb", headers=key), 200)
    assert seen["submission"]["slackNotificationError"] == "Slack answered 404: no_service"
    assert standin.requests == 1  # not retried: it would not change
    assert await redis.llen(keys.NOTIFY_DEAD) == 1
