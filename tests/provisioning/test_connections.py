"""Numbers on a customer's SIP connection (``/v1/sip-connections``) come in on that
connection's own LiveKit inbound trunk — with its addresses, digest credentials, media
encryption and a dispatch rule with its PIN — not on the organization's managed trunk; the
stand-in's trunk is compared with the connection field by field."""

from __future__ import annotations

from typing import Any

from livekit.protocol import sip

from tests.conftest import ADMIN, import_number, json_of
from tests.provisioning.conftest import SECRETS_KEY, managed

CONNECTION = {
    "name": "Acme PBX",
    "inbound": {
        "allowedAddresses": ["203.0.113.7"],
        "username": "acme-in",
        "password": "in-Secret-7f3a9c",
        "mediaEncryption": "require",
        "pin": "482913",
    },
}


async def _setup(make_router: Any, twirp: Any) -> tuple[Any, Any, dict[str, Any], str]:
    router = await make_router(ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY)
    made = await router.post("/v1/sip-connections", json=CONNECTION, headers=ADMIN)
    connection = await json_of(made, 201)
    agent = await json_of(
        await router.post("/v1/agents", json={"name": "a", "livekitAgentName": "a"}, headers=ADMIN),
        201,
    )
    return router, twirp[0].sip, connection, agent["id"]


def _connection_trunks(standin: Any, connection: dict[str, Any]) -> list[sip.SIPInboundTrunkInfo]:
    name = f"call-router/{connection['organizationId']}/{connection['id']}"
    return [t for t in standin.trunks.values() if t.name == name]


def _org_trunks(standin: Any) -> list[sip.SIPInboundTrunkInfo]:
    """The organizations' managed trunks (``call-router/<org>``), not connections'."""
    return [t for t in managed(standin) if t.name.count("/") == 1]


async def test_a_number_on_a_connection_comes_in_on_its_own_trunk(make_router, twirp):
    router, standin, connection, agent = await _setup(make_router, twirp)
    assert _connection_trunks(standin, connection) == []  # LiveKit's trunks need numbers
    on_it = await import_number(
        router, e164="+12015550901", agentId=agent, sipConnectionInstallationId=connection["id"]
    )
    await import_number(router, e164="+12015550902", agentId=agent)
    [trunk] = _connection_trunks(standin, connection)
    assert list(trunk.numbers) == ["+12015550901"]
    assert list(trunk.allowed_addresses) == ["203.0.113.7/32"]
    assert (trunk.auth_username, trunk.auth_password) == ("acme-in", "in-Secret-7f3a9c")
    assert trunk.media.encryption == sip.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE
    assert trunk.include_headers == sip.SIPHeaderOptions.SIP_ALL_HEADERS
    [rule] = [r for r in standin.rules.values() if trunk.sip_trunk_id in r.trunk_ids]
    assert rule.rule.dispatch_rule_individual.pin == "482913"
    [org_trunk] = _org_trunks(standin)
    assert list(org_trunk.numbers) == ["+12015550902"]
    assert on_it["setupStatus"]["sipConnectionReady"] is True
    # A reconcile leaves the connection's number where it is.
    report = await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert (await json_of(report, 200))["organizations"][0].get("missing", []) == []
    assert list(org_trunk.numbers) == ["+12015550902"]
    assert list(_connection_trunks(standin, connection)[0].numbers) == ["+12015550901"]


async def test_a_number_moved_off_a_connection_changes_trunk_and_the_last_one_retires_it(
    make_router, twirp
):
    router, standin, connection, agent = await _setup(make_router, twirp)
    row = await import_number(
        router, e164="+12015550911", agentId=agent, sipConnectionInstallationId=connection["id"]
    )
    [trunk] = _connection_trunks(standin, connection)
    url = f"/v1/phone-numbers/{row['id']}"
    moved = await router.patch(url, json={"sipConnectionInstallationId": None}, headers=ADMIN)
    assert (await json_of(moved, 200))["sipConnectionInstallationId"] is None
    assert _connection_trunks(standin, connection) == []  # its last number left: retired
    assert not [r for r in standin.rules.values() if trunk.sip_trunk_id in r.trunk_ids]
    [org_trunk] = _org_trunks(standin)
    assert list(org_trunk.numbers) == ["+12015550911"]
    back = {"sipConnectionInstallationId": connection["id"]}
    assert (await router.patch(url, json=back, headers=ADMIN)).status == 200
    assert _org_trunks(standin) == []  # the organization's trunk lost its last number
    [again] = _connection_trunks(standin, connection)
    assert list(again.numbers) == ["+12015550911"]
    assert (await router.delete(url, headers=ADMIN)).status == 200
    assert _connection_trunks(standin, connection) == []


async def test_a_connection_changed_is_followed_by_its_trunk_field_by_field(make_router, twirp):
    router, standin, connection, agent = await _setup(make_router, twirp)
    await import_number(
        router, e164="+12015550921", agentId=agent, sipConnectionInstallationId=connection["id"]
    )
    change = {
        "inbound": {
            "allowedAddresses": ["198.51.100.0/24"],
            "password": "new-Secret-91c2",
            "mediaEncryption": "allow",
            "pin": "775511",
        }
    }
    url = f"/v1/sip-connections/{connection['id']}"
    assert (await router.patch(url, json=change, headers=ADMIN)).status == 200
    [trunk] = _connection_trunks(standin, connection)
    assert list(trunk.allowed_addresses) == ["198.51.100.0/24"]
    assert (trunk.auth_username, trunk.auth_password) == ("acme-in", "new-Secret-91c2")
    assert trunk.media.encryption == sip.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW
    assert list(trunk.numbers) == ["+12015550921"]  # untouched
    [rule] = [r for r in standin.rules.values() if trunk.sip_trunk_id in r.trunk_ids]
    assert rule.rule.dispatch_rule_individual.pin == "775511"
    # The connection is in use: it cannot go.
    assert (await router.delete(url, headers=ADMIN)).status == 409


async def test_outbound_numbers_go_on_the_connection_s_outbound_trunk_and_only_then_are_ready(
    make_router, twirp
):
    router, standin, connection, agent = await _setup(make_router, twirp)
    url = f"/v1/sip-connections/{connection['id']}"
    both = await import_number(
        router, e164="+12015550931", agentId=agent, direction="both",
        sipConnectionInstallationId=connection["id"],
    )  # fmt: skip
    # The connection has no outbound side yet: no trunk to call out on, and the row says so.
    assert standin.outbound == {}
    status = both["setupStatus"]
    assert (status["inboundReady"], status["outboundReady"]) == (True, False)
    assert any("outbound trunk" in issue for issue in status["issues"])
    side = {"outbound": {"address": "pbx.acme.example:5061", "transport": "tls",
                         "username": "acme-out", "password": "out-Secret-2b8e41"}}  # fmt: skip
    assert (await router.patch(url, json=side, headers=ADMIN)).status == 200
    row_url = f"/v1/phone-numbers/{both['id']}"
    again = await router.patch(row_url, json={"label": "desk"}, headers=ADMIN)  # a write
    assert (await json_of(again, 200))["setupStatus"]["outboundReady"] is True
    [trunk] = standin.outbound.values()
    assert (trunk.name, trunk.address) == (
        f"call-router/{connection['organizationId']}/{connection['id']}",
        "pbx.acme.example:5061",
    )
    assert trunk.transport == sip.SIPTransport.SIP_TRANSPORT_TLS
    assert (trunk.auth_username, trunk.auth_password) == ("acme-out", "out-Secret-2b8e41")
    assert list(trunk.numbers) == ["+12015550931"]
    out_only = await import_number(
        router, e164="+12015550932", direction="outbound",
        sipConnectionInstallationId=connection["id"],
    )  # fmt: skip
    assert out_only["setupStatus"]["outboundReady"] is True
    assert list(standin.outbound[trunk.sip_trunk_id].numbers) == ["+12015550931", "+12015550932"]
    # The connection's outbound settings changed: its trunk follows.
    moved = {"outbound": {"address": "10.0.0.5", "transport": "tcp"}}
    assert (await router.patch(url, json=moved, headers=ADMIN)).status == 200
    stored = standin.outbound[trunk.sip_trunk_id]
    assert (stored.address, stored.transport) == ("10.0.0.5", sip.SIPTransport.SIP_TRANSPORT_TCP)
    # The outbound side taken away, then given back: the trunk goes, the rows say so, and the
    # numbers' next write puts them on the new one.
    assert (await router.patch(url, json={"outbound": None}, headers=ADMIN)).status == 200
    assert standin.outbound == {}
    row = await json_of(await router.get(row_url, headers=ADMIN), 200)
    assert row["setupStatus"]["outboundReady"] is False
    assert (await router.patch(url, json=moved, headers=ADMIN)).status == 200
    for number in (both, out_only):
        touched = f"/v1/phone-numbers/{number['id']}"
        assert (await router.patch(touched, json={"label": "x"}, headers=ADMIN)).status == 200
    [trunk] = standin.outbound.values()
    # Inbound-only now: off the outbound trunk, and not outbound-ready.
    inbound = await router.patch(row_url, json={"direction": "inbound"}, headers=ADMIN)
    assert (await json_of(inbound, 200))["setupStatus"]["outboundReady"] is False
    assert list(standin.outbound[trunk.sip_trunk_id].numbers) == ["+12015550932"]
    # The last outbound number released: the outbound trunk goes with it.
    released = await router.delete(f"/v1/phone-numbers/{out_only['id']}", headers=ADMIN)
    assert released.status == 200
    assert standin.outbound == {}


async def test_a_sip_trunk_id_must_be_a_trunk_livekit_has(provisioned):
    router, agent, _ = provisioned
    body = {"e164": "+12015550941", "agentId": agent["id"], "source": "byoc", "sipTrunkId": "ST_x"}
    resp = await router.post("/v1/phone-numbers/import", json=body, headers=ADMIN)
    assert resp.status == 400
    assert (await resp.json())["field"] == "sipTrunkId"
    made = await router.post("/v1/phone-numbers/import", json={**body, "sipTrunkId": None},
                             headers=ADMIN)  # fmt: skip
    row = await json_of(made, 201)
    resp = await router.patch(
        f"/v1/phone-numbers/{row['id']}", json={"sipTrunkId": "ST_nope"}, headers=ADMIN
    )
    assert (resp.status, (await resp.json())["field"]) == (400, "sipTrunkId")


async def test_the_reference_s_inline_form_makes_the_connection_in_the_same_request(
    make_router, twirp
):
    router, standin, _, agent = await _setup(make_router, twirp)
    inline = {
        "e164": "+12015550981", "agentId": agent, "direction": "both",
        "sipTrunkName": "my-trunk", "sipServerAddress": "sip.example.com",
        "sipUsername": "user", "sipPassword": "pass-0d9e", "mediaEncryption": "require",
        "inboundPin": "2468",
    }  # fmt: skip
    row = await json_of(
        await router.post("/v1/phone-numbers/import", json=inline, headers=ADMIN), 201
    )
    made = await json_of(
        await router.get(
            f"/v1/sip-connections/{row['sipConnectionInstallationId']}", headers=ADMIN
        ),
        200,
    )
    assert (made["name"], made["inbound"]["username"], made["inbound"]["pinSet"]) == (
        "my-trunk", "user", True,
    )  # fmt: skip
    assert made["outbound"]["address"] == "sip.example.com"
    [trunk] = _connection_trunks(standin, made)
    assert (trunk.auth_username, trunk.auth_password) == ("user", "pass-0d9e")
    assert row["setupStatus"]["outboundReady"] is True
    # Both a connection and the inline fields: refused; a bad inline field names itself.
    both = {**inline, "e164": "+12015550982", "sipConnectionInstallationId": made["id"]}
    resp = await router.post("/v1/phone-numbers/import", json=both, headers=ADMIN)
    assert (resp.status, (await resp.json())["field"]) == (400, "sipConnectionInstallationId")
    bad = {**inline, "e164": "+12015550983", "sipServerAddress": "sip:pbx@example.com"}
    resp = await router.post("/v1/phone-numbers/import", json=bad, headers=ADMIN)
    assert (resp.status, (await resp.json())["field"]) == (400, "sipServerAddress")
    # The number refused (already imported): the connection made for it goes too.
    before = await json_of(await router.get("/v1/sip-connections", headers=ADMIN), 200)
    again = await router.post("/v1/phone-numbers/import", json=inline, headers=ADMIN)
    assert again.status == 409
    assert await json_of(await router.get("/v1/sip-connections", headers=ADMIN), 200) == before


async def test_a_connection_s_trunks_changed_by_hand_are_reported_then_repaired(make_router, twirp):
    router, standin, connection, agent = await _setup(make_router, twirp)
    side = {"outbound": {"address": "pbx.acme.example", "username": "o", "password": "p-1"}}
    url = f"/v1/sip-connections/{connection['id']}"
    assert (await router.patch(url, json=side, headers=ADMIN)).status == 200
    await import_number(
        router, e164="+12015550991", agentId=agent, direction="both",
        sipConnectionInstallationId=connection["id"],
    )  # fmt: skip
    [trunk] = _connection_trunks(standin, connection)
    # By hand at LiveKit: the number taken off the inbound trunk (another added), its
    # password changed, and the outbound trunk deleted.
    del trunk.numbers[:]
    trunk.numbers.append("+19995550000")
    trunk.auth_password = "changed-by-hand"
    standin.outbound.clear()
    looked = await router.post("/v1/provisioning/reconcile", json={"fix": False}, headers=ADMIN)
    [org] = (await json_of(looked, 200))["organizations"]
    words = " | ".join(org["connections"])
    assert "its inbound trunk holds ['+19995550000'], its numbers are ['+12015550991']" in words
    assert "its outbound trunk holds nothing" in words
    assert "credentials or media encryption are not the connection's" in words
    assert standin.outbound == {}  # only looked
    fixed = await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    assert (await json_of(fixed, 200))["organizations"][0]["fixed"] is True
    [trunk] = _connection_trunks(standin, connection)
    assert list(trunk.numbers) == ["+12015550991"]
    [out] = standin.outbound.values()
    assert (list(out.numbers), out.auth_password) == (["+12015550991"], "p-1")
    again = await router.post("/v1/provisioning/reconcile", json={"fix": False}, headers=ADMIN)
    assert "connections" not in (await json_of(again, 200))["organizations"][0]
    # The inbound trunk's settings are followed too (a password changed by hand, put back).
    assert trunk.auth_password == "in-Secret-7f3a9c"
