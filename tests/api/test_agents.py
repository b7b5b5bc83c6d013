"""``/v1/agents``: created, read, changed and deleted; webhook settings checked when saved
(each refusal naming the field and saying what is wrong); secrets never shown back."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, WHSEC, WHSEC_NEW, create_agent, import_number, refused

_HOOK = "https://hooks.example.com/pre"


async def test_agents_crud_and_secrets_are_not_echoed(admin):
    agent = await create_agent(
        admin,
        prompt="Hi",
        webhooks={"preCall": {"url": "http://127.0.0.1:9/hook", "secret": [WHSEC, WHSEC_NEW]}},
    )
    assert agent["webhooks"]["preCall"]["secret"] == ["***", "***"]
    url = f"/v1/agents/{agent['id']}"
    patched = await (
        await admin.patch(url, json={"prompt": None, "name": "Sales"}, headers=ADMIN)
    ).json()
    assert (patched["prompt"], patched["name"]) == (None, "Sales")
    assert [a["id"] for a in await (await admin.get("/v1/agents", headers=ADMIN)).json()] == [
        agent["id"]
    ]
    assert await (await admin.delete(url, headers=ADMIN)).json() == {"deleted": True}
    await refused(await admin.get(url, headers=ADMIN), 404, "NOT_FOUND")


async def test_agent_validation(admin):
    resp = await admin.post("/v1/agents", json={"name": "", "livekitAgentName": "a"}, headers=ADMIN)
    await refused(resp, 400, "VALIDATION_ERROR", field="name", says="1 to 200 characters")
    resp = await admin.post("/v1/agents", json={"name": "a"}, headers=ADMIN)
    await refused(resp, 400, "VALIDATION_ERROR", field="livekitAgentName")


async def test_agent_webhook_must_be_https_unless_private_allowed(make_router):
    client = await make_router(worker=False, ROUTER_WEBHOOK_ALLOW_PRIVATE=False)
    for url in ("http://x.io", "https://127.0.0.1/hook", "https://[::1]/h", "https://localhost/h"):
        body = {
            "name": "a",
            "livekitAgentName": "a",
            "webhooks": {"preCall": {"url": url, "secret": WHSEC}},
        }
        resp = await client.post("/v1/agents", json=body, headers=ADMIN)
        await refused(resp, 400, "VALIDATION_ERROR", field="webhooks", says="webhooks.preCall.url")
    body["webhooks"] = {"preCall": {"url": "https://hooks.example.com/pre", "secret": WHSEC}}
    assert (await client.post("/v1/agents", json=body, headers=ADMIN)).status == 201


@pytest.mark.parametrize(
    ("hook", "says"),
    [
        # no secret: we never send unsigned
        ({"url": _HOOK}, 'missing required field "webhooks.preCall.secret"'),
        ({"url": _HOOK, "secret": "plain-password"}, "webhooks.preCall.secret: must be whsec_"),
        ({"url": _HOOK, "secret": "whsec_c2hvcnQ="}, "webhooks.preCall.secret: must be whsec_"),
        ({"url": _HOOK, "secret": [WHSEC] * 4}, "webhooks.preCall.secret: one to 3"),
        ({"url": _HOOK, "secret": WHSEC, "timeoutMs": 60_000}, "webhooks.preCall.timeoutMs"),
        ({"url": _HOOK, "secret": WHSEC, "timeoutMs": 10}, "webhooks.preCall.timeoutMs"),
    ],
)
async def test_pre_call_webhook_settings_are_validated(make_router, hook, says):
    client = await make_router(worker=False, ROUTER_WEBHOOK_ALLOW_PRIVATE=False)
    body = {"name": "a", "livekitAgentName": "a", "webhooks": {"preCall": hook}}
    resp = await client.post("/v1/agents", json=body, headers=ADMIN)
    await refused(resp, 400, "VALIDATION_ERROR", field="webhooks", says=says)


async def test_lifecycle_events_are_validated(admin):
    hook = {"url": "http://127.0.0.1:9/h", "secret": WHSEC, "events": ["call.exploded"]}
    body = {"name": "a", "livekitAgentName": "a", "webhooks": {"lifecycle": hook}}
    resp = await admin.post("/v1/agents", json=body, headers=ADMIN)
    says = "webhooks.lifecycle.events: unknown ['call.exploded']"
    await refused(resp, 400, "VALIDATION_ERROR", field="webhooks", says=says)


async def test_deleting_a_linked_agent_conflicts(admin):
    agent = await create_agent(admin)
    row = await import_number(admin, e164="+12015550123", agentId=agent["id"])
    await refused(await admin.delete(f"/v1/agents/{agent['id']}", headers=ADMIN), 409, "CONFLICT")
    # Unlinked (by PATCH), the agent can go.
    await admin.patch(
        f"/v1/phone-numbers/{row['id']}",
        json={"agentId": None, "dispatchMetadataTemplate": {}},
        headers=ADMIN,
    )
    assert (await admin.delete(f"/v1/agents/{agent['id']}", headers=ADMIN)).status == 200
