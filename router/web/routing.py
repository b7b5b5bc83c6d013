"""Every route says, where it is registered, who may call it; a route that says nothing is
refused when the app is built (deny by default).

``routes = Routes()`` stands in for aiohttp's ``RouteTableDef``: ``@routes.get(path,
role="viewer")``. The roles, least first, are ``ROLES``: an organization's API key holds one of
the first three, the operator (``ROUTER_ADMIN_TOKEN``) may do everything in every organization.
``PUBLIC`` routes take no bearer token: the webhooks check their carrier's signature instead,
and health, metrics, the console page and the API document hold no organization's data.
``web.auth`` enforces the role; ``web.openapi`` documents it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from aiohttp import hdrs, web

H = TypeVar("H", bound=Callable[..., Any])
ROLES = ("viewer", "agent_manager", "admin", "operator")
PUBLIC = "public"
_ROLE = "__required_role__"
API_PREFIX = "/v1/"


class RouteWithoutRole(RuntimeError):
    """A route registered with no role, or a ``/v1`` route declared public: a programming
    error that stops start-up, never a route served to anyone."""


class Routes:
    """A table of routes, each with the role it requires."""

    def __init__(self) -> None:
        self._table = web.RouteTableDef()

    def __iter__(self) -> Iterator[web.AbstractRouteDef]:
        return iter(self._table)

    def route(self, method: str, path: str, *, role: str) -> Callable[[H], H]:
        if role != PUBLIC and role not in ROLES:
            raise RouteWithoutRole(f"{method} {path}: {role!r} is not a role ({ROLES}, {PUBLIC})")
        register = self._table.route(method, path)

        def mark(handler: H) -> H:
            setattr(handler, _ROLE, role)
            register(handler)
            return handler

        return mark

    def get(self, path: str, *, role: str) -> Callable[[H], H]:
        return self.route(hdrs.METH_GET, path, role=role)

    def post(self, path: str, *, role: str) -> Callable[[H], H]:
        return self.route(hdrs.METH_POST, path, role=role)

    def put(self, path: str, *, role: str) -> Callable[[H], H]:
        return self.route(hdrs.METH_PUT, path, role=role)

    def patch(self, path: str, *, role: str) -> Callable[[H], H]:
        return self.route(hdrs.METH_PATCH, path, role=role)

    def delete(self, path: str, *, role: str) -> Callable[[H], H]:
        return self.route(hdrs.METH_DELETE, path, role=role)


def required_role(handler: Any) -> str | None:
    """The role a handler was registered with (None: not registered through ``Routes``)."""
    role: str | None = getattr(handler, _ROLE, None)
    return role


def check(app: web.Application) -> None:
    """Refuse to build an app with a route nobody said who may call (deny by default)."""
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else "?"
        role = required_role(route.handler)
        if role is None:
            raise RouteWithoutRole(
                f"{route.method} {path} declares no role: register it with "
                "router.web.routing.Routes and a role"
            )
        if role == PUBLIC and path.startswith(API_PREFIX):
            raise RouteWithoutRole(f"{route.method} {path}: a /v1 route cannot be public")
