"""Organizations and API keys: every ``/v1`` route by {own key, another organization's key,
revoked key, viewer key} over real HTTP on a real Valkey; another organization's resource is
404, never 403; routing never crosses organizations; keys are kept as hashes and revoked
everywhere within a second; number limits; rows from before organizations keep routing."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import aiohttp
import pytest

from router.server.app import build_app
from router.store import keys
from router.web import state
from tests.conftest import (
    ADMIN,
    WHSEC,
    bearer,
    json_of,
    make_config,
    make_key,
    make_org,
    post_livekit,
    sip_join_event,
    wait_key,
    wait_record,
)

METHODS = ("get", "post", "put", "patch", "delete")


class World:
    """Two organizations, each with an agent, a number and a routed call; org A's keys of
    every role, and one revoked."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.keys: dict[str, dict[str, str]] = {}


@pytest.fixture
async def world(router, twirp, redis) -> World:
    w = World()
    for name, number, call in (("A", "+12015550101", "SCL_a"), ("B", "+12015550202", "SCL_b")):
        org = await make_org(router, f"Org {name}")
        admin = await make_key(router, org["id"], "admin")
        agent = await json_of(
            await router.post(
                "/v1/agents",
                json={"name": f"{name} agent", "livekitAgentName": f"agent-{name.lower()}"},
                headers=bearer(admin["key"]),
            ),
            201,
        )
        row = await json_of(
            await router.post(
                "/v1/phone-numbers/import",
                json={"e164": number, "agentId": agent["id"]},
                headers=bearer(admin["key"]),
            ),
            201,
        )
        assert row["organizationId"] == org["id"]
        event = sip_join_event(call_id=call, room=f"room-{call}", dialed=number)
        assert (await post_livekit(router, event)).status == 200
        assert (await wait_record(redis, call)).organization_id == org["id"]
        w.ids[f"org{name}"], w.ids[f"agent{name}"], w.ids[f"number{name}"] = (
            org["id"], agent["id"], row["id"]
        )  # fmt: skip
        w.ids[f"call{name}"] = call
        w.keys[f"admin{name}"] = bearer(admin["key"])
    org_a = w.ids["orgA"]
    w.keys["viewerA"] = bearer((await make_key(router, org_a, "viewer"))["key"])
    w.keys["managerA"] = bearer((await make_key(router, org_a, "agent_manager"))["key"])
    gone = await make_key(router, org_a, "admin")
    resp = await router.delete(f"/v1/organizations/{org_a}/api-keys/{gone['id']}", headers=ADMIN)
    await json_of(resp, 200)
    w.keys["revokedA"] = bearer(gone["key"])
    w.ids["connA"] = (await _connection(router, w.keys["adminA"]))["id"]
    return w


async def _connection(router: Any, headers: Any) -> dict[str, Any]:
    body = {"name": "PBX", "inbound": {"allowedAddresses": ["192.0.2.1"]}}
    return await json_of(await router.post("/v1/sip-connections", json=body, headers=headers), 201)


# (method, path with {placeholders} of World.ids, body) → statuses for
# (A's admin, B's admin, A's revoked key, A's viewer, A's agent manager)
MATRIX: list[tuple[str, str, Any, tuple[int, int, int, int, int]]] = [
    ("get", "/v1/phone-numbers", None, (200, 200, 401, 200, 200)),
    ("post", "/v1/phone-numbers/import",
     {"e164": "+1201555{n}", "dispatchMetadataTemplate": {"k": "v"}}, (201, 201, 401, 403, 201)),
    ("get", "/v1/phone-numbers/{numberA}", None, (200, 404, 401, 200, 200)),
    ("patch", "/v1/phone-numbers/{numberA}", {"label": "x"}, (200, 404, 401, 403, 200)),
    ("delete", "/v1/phone-numbers/{spareNumber}", None, (200, 404, 401, 403, 200)),
    # No provider in this world: buying is 501 once the role allows it.
    ("post", "/v1/phone-numbers", {}, (501, 501, 401, 403, 403)),
    ("get", "/v1/phone-numbers/available", None, (501, 501, 401, 501, 501)),
    ("get", "/v1/phone-numbers/kyb", None, (200, 200, 401, 200, 200)),
    ("put", "/v1/phone-numbers/kyb/draft", {"businessProfile": {"legalName": "A"}},
     (200, 200, 401, 403, 403)),
    # Incomplete: refused naming the first missing field, once the role allows.
    ("post", "/v1/phone-numbers/kyb/submit", {}, (400, 400, 401, 403, 403)),
    ("post", "/v1/organizations/{orgA}/kyb/review", {"decision": "approve"},
     (403, 403, 401, 403, 403)),
    ("get", "/v1/credits", None, (200, 200, 401, 200, 200)),
    ("post", "/v1/organizations/{orgA}/credits", {"amountCents": 100, "reason": "x"},
     (403, 403, 401, 403, 403)),
    ("get", "/v1/agents", None, (200, 200, 401, 200, 200)),
    ("post", "/v1/agents", {"name": "n", "livekitAgentName": "n"}, (201, 201, 401, 403, 201)),
    ("get", "/v1/agents/{agentA}", None, (200, 404, 401, 200, 200)),
    ("patch", "/v1/agents/{agentA}", {"prompt": "p"}, (200, 404, 401, 403, 200)),
    ("delete", "/v1/agents/{spareAgent}", None, (200, 404, 401, 403, 200)),
    ("get", "/v1/calls", None, (200, 200, 401, 200, 200)),
    ("get", "/v1/calls/{callA}", None, (200, 404, 401, 200, 200)),
    ("get", "/v1/calls/events", None, (200, 200, 401, 200, 200)),
    # Provisioning is off in this world: outbound calls need it (501) once the role allows.
    ("post", "/v1/calls/outbound", {"from": "+12015550101", "to": "+14155550100"},
     (501, 501, 401, 403, 501)),
    ("post", "/v1/route/preview", {"dialedNumber": "+12015550101"}, (200, 200, 401, 200, 200)),
    ("get", "/v1/dead-letters", None, (200, 200, 401, 403, 403)),
    ("post", "/v1/dead-letters/replay", {"ids": ["1-1"]}, (200, 200, 401, 403, 403)),
    ("get", "/v1/audit", None, (200, 200, 401, 403, 403)),
    ("post", "/v1/provisioning/reconcile", {}, (403, 403, 401, 403, 403)),
    ("get", "/v1/organizations/{orgA}/integrations", None, (501, 404, 401, 403, 403)),
    ("put", "/v1/organizations/{orgA}/integrations/telnyx", {"apiKey": "k"},
     (501, 404, 401, 403, 403)),
    ("delete", "/v1/organizations/{orgA}/integrations/telnyx", None, (501, 404, 401, 403, 403)),
    ("get", "/v1/organizations", None, (403, 403, 401, 403, 403)),
    ("post", "/v1/organizations", {"name": "n"}, (403, 403, 401, 403, 403)),
    ("get", "/v1/organizations/{orgA}", None, (200, 404, 401, 200, 200)),
    ("patch", "/v1/organizations/{orgA}", {"numberLimit": 5}, (403, 403, 401, 403, 403)),
    ("delete", "/v1/organizations/{orgA}", None, (403, 403, 401, 403, 403)),
    ("post", "/v1/organizations/{orgA}/api-keys", {"name": "k", "role": "viewer"},
     (201, 404, 401, 403, 403)),
    ("get", "/v1/organizations/{orgA}/api-keys", None, (200, 404, 401, 403, 403)),
    ("delete", "/v1/organizations/{orgA}/api-keys/{spareKey}", None, (200, 404, 401, 403, 403)),
    ("get", "/v1/sip-connections", None, (200, 200, 401, 200, 200)),
    ("post", "/v1/sip-connections", {"name": "c", "inbound": {"allowedAddresses": ["192.0.2.2"]}},
     (201, 201, 401, 403, 403)),
    ("get", "/v1/sip-connections/{connA}", None, (200, 404, 401, 200, 200)),
    ("patch", "/v1/sip-connections/{connA}", {"name": "x"}, (200, 404, 401, 403, 403)),
    ("delete", "/v1/sip-connections/{spareConnection}", None, (200, 404, 401, 403, 403)),
]  # fmt: skip
WHO = ("adminA", "adminB", "revokedA", "viewerA", "managerA")


def test_the_matrix_covers_every_v1_route(router):
    listed = set()
    for method, path, _, _ in MATRIX:
        template = path.replace("{spareNumber}", "{id}").replace("{numberA}", "{id}")
        for name in ("agentA", "spareAgent", "callA", "orgA", "connA", "spareConnection"):
            template = template.replace("{" + name + "}", "{id}")
        template = template.replace("{spareKey}", "{keyId}").replace("/telnyx", "/{carrier}")
        listed.add((method, template))
    routes = set()
    for route in router.app.router.routes():
        info = route.resource.get_info()
        path = (info.get("path") or info.get("formatter")).replace("{tail:.*}", "{tail}")
        if path.startswith("/v1/"):
            for method in METHODS if route.method == "*" else (route.method.lower(),):
                if method != "head":
                    routes.add((method, path))
    assert routes == listed


async def _spares(router: Any, w: World, n: int) -> dict[str, str]:
    """A fresh number, agent and key of A's to delete (each principal deletes its own)."""
    admin = w.keys["adminA"]
    agent = await json_of(
        await router.post(
            "/v1/agents", json={"name": "spare", "livekitAgentName": "spare"}, headers=admin
        ),
        201,
    )
    row = await json_of(
        await router.post(
            "/v1/phone-numbers/import",
            json={"e164": f"+1201556{n:04d}", "agentId": w.ids["agentA"]},
            headers=admin,
        ),
        201,
    )
    key = await make_key(router, w.ids["orgA"], "viewer")
    connection = await _connection(router, admin)
    return {
        "spareNumber": row["id"], "spareAgent": agent["id"], "spareKey": key["id"],
        "spareConnection": connection["id"],
    }  # fmt: skip


async def test_isolation_matrix(router, world):
    w = world
    n = 0
    failures = []
    for method, path, body, expected in MATRIX:
        for who, status in zip(WHO, expected, strict=True):
            n += 1
            ids = {**w.ids, **(await _spares(router, w, n) if "spare" in path else {})}
            url = path.format(**ids)
            payload = json.loads(json.dumps(body).replace("{n}", f"{n:04d}")) if body else body
            kwargs: dict[str, Any] = {"headers": w.keys[who]}
            if payload is not None:
                kwargs["json"] = payload
            resp = await router.request(method.upper(), url, **kwargs)
            if resp.status != status:
                failures.append(f"{method.upper()} {path} as {who}: {resp.status}, not {status}")
            if resp.status >= 400:
                error = await resp.json()
                assert set(error) >= {"error", "code"}
            resp.close()
    assert failures == [], "\n".join(failures)


async def test_lists_and_calls_never_show_another_organizations_rows(router, world):
    w = world
    for who, mine, theirs in (("adminA", "A", "B"), ("adminB", "B", "A")):
        numbers = await json_of(await router.get("/v1/phone-numbers", headers=w.keys[who]), 200)
        assert [r["id"] for r in numbers] == [w.ids[f"number{mine}"]]
        agents = await json_of(await router.get("/v1/agents", headers=w.keys[who]), 200)
        assert [a["id"] for a in agents] == [w.ids[f"agent{mine}"]]

        calls = await json_of(await router.get("/v1/calls", headers=w.keys[who]), 200)
        assert w.ids[f"call{theirs}"] not in [c["callId"] for c in calls]
    # The preview with A's key does not see B's number: as if it did not exist.
    preview = await json_of(
        await router.post(
            "/v1/route/preview", json={"dialedNumber": "+12015550202"}, headers=w.keys["adminA"]
        ),
        200,
    )
    assert preview["action"] == "reject"
    everything = await json_of(await router.get("/v1/phone-numbers", headers=ADMIN), 200)
    assert {r["organizationId"] for r in everything} == {w.ids["orgA"], w.ids["orgB"]}


async def test_a_number_belongs_to_one_organization_and_agents_do_not_cross(router, world):
    w = world
    taken = await router.post(
        "/v1/phone-numbers/import",
        json={"e164": "+12015550101", "dispatchMetadataTemplate": {"k": "v"}},
        headers=w.keys["adminB"],
    )
    assert (await json_of(taken, 409))["code"] == "CONFLICT"
    foreign = await router.post(
        "/v1/phone-numbers/import",
        json={"e164": "+12015550303", "agentId": w.ids["agentA"]},
        headers=w.keys["adminB"],
    )
    body = await json_of(foreign, 400)
    assert body["field"] == "agentId"
    assert "does not exist" in body["error"]  # not "belongs to another organization"
    relink = await router.patch(
        f"/v1/phone-numbers/{w.ids['numberB']}",
        json={"agentId": w.ids["agentA"]},
        headers=w.keys["adminB"],
    )
    await json_of(relink, 400)
    smuggle = await router.post(
        "/v1/agents",
        json={"name": "x", "livekitAgentName": "x", "organizationId": w.ids["orgA"]},
        headers=w.keys["adminB"],
    )
    assert (await json_of(smuggle, 400))["field"] == "organizationId"


async def test_routing_never_crosses_organizations(router, twirp, redis, world):
    """A's shared landing number is never steered to B's row, even when the call was
    forwarded from B's number."""
    w = world
    await json_of(
        await router.post(
            "/v1/phone-numbers/import",
            json={"e164": "+12015550500", "agentId": w.ids["agentA"], "sharedLanding": True},
            headers=w.keys["adminA"],
        ),
        201,
    )
    event = sip_join_event(
        call_id="SCL_cross",
        dialed="+12015550500",
        headers={"Diversion": "<sip:+12015550202@pbx.example.com>;reason=unconditional"},
    )
    assert (await post_livekit(router, event)).status == 200
    record = await wait_record(redis, "SCL_cross")
    assert record.organization_id == w.ids["orgA"]
    assert record.agent_id == w.ids["agentA"]  # A's landing agent, not B's
    assert record.phone_number_id != w.ids["numberB"]


async def test_keys_are_shown_once_and_stored_as_hashes(router, redis, world):
    w = world
    made = await make_key(router, w.ids["orgA"], "viewer", headers=w.keys["adminA"])
    assert made["key"].startswith("sk_")
    assert len(made["key"]) >= 35
    assert made["prefix"] == made["key"][:10]
    listed = await json_of(
        await router.get(f"/v1/organizations/{w.ids['orgA']}/api-keys", headers=ADMIN), 200
    )
    assert made["id"] in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)
    dump = b"".join(v for v in (await redis.hgetall(keys.API_KEYS)).values())
    dump += b"".join((await redis.hgetall(keys.API_KEYS)).keys())
    assert made["key"].encode() not in dump
    assert (await router.get("/v1/agents", headers=bearer(made["key"]))).status == 200


async def test_revocation_reaches_every_web_process_within_a_second(
    router, aiohttp_client, valkey_url, world
):
    other = await aiohttp_client(build_app(make_config(), valkey_url, worker=False))
    key = await make_key(router, world.ids["orgA"], "viewer")
    headers = bearer(key["key"])
    assert (await other.get("/v1/agents", headers=headers)).status == 200  # cached there now
    revoke = f"/v1/organizations/{world.ids['orgA']}/api-keys/{key['id']}"
    await json_of(await router.delete(revoke, headers=ADMIN), 200)
    async with asyncio.timeout(1.0):
        # The other process's own answer, asked again until it refuses the key.
        while (await other.get("/v1/agents", headers=headers)).status != 401:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_the_number_limit_is_402(router):
    org = await make_org(router, "Small", numberLimit=2)
    admin = bearer((await make_key(router, org["id"], "admin"))["key"])
    tmpl = {"dispatchMetadataTemplate": {"a": "b"}}
    for n in range(2):
        body = {"e164": f"+1201557000{n}", **tmpl}
        await json_of(await router.post("/v1/phone-numbers/import", json=body, headers=admin), 201)
    over = await router.post(
        "/v1/phone-numbers/import", json={"e164": "+12015570009", **tmpl}, headers=admin
    )
    body = await json_of(over, 402)
    assert body["code"] == "LIMIT_REACHED"
    await json_of(
        await router.patch(
            f"/v1/organizations/{org['id']}", json={"numberLimit": 3}, headers=ADMIN
        ),
        200,
    )
    again = await router.post(
        "/v1/phone-numbers/import", json={"e164": "+12015570009", **tmpl}, headers=admin
    )
    await json_of(again, 201)


async def test_an_organization_is_deleted_only_when_empty_and_its_keys_go_with_it(router):
    org = await make_org(router, "Brief")
    admin = bearer((await make_key(router, org["id"], "admin"))["key"])
    agent = await json_of(
        await router.post("/v1/agents", json={"name": "a", "livekitAgentName": "a"}, headers=admin),
        201,
    )
    busy = await router.delete(f"/v1/organizations/{org['id']}", headers=ADMIN)
    assert (await json_of(busy, 409))["code"] == "CONFLICT"
    await json_of(await router.delete(f"/v1/agents/{agent['id']}", headers=admin), 200)
    await json_of(await router.delete(f"/v1/organizations/{org['id']}", headers=ADMIN), 200)
    assert (await router.get("/v1/agents", headers=admin)).status == 401


async def test_rows_from_before_organizations_belong_to_default_and_keep_routing(
    router, twirp, redis
):
    """The upgrade path: rows written by an older router (no organizationId, no per-
    organization indexes) route at once and are listed under "default" once indexed."""
    agent = {
        "id": "ag_old", "name": "Old", "livekitAgentName": "old-agent",
        "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip
    row = {
        "id": "pn_old", "e164": "+12015550999", "source": "sip_trunk", "direction": "inbound",
        "agentId": "ag_old", "sipTrunkId": "ST_trunk1",
        "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip
    await redis.hset(keys.AGENTS, "ag_old", json.dumps(agent))
    await redis.hset(keys.NUMBERS, "pn_old", json.dumps(row))
    await redis.hset(keys.E164_INDEX, "+12015550999", "pn_old")
    await redis.hset(keys.AGENT_LINKS, "ag_old", 1)
    await redis.delete(keys.INDEX_VERSION)
    event = sip_join_event(call_id="SCL_old", dialed="+12015550999")
    assert (await post_livekit(router, event)).status == 200
    record = await wait_record(redis, "SCL_old")
    assert record.status == "dispatched"
    assert record.organization_id == "default"
    assert await router.app[state.REGISTRY].ensure_indexes() >= 1
    default = bearer((await make_key(router, "default", "viewer"))["key"])
    numbers = await json_of(await router.get("/v1/phone-numbers", headers=default), 200)
    assert [(r["id"], r["organizationId"]) for r in numbers] == [("pn_old", "default")]
    await wait_key(redis, keys.RECENT_CALLS, lambda: _noted(redis))
    calls = await json_of(await router.get("/v1/calls", headers=default), 200)
    assert "SCL_old" in [c["callId"] for c in calls]


async def _noted(redis: Any) -> bool:
    return bool(await redis.exists(keys.RECENT_CALLS))


async def test_the_request_budget_is_shared_by_every_web_process(
    make_router, aiohttp_client, valkey_url
):
    first = await make_router(ROUTER_ORG_RATE_PER_S=0.5, ROUTER_ORG_BURST=3)
    second = await aiohttp_client(
        build_app(
            make_config(ROUTER_ORG_RATE_PER_S=0.5, ROUTER_ORG_BURST=3), valkey_url, worker=False
        )
    )
    org = await make_org(first, "Busy")
    key = bearer((await make_key(first, org["id"], "viewer"))["key"])
    answers = [
        (await (first if n % 2 == 0 else second).get("/v1/agents", headers=key)) for n in range(4)
    ]
    assert [r.status for r in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    body = await refused.json()
    assert body["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    # The body says the wait Retry-After says (it once said "retry in 0.0 s" beside a 1).
    assert f"retry in {refused.headers['Retry-After']} s" in body["error"]
    # Another organization's budget is its own; the operator is not rationed.
    other = await make_org(first, "Calm")
    calm = bearer((await make_key(first, other["id"], "viewer"))["key"])
    assert (await second.get("/v1/agents", headers=calm)).status == 200
    for _ in range(5):
        assert (await first.get("/v1/agents", headers=ADMIN)).status == 200


async def test_every_write_is_audited_without_secrets(router, redis, world):
    w = world
    admin = w.keys["adminA"]
    hook = {"preCall": {"url": "https://hooks.example.com/pre", "secret": WHSEC}}
    agent = await json_of(
        await router.post(
            "/v1/agents",
            json={"name": "Hooked", "livekitAgentName": "hooked", "webhooks": hook},
            headers=admin,
        ),
        201,
    )
    await json_of(
        await router.patch(
            f"/v1/phone-numbers/{w.ids['numberA']}", json={"agentId": agent["id"]}, headers=admin
        ),
        200,
    )
    key = await make_key(router, w.ids["orgA"], "viewer", headers=admin)
    entries = await json_of(await router.get("/v1/audit", headers=admin), 200)
    newest = entries[0]
    assert (newest["action"], newest["resource"]) == ("api_key.created", key["id"])
    assert (newest["who"] == w.keys["adminA"] and False) or newest["who"].startswith("key_")
    assert newest["role"] == "admin"
    relinked = entries[1]
    assert relinked["action"] == "phone_number.updated"
    assert relinked["changes"] == {"agentId": {"before": w.ids["agentA"], "after": agent["id"]}}
    created = entries[2]
    assert created["action"] == "agent.created"
    assert created["changes"]["webhooks"]["after"]["preCall"]["secret"] == "***"
    raw = b"".join(f[b"e"] for _, f in await redis.xrange(f"router:{{audit:{w.ids['orgA']}}}"))
    assert WHSEC.encode() not in raw
    assert key["key"].encode() not in raw
    # The operator's writes are there too, as the operator's; B's key sees only B's log.
    assert any(e["who"] == "operator" and e["action"] == "api_key.revoked" for e in entries)
    theirs = await json_of(await router.get("/v1/audit", headers=w.keys["adminB"]), 200)
    assert {e["resource"] for e in theirs}.isdisjoint({agent["id"], key["id"]})
    peek = await router.get(f"/v1/audit?organizationId={w.ids['orgA']}", headers=w.keys["adminB"])
    assert (await json_of(peek, 400))["field"] == "organizationId"
    operator = await json_of(
        await router.get(f"/v1/audit?organizationId={w.ids['orgA']}&limit=2", headers=ADMIN),
        200,
    )
    assert [e["id"] for e in operator] == [e["id"] for e in entries[:2]]


async def _web(valkey_url: str, token: str) -> tuple[Any, str]:
    """``python -m router web`` on the test Valkey, as the Procfile runs it; its base URL."""
    proc: Any = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "web",
        env={**os.environ, "REDIS_URL": valkey_url, "PORT": "0", "ROUTER_ADMIN_TOKEN": token,
             "ROUTER_HOST": "127.0.0.1"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        while line := await proc.stderr.readline():
            event = json.loads(line)
            if event.get("event") == "listening":
                return proc, f"http://127.0.0.1:{event['port']}"
    raise AssertionError("web never listened")


async def test_organizations_and_keys_survive_a_kill_9(redis, valkey_url):
    token = "o" * 32
    operator = {"Authorization": f"Bearer {token}"}
    first, base = await _web(valkey_url, token)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/v1/organizations", json={"name": "Kept"}, headers=operator
        ) as r:
            org = await json_of(r, 201)
        body = {"name": "kept", "role": "viewer"}
        url = f"{base}/v1/organizations/{org['id']}/api-keys"
        async with http.post(url, json=body, headers=operator) as r:
            key = await json_of(r, 201)
        first.kill()  # SIGKILL: no shutdown hook runs
        await first.wait()
        second, base = await _web(valkey_url, token)
        try:
            async with http.get(f"{base}/v1/agents", headers=bearer(key["key"])) as r:
                assert r.status == 200
            async with http.get(f"{base}/v1/organizations/{org['id']}", headers=operator) as r:
                assert (await json_of(r, 200))["name"] == "Kept"
        finally:
            second.terminate()
            await second.wait()


async def test_the_default_organization_comes_back_if_it_went_missing(router, redis):
    await redis.delete(keys.ORGS)  # e.g. a Redis flushed under a running router
    resp = await router.post(
        "/v1/agents", json={"name": "a", "livekitAgentName": "a"}, headers=ADMIN
    )
    assert (await json_of(resp, 201))["organizationId"] == "default"


async def test_a_trunk_id_on_another_organizations_numbers_is_not_found(router, twirp):
    """A's key cannot put a number on B's trunk (B's trunk-matched calls would then be
    ambiguous): 404 naming the field, as for every foreign resource; B may add more."""
    orgs = {}
    for name in ("A", "B"):
        org = await make_org(router, f"Trunk {name}")
        orgs[name] = (
            org["id"],
            bearer((await make_key(router, org["id"], "agent_manager"))["key"]),
        )
    body = {"dispatchMetadataTemplate": {"k": "v"}, "sipTrunkId": "ST_b_trunk"}
    await json_of(
        await router.post(
            "/v1/phone-numbers/import", json={"e164": "+12015550901", **body}, headers=orgs["B"][1]
        ),
        201,
    )
    refused = await router.post(
        "/v1/phone-numbers/import", json={"e164": "+12015550902", **body}, headers=orgs["A"][1]
    )
    answer = await json_of(refused, 404)
    assert answer["code"] == "NOT_FOUND"
    assert answer["field"] == "sipTrunkId"
    # A PATCH onto it is refused the same way; B's own second number joins it.
    mine = await json_of(
        await router.post(
            "/v1/phone-numbers/import",
            json={"e164": "+12015550903", "dispatchMetadataTemplate": {"k": "v"}},
            headers=orgs["A"][1],
        ),
        201,
    )
    patched = await router.patch(
        f"/v1/phone-numbers/{mine['id']}", json={"sipTrunkId": "ST_b_trunk"}, headers=orgs["A"][1]
    )
    assert (await json_of(patched, 404))["field"] == "sipTrunkId"
    await json_of(
        await router.post(
            "/v1/phone-numbers/import", json={"e164": "+12015550904", **body}, headers=orgs["B"][1]
        ),
        201,
    )
