"""Who may call the admin API (``web.auth``): the bearer token, the operator token unset, and
every route registered with the role it needs (``web.routing``) or start-up refused."""

from __future__ import annotations

import pytest
from aiohttp import web

from router.server.app import build_app
from router.web import routing
from router.web.routing import PUBLIC, ROLES, Routes, RouteWithoutRole, required_role
from tests.conftest import ADMIN, make_config, refused


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "x"}])
async def test_admin_api_needs_the_bearer_token(admin, headers):
    await refused(await admin.get("/v1/phone-numbers", headers=headers), 401, "UNAUTHORIZED")


async def test_admin_api_is_refused_when_no_token_is_configured(make_router):
    client = await make_router(worker=False, ROUTER_ADMIN_TOKEN=None)
    body = await refused(await client.get("/v1/agents", headers=ADMIN), 401, "UNAUTHORIZED")
    assert "ROUTER_ADMIN_TOKEN" in body["error"]


# ---- every route says who may call it (web.routing) ---------------------------------------


def _app_with(routes: Routes) -> web.Application:
    app = build_app(make_config(), "redis://127.0.0.1:1", worker=False)
    app.add_routes(routes)
    return app


def test_a_route_registered_without_a_role_stops_start_up():
    table = web.RouteTableDef()

    @table.get("/v1/forgotten")
    async def forgotten(request: web.Request) -> web.Response:
        return web.json_response({})

    app = build_app(make_config(), "redis://127.0.0.1:1", worker=False)
    app.add_routes(table)
    with pytest.raises(RouteWithoutRole, match="/v1/forgotten declares no role"):
        routing.check(app)


def test_a_v1_route_cannot_be_public_and_a_role_must_be_known():
    routes = Routes()

    @routes.get("/v1/open", role=PUBLIC)
    async def open_route(request: web.Request) -> web.Response:
        return web.json_response({})

    with pytest.raises(RouteWithoutRole, match="a /v1 route cannot be public"):
        routing.check(_app_with(routes))
    with pytest.raises(RouteWithoutRole, match="'superuser' is not a role"):
        routes.get("/v1/other", role="superuser")


def test_every_route_of_the_router_is_registered_with_a_role(admin):
    for route in admin.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        role = required_role(route.handler)
        assert role in (*ROLES, PUBLIC), (route.method, path)
        assert (role == PUBLIC) == (not path.startswith("/v1/")), (route.method, path)


async def test_a_key_below_the_registered_role_is_403_before_anything_is_read(admin):
    made = await admin.post("/v1/organizations", json={"name": "Acme"}, headers=ADMIN)
    org = (await made.json())["id"]
    body = {"name": "v", "role": "viewer"}
    made = await admin.post(f"/v1/organizations/{org}/api-keys", json=body, headers=ADMIN)
    viewer = {"Authorization": f"Bearer {(await made.json())['key']}"}
    assert (await admin.get("/v1/agents", headers=viewer)).status == 200  # role "viewer"
    body = {"name": "a", "livekitAgentName": "a"}
    resp = await admin.post("/v1/agents", json=body, headers=viewer)  # role "agent_manager"
    await refused(resp, 403, "FORBIDDEN")
    assert "needs agent_manager" in (await resp.json())["error"]
