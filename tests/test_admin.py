"""The admin API: auth, the row shape, every write rule, and the documented error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN, WHSEC, WHSEC_NEW, create_agent, import_number


@pytest.fixture
async def admin(make_router: Any) -> Any:
    return await make_router(worker=False)


async def _error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert body["code"] == code
    assert body["error"]
    return body


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "x"}])
async def test_admin_api_needs_the_bearer_token(admin, headers):
    await _error(await admin.get("/v1/phone-numbers", headers=headers), 401, "UNAUTHORIZED")


async def test_admin_api_is_refused_when_no_token_is_configured(make_router):
    client = await make_router(worker=False, ROUTER_ADMIN_TOKEN=None)
    body = await _error(await client.get("/v1/agents", headers=ADMIN), 401, "UNAUTHORIZED")
    assert "ROUTER_ADMIN_TOKEN" in body["error"]


async def test_import_normalizes_and_returns_the_documented_row(admin):
    agent = await create_agent(admin)
    row = await import_number(
        admin, e164="(201) 555-0123", agentId=agent["id"], sipConnectionInstallationId="conn-1"
    )
    assert row["e164"] == "+12015550123"
    assert row["source"] == "sip_trunk"
    assert row["direction"] == "inbound"
    assert row["id"].startswith("pn_")
    assert set(row) >= {
        "id", "e164", "source", "providerResourceId", "sipConnectionInstallationId",
        "sipProviderName", "direction", "agentId", "dispatchMetadataTemplate", "label",
        "setupStatus", "createdAt", "updatedAt",
    }  # fmt: skip
    assert row["setupStatus"] == {
        "status": "ready",
        "inboundReady": True,
        "outboundReady": False,
        "agentReady": True,
        "forwardingRequired": False,
        "sipConnectionReady": True,
        "issues": [],
    }
    listed = await (await admin.get("/v1/phone-numbers", headers=ADMIN)).json()
    assert [r["id"] for r in listed] == [row["id"]]
    fetched = await (await admin.get(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).json()
    assert fetched == row


async def test_second_import_of_the_same_number_conflicts_in_any_format(admin):
    await import_number(admin, e164="+12015550123", dispatchMetadataTemplate={})
    resp = await admin.post(
        "/v1/phone-numbers/import",
        json={"e164": "201-555-0123", "dispatchMetadataTemplate": {}},
        headers=ADMIN,
    )
    await _error(resp, 409, "CONFLICT")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"e164": "not a number", "dispatchMetadataTemplate": {}}, "e164"),
        ({"e164": "+1555", "dispatchMetadataTemplate": {}}, "e164"),
        ({"e164": "+12015550123"}, "agentId"),
        ({"e164": "+12015550123", "agentId": "ag_missing"}, "agentId"),
        ({"e164": "+12015550123", "direction": "sideways", "agentId": "x"}, "direction"),
        ({"e164": "+12015550123", "source": "pigeon", "agentId": "x"}, "source"),
        ({"e164": "+12015550123", "dispatchMetadataTemplate": []}, "dispatchMetadataTemplate"),
        (
            {"e164": "+12015550123", "dispatchMetadataTemplate": {"a": "{{callerName}}"}},
            "dispatchMetadataTemplate",
        ),
        ({"e164": "+12015550123", "agentId": "x", "colour": "red"}, "colour"),
        (
            {"e164": "+12015550123", "source": "verified_caller_id", "direction": "both"},
            "direction",
        ),
    ],
)
async def test_import_rules_answer_validation_error_naming_the_field(admin, body, field):
    resp = await admin.post("/v1/phone-numbers/import", json=body, headers=ADMIN)
    error = await _error(resp, 400, "VALIDATION_ERROR")
    assert field in error["error"]


async def test_malformed_json_and_wrong_content_type_are_clear_errors(admin):
    resp = await admin.post(
        "/v1/phone-numbers/import",
        data=b"{nope",
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    await _error(resp, 400, "VALIDATION_ERROR")
    resp = await admin.post("/v1/agents", data=b"name=x", headers=ADMIN)
    await _error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_verified_caller_id_defaults_to_outbound_and_never_binds_an_agent(admin):
    row = await import_number(admin, e164="+12015550123", source="verified_caller_id")
    assert row["direction"] == "outbound"
    agent = await create_agent(admin)
    resp = await admin.patch(
        f"/v1/phone-numbers/{row['id']}", json={"agentId": agent["id"]}, headers=ADMIN
    )
    await _error(resp, 400, "VALIDATION_ERROR")


async def test_patch_null_clears_and_the_rules_are_checked_on_the_result(admin):
    agent = await create_agent(admin)
    row = await import_number(
        admin, e164="+12015550123", agentId=agent["id"], label="Desk", dispatchMetadataTemplate={}
    )
    url = f"/v1/phone-numbers/{row['id']}"
    patched = await (
        await admin.patch(url, json={"label": None, "agentId": None}, headers=ADMIN)
    ).json()
    assert patched["label"] is None
    assert patched["agentId"] is None
    assert patched["dispatchMetadataTemplate"] == {}
    # Clearing the template too would leave an inbound number with nothing to route to.
    resp = await admin.patch(url, json={"dispatchMetadataTemplate": None}, headers=ADMIN)
    await _error(resp, 400, "VALIDATION_ERROR")
    resp = await admin.patch(url, json={"e164": "+12015550124"}, headers=ADMIN)
    await _error(resp, 400, "VALIDATION_ERROR")
    ok = await admin.patch(
        url, json={"direction": "outbound", "dispatchMetadataTemplate": None}, headers=ADMIN
    )
    assert (await ok.json())["direction"] == "outbound"


async def test_delete_releases_and_then_the_number_is_gone(admin):
    row = await import_number(admin, e164="+12015550123", dispatchMetadataTemplate={})
    resp = await admin.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)
    assert await resp.json() == {"released": True}
    await _error(await admin.get(f"/v1/phone-numbers/{row['id']}", headers=ADMIN), 404, "NOT_FOUND")
    # The number can be imported again once released.
    await import_number(admin, e164="+12015550123", dispatchMetadataTemplate={})


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
    await _error(await admin.get(url, headers=ADMIN), 404, "NOT_FOUND")


async def test_agent_validation(admin):
    resp = await admin.post("/v1/agents", json={"name": "", "livekitAgentName": "a"}, headers=ADMIN)
    await _error(resp, 400, "VALIDATION_ERROR")
    resp = await admin.post("/v1/agents", json={"name": "a"}, headers=ADMIN)
    await _error(resp, 400, "VALIDATION_ERROR")


async def test_agent_webhook_must_be_https_unless_private_allowed(make_router):
    client = await make_router(worker=False, ROUTER_WEBHOOK_ALLOW_PRIVATE=False)
    for url in ("http://x.io", "https://127.0.0.1/hook", "https://[::1]/h", "https://localhost/h"):
        body = {
            "name": "a",
            "livekitAgentName": "a",
            "webhooks": {"preCall": {"url": url, "secret": WHSEC}},
        }
        await _error(
            await client.post("/v1/agents", json=body, headers=ADMIN), 400, "VALIDATION_ERROR"
        )
    body["webhooks"] = {"preCall": {"url": "https://hooks.example.com/pre", "secret": WHSEC}}
    assert (await client.post("/v1/agents", json=body, headers=ADMIN)).status == 201


@pytest.mark.parametrize(
    "hook",
    [
        {"url": "https://hooks.example.com/pre"},  # no secret: we never send unsigned
        {"url": "https://hooks.example.com/pre", "secret": "plain-password"},
        {"url": "https://hooks.example.com/pre", "secret": "whsec_c2hvcnQ="},
        {"url": "https://hooks.example.com/pre", "secret": [WHSEC] * 4},
        {"url": "https://hooks.example.com/pre", "secret": WHSEC, "timeoutMs": 60_000},
        {"url": "https://hooks.example.com/pre", "secret": WHSEC, "timeoutMs": 10},
    ],
)
async def test_pre_call_webhook_settings_are_validated(make_router, hook):
    client = await make_router(worker=False, ROUTER_WEBHOOK_ALLOW_PRIVATE=False)
    body = {"name": "a", "livekitAgentName": "a", "webhooks": {"preCall": hook}}
    await _error(await client.post("/v1/agents", json=body, headers=ADMIN), 400, "VALIDATION_ERROR")


async def test_lifecycle_events_are_validated(admin):
    hook = {"url": "http://127.0.0.1:9/h", "secret": WHSEC, "events": ["call.exploded"]}
    body = {"name": "a", "livekitAgentName": "a", "webhooks": {"lifecycle": hook}}
    await _error(await admin.post("/v1/agents", json=body, headers=ADMIN), 400, "VALIDATION_ERROR")


async def test_deleting_a_linked_agent_conflicts(admin):
    agent = await create_agent(admin)
    row = await import_number(admin, e164="+12015550123", agentId=agent["id"])
    await _error(await admin.delete(f"/v1/agents/{agent['id']}", headers=ADMIN), 409, "CONFLICT")
    # Unlinked (by PATCH), the agent can go.
    await admin.patch(
        f"/v1/phone-numbers/{row['id']}",
        json={"agentId": None, "dispatchMetadataTemplate": {}},
        headers=ADMIN,
    )
    assert (await admin.delete(f"/v1/agents/{agent['id']}", headers=ADMIN)).status == 200


async def test_setup_status_reports_what_is_missing(admin):
    row = await import_number(
        admin, e164="+12015550123", direction="both", dispatchMetadataTemplate={"a": 1}
    )
    status = row["setupStatus"]
    assert status["status"] == "incomplete"
    assert (status["inboundReady"], status["outboundReady"], status["agentReady"]) == (
        False,
        False,
        False,
    )
    assert any("ROUTER_DEFAULT_AGENT_NAME" in i for i in status["issues"])
    assert any("SIP connection" in i for i in status["issues"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/phone-numbers"),
        ("GET", "/v1/phone-numbers/available"),
        ("GET", "/v1/phone-numbers/kyb"),
        ("PUT", "/v1/phone-numbers/kyb/draft"),
        ("POST", "/v1/phone-numbers/kyb/submit"),
    ],
)
async def test_buying_and_kyb_answer_a_clear_not_supported(admin, method, path):
    resp = await admin.request(method, path, json={}, headers=ADMIN)
    await _error(resp, 501, "NOT_SUPPORTED")


async def test_unknown_routes_and_calls_answer_json_404(admin):
    await _error(await admin.get("/v1/calls/nope", headers=ADMIN), 404, "NOT_FOUND")
    await _error(await admin.get("/nowhere"), 404, "NOT_FOUND")


async def test_setup_status_tells_the_truth_for_carrier_and_sip_numbers(admin):
    agent = await create_agent(admin)
    await import_number(admin, e164="+12015550999", agentId=agent["id"], sharedLanding=True)
    for source in ("twilio", "telnyx"):  # calls arrive by the carrier's webhook
        row = await import_number(
            admin, e164=f"+1201555{'0101' if source == 'twilio' else '0102'}",
            agentId=agent["id"], source=source,
        )  # fmt: skip
        status = row["setupStatus"]
        assert (status["status"], status["issues"]) == ("ready", []), source
        assert status["forwardingRequired"] is False
        assert status["sipConnectionReady"] is True
    bare = (await import_number(admin, e164="+12015550103", agentId=agent["id"]))["setupStatus"]
    assert bare["inboundReady"] is True  # calls still route if they arrive...
    assert bare["issues"]  # ...but something is left to do, so it is not "ready"
    assert bare["status"] == "incomplete"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"e164": "+12015550123", "source": "carrier-pigeon"}, "source",
         "source must be one of byoc, livekit, managed, sip_trunk, telnyx, twilio, "
         "verified_caller_id; got 'carrier-pigeon'"),
        ({"e164": "+12015550123", "direction": "sideways"}, "direction",
         "direction must be one of both, inbound, outbound; got 'sideways'"),
        ({"agentId": "ag_x"}, "e164", 'missing required field "e164"'),
    ],
)  # fmt: skip
async def test_validation_errors_name_the_field_and_the_allowed_values(admin, body, field, message):
    resp = await admin.post("/v1/phone-numbers/import", json=body, headers=ADMIN)
    assert resp.status == 400
    assert await resp.json() == {"error": message, "code": "VALIDATION_ERROR", "field": field}
