"""``/v1/sip-connections``: a customer's own SIP trunk in an organization — created, read,
changed field by field, deleted only when no number uses it; passwords and the PIN kept
encrypted and never shown, logged or audited; numbers imported onto one of the
organization's connections only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from router.store import keys
from tests.conftest import (
    ADMIN,
    bearer,
    create_agent,
    import_number,
    json_of,
    make_key,
    make_org,
    refused,
)

SECRETS_KEY = Fernet.generate_key().decode()
IN_PASSWORD, OUT_PASSWORD, PIN = "in-Secret-7f3a9c", "out-Secret-2b8e41", "482913"
BODY = {
    "name": "Acme PBX",
    "sipProviderName": "Acme Telecom",
    "inbound": {
        "allowedAddresses": ["203.0.113.7", "198.51.100.0/24"],
        "username": "acme-in",
        "password": IN_PASSWORD,
        "mediaEncryption": "require",
        "pin": PIN,
    },
    "outbound": {
        "address": "pbx.acme.example:5061",
        "transport": "tls",
        "username": "acme-out",
        "password": OUT_PASSWORD,
    },
}


@pytest.fixture
async def keeper(make_router: Any) -> Any:
    return await make_router(worker=False, ROUTER_SECRETS_KEY=SECRETS_KEY)


async def _create(router: Any, body: Any = BODY, headers: Any = ADMIN) -> dict[str, Any]:
    return await json_of(await router.post("/v1/sip-connections", json=body, headers=headers), 201)


def _no_secret_in(text: str) -> None:
    for secret in (IN_PASSWORD, OUT_PASSWORD, PIN):
        assert secret not in text


async def test_a_connection_is_kept_with_its_passwords_encrypted_and_never_shown(
    keeper, redis: Redis
):
    made = await _create(keeper)
    assert made["id"].startswith("sc_")
    assert made["inbound"] == {
        "allowedAddresses": ["203.0.113.7/32", "198.51.100.0/24"],
        "username": "acme-in",
        "passwordSet": True,
        "mediaEncryption": "require",
        "pinSet": True,
    }
    assert made["outbound"] == {
        "address": "pbx.acme.example:5061",
        "transport": "tls",
        "username": "acme-out",
        "passwordSet": True,
    }
    one = await keeper.get(f"/v1/sip-connections/{made['id']}", headers=ADMIN)
    listed = await keeper.get("/v1/sip-connections", headers=ADMIN)
    assert await json_of(one, 200) == made
    assert await json_of(listed, 200) == [made]
    # Kept: the row without them, the secrets apart and encrypted.
    _no_secret_in((await redis.hget(keys.SIP_CONNECTIONS, made["id"])).decode())
    sealed = await redis.hget(keys.SIP_CONNECTION_SECRETS, made["id"])
    _no_secret_in(sealed.decode())
    opened = json.loads(Fernet(SECRETS_KEY).decrypt(sealed))
    assert opened == {"inboundPassword": IN_PASSWORD, "outboundPassword": OUT_PASSWORD, "pin": PIN}
    # Never in the audit log, nor in the metrics.
    audit = await keeper.get("/v1/audit", headers=ADMIN)
    _no_secret_in(await audit.text())
    assert "sip_connection.created" in await audit.text()
    _no_secret_in(await (await keeper.get("/metrics")).text())


async def test_passwords_need_the_secrets_key(make_router):
    router = await make_router(worker=False)  # no ROUTER_SECRETS_KEY
    resp = await router.post("/v1/sip-connections", json=BODY, headers=ADMIN)
    await refused(resp, 501, "NOT_SUPPORTED", says="ROUTER_SECRETS_KEY")
    addresses_only = {"name": "By address", "inbound": {"allowedAddresses": ["203.0.113.7"]}}
    made = await _create(router, addresses_only)
    assert made["inbound"]["passwordSet"] is False
    assert made["outbound"] is None


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"inbound": {"username": "u"}}, "inbound", "inbound.password: digest"),
        ({"inbound": {"password": "p"}}, "inbound", "inbound.username: digest"),
        ({"inbound": {"allowedAddresses": ["pbx.example"]}}, "inbound", "is not an IP address"),
        ({"inbound": {"pin": "12"}}, "inbound", "inbound.pin: 4 to 12 digits"),
        ({"inbound": {"mediaEncryption": "maybe"}}, "inbound", "maybe"),
        ({"outbound": {"address": "sip:pbx@acme.example"}}, "outbound", "not a SIP URI"),
        ({"outbound": {"address": "pbx.example", "transport": "sctp"}}, "outbound", "sctp"),
        ({"outbound": {}}, "outbound", 'missing required field "outbound.address"'),
        ({"name": " "}, "name", "name: 1 to 200 characters"),
        ({"colour": "red"}, "colour", "colour"),
    ],
)
async def test_each_rule_is_a_400_naming_the_field(keeper, change, field, says):
    body = {"name": "x", **change}
    resp = await keeper.post("/v1/sip-connections", json=body, headers=ADMIN)
    await refused(resp, 400, "VALIDATION_ERROR", field=field, says=says)


async def test_a_patch_changes_only_what_it_names(keeper, redis: Redis):
    made = await _create(keeper)
    url = f"/v1/sip-connections/{made['id']}"
    moved = {"inbound": {"allowedAddresses": ["192.0.2.1"]}}
    patched = await json_of(await keeper.patch(url, json=moved, headers=ADMIN), 200)
    assert patched["inbound"]["allowedAddresses"] == ["192.0.2.1/32"]
    assert (patched["inbound"]["passwordSet"], patched["inbound"]["pinSet"]) == (True, True)
    assert patched["outbound"] == made["outbound"]
    sealed = await redis.hget(keys.SIP_CONNECTION_SECRETS, made["id"])
    assert json.loads(Fernet(SECRETS_KEY).decrypt(sealed))["inboundPassword"] == IN_PASSWORD
    # Clearing the password alone would leave a username without one.
    half = {"inbound": {"password": None}}
    await refused(await keeper.patch(url, json=half, headers=ADMIN), 400, "VALIDATION_ERROR",
                  field="inbound", says="inbound.password: digest")  # fmt: skip
    cleared = {"inbound": {"username": None, "password": None, "pin": None}, "outbound": None}
    plain = await json_of(await keeper.patch(url, json=cleared, headers=ADMIN), 200)
    assert plain["inbound"]["passwordSet"] is False
    assert plain["outbound"] is None
    assert await redis.hget(keys.SIP_CONNECTION_SECRETS, made["id"]) is None
    no_side = {"outbound": {"transport": "tcp"}}
    await refused(await keeper.patch(url, json=no_side, headers=ADMIN), 400, "VALIDATION_ERROR",
                  field="outbound", says="give its address")  # fmt: skip
    back = {"outbound": {"address": "10.0.0.5", "transport": "tcp"}}
    again = await json_of(await keeper.patch(url, json=back, headers=ADMIN), 200)
    assert again["outbound"] == {
        "address": "10.0.0.5", "transport": "tcp", "username": None, "passwordSet": False,
    }  # fmt: skip


async def test_organizations_see_only_their_own_connections(keeper):
    acme, other = await make_org(keeper, "Acme"), await make_org(keeper, "Other")
    admin = bearer((await make_key(keeper, acme["id"], "admin"))["key"])
    viewer = bearer((await make_key(keeper, acme["id"], "viewer"))["key"])
    theirs = bearer((await make_key(keeper, other["id"], "admin"))["key"])
    body = {"name": "Acme PBX", "inbound": {"allowedAddresses": ["192.0.2.9"]}}
    made = await _create(keeper, body, headers=admin)
    assert made["organizationId"] == acme["id"]
    url = f"/v1/sip-connections/{made['id']}"
    assert [
        c["id"] for c in await json_of(await keeper.get("/v1/sip-connections", headers=viewer), 200)
    ] == [made["id"]]
    assert await json_of(await keeper.get("/v1/sip-connections", headers=theirs), 200) == []
    for method in ("get", "patch", "delete"):
        resp = await keeper.request(method.upper(), url, json={"name": "x"}, headers=theirs)
        await refused(resp, 404, "NOT_FOUND")
    await refused(await keeper.post("/v1/sip-connections", json={"name": "v"}, headers=viewer),
                  403, "FORBIDDEN")  # fmt: skip


async def test_numbers_go_onto_their_organizations_connections_only(keeper):
    made = await _create(keeper)
    agent = await create_agent(keeper)
    row = await import_number(
        keeper, e164="+12015550801", agentId=agent["id"], sipConnectionInstallationId=made["id"]
    )
    assert row["sipConnectionInstallationId"] == made["id"]
    unknown = {
        "e164": "+12015550802",
        "agentId": agent["id"],
        "sipConnectionInstallationId": "sc_nope",
    }
    resp = await keeper.post("/v1/phone-numbers/import", json=unknown, headers=ADMIN)
    await refused(resp, 400, "VALIDATION_ERROR", field="sipConnectionInstallationId",
                  says="POST /v1/sip-connections")  # fmt: skip
    other = await make_org(keeper, "Other")
    theirs = {**unknown, "sipConnectionInstallationId": made["id"], "organizationId": other["id"],
              "agentId": None, "dispatchMetadataTemplate": {}}  # fmt: skip
    resp = await keeper.post("/v1/phone-numbers/import", json=theirs, headers=ADMIN)
    await refused(resp, 404, "NOT_FOUND")
    # A PATCH onto an unknown connection is refused the same way.
    patch = {"sipConnectionInstallationId": "sc_nope"}
    resp = await keeper.patch(f"/v1/phone-numbers/{row['id']}", json=patch, headers=ADMIN)
    await refused(resp, 400, "VALIDATION_ERROR", field="sipConnectionInstallationId")


async def test_a_connection_in_use_cannot_be_deleted(keeper):
    made = await _create(keeper)
    agent = await create_agent(keeper)
    row = await import_number(
        keeper, e164="+12015550811", agentId=agent["id"], sipConnectionInstallationId=made["id"]
    )
    url = f"/v1/sip-connections/{made['id']}"
    await refused(await keeper.delete(url, headers=ADMIN), 409, "CONFLICT", says="+12015550811")
    assert (await keeper.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert await json_of(await keeper.delete(url, headers=ADMIN), 200) == {"deleted": True}
    await refused(await keeper.get(url, headers=ADMIN), 404, "NOT_FOUND")
