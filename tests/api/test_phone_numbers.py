"""``/v1/phone-numbers``: the row shape, every write rule, and the documented error bodies."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, create_agent, import_number, refused


async def test_import_normalizes_and_returns_the_documented_row(admin):
    agent = await create_agent(admin)
    body = {"name": "PBX", "inbound": {"allowedAddresses": ["192.0.2.1"]}}
    connection = await (await admin.post("/v1/sip-connections", json=body, headers=ADMIN)).json()
    row = await import_number(
        admin, e164="(201) 555-0123", agentId=agent["id"],
        sipConnectionInstallationId=connection["id"],
    )  # fmt: skip
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
    await refused(resp, 409, "CONFLICT")


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
    await refused(resp, 400, "VALIDATION_ERROR", field=field, says=field)


async def test_malformed_json_and_wrong_content_type_are_clear_errors(admin):
    resp = await admin.post(
        "/v1/phone-numbers/import",
        data=b"{nope",
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    await refused(resp, 400, "VALIDATION_ERROR", field="", says="not valid JSON")
    resp = await admin.post("/v1/agents", data=b"name=x", headers=ADMIN)
    await refused(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_verified_caller_id_defaults_to_outbound_and_never_binds_an_agent(admin):
    row = await import_number(admin, e164="+12015550123", source="verified_caller_id")
    assert row["direction"] == "outbound"
    agent = await create_agent(admin)
    resp = await admin.patch(
        f"/v1/phone-numbers/{row['id']}", json={"agentId": agent["id"]}, headers=ADMIN
    )
    await refused(resp, 400, "VALIDATION_ERROR", field="agentId")


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
    await refused(resp, 400, "VALIDATION_ERROR", field="agentId")
    resp = await admin.patch(url, json={"e164": "+12015550124"}, headers=ADMIN)
    await refused(resp, 400, "VALIDATION_ERROR", field="e164")
    ok = await admin.patch(
        url, json={"direction": "outbound", "dispatchMetadataTemplate": None}, headers=ADMIN
    )
    assert (await ok.json())["direction"] == "outbound"


async def test_delete_releases_and_then_the_number_is_gone(admin):
    row = await import_number(admin, e164="+12015550123", dispatchMetadataTemplate={})
    resp = await admin.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)
    assert await resp.json() == {"released": True}
    await refused(
        await admin.get(f"/v1/phone-numbers/{row['id']}", headers=ADMIN), 404, "NOT_FOUND"
    )
    # The number can be imported again once released.
    await import_number(admin, e164="+12015550123", dispatchMetadataTemplate={})


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
    ],
)
async def test_buying_answers_a_clear_not_supported(admin, method, path):
    resp = await admin.request(method, path, json={}, headers=ADMIN)
    await refused(resp, 501, "NOT_SUPPORTED")


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
