"""Who is asking: the operator (``ROUTER_ADMIN_TOKEN``) or an organization's API key.

Every ``/v1`` request carries ``Authorization: Bearer <token>``. The operator token is compared
in constant time; an ``sk_`` key is looked up by its SHA-256 (``store.orgs``) through the
per-process row cache, which forgets a revoked key as soon as the revocation is published.
The role the route was registered with (``web.routing``) is then checked: a key whose role is
too low is a 403 before any resource is read (so it tells nothing of what exists). Handlers
scope what they read and write to ``scope_of(request)``: the key's organization, or None for
the operator.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from router.errors import NotFound, RateLimited, RoleTooLow, Unauthorized, retry_after
from router.store.orgs import KEY_PREFIX, digest
from router.web import state
from router.web.routing import API_PREFIX, PUBLIC, ROLES, required_role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Principal:
    org: str | None  # None: the operator, over every organization
    role: str
    key_id: str | None = None  # None: the operator token
    key_digest: str | None = None  # how a long-lived request re-checks its key (revocation)

    def may(self, needed: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(needed)

    @property
    def who(self) -> str:
        return self.key_id or "operator"


PRINCIPAL = web.RequestKey("principal", Principal)
OPERATOR = Principal(org=None, role="operator")


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def scope_of(request: web.Request) -> str | None:
    """The organization the request is confined to (None: the operator sees all)."""
    return request[PRINCIPAL].org


def own(request: web.Request, org: str | None, missing: str) -> None:
    """404 (never 403: no existence oracle) for another organization's resource."""
    scope = scope_of(request)
    if scope is not None and org != scope:
        raise NotFound(missing)


def auth_middleware(operator_token: str | None) -> Callable[..., Any]:
    expected = f"Bearer {operator_token}".encode() if operator_token else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Every route was registered with its role (web.routing.check); a path that matched
        # no route is a 404 for anyone outside /v1, and inside it only for a known caller
        # (the 404 tells nothing of what exists to a stranger).
        needed = required_role(request.match_info.handler)
        if needed == PUBLIC or (needed is None and not request.path.startswith(API_PREFIX)):
            return await handler(request)
        needed = needed or "viewer"
        # Header bytes that are not UTF-8 arrive surrogate-escaped: compare them as sent.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        principal = None
        if expected is not None and hmac.compare_digest(given, expected):
            principal = OPERATOR
        elif given.startswith(b"Bearer " + KEY_PREFIX.encode()):
            key_digest = digest(given[7:].decode(errors="replace"))
            key = await request.app[state.ROWS].api_key(key_digest)
            if key is not None:
                principal = Principal(
                    org=key.organization_id, role=key.role, key_id=key.id, key_digest=key_digest
                )
        if principal is None:
            if expected is None and not given.startswith(b"Bearer " + KEY_PREFIX.encode()):
                raise Unauthorized(
                    "the operator token is not set (ROUTER_ADMIN_TOKEN): use an "
                    "organization's API key (sk_...)"
                )
            raise Unauthorized("Unauthorized")
        if not principal.may(needed):
            raise RoleTooLow(
                f"this key's role ({principal.role}) cannot do this: it needs {needed}"
            )
        if principal.org is not None:  # the operator is not rationed
            wait = await request.app[state.RATES].take(principal.org)
            if wait > 0:
                # The body says what Retry-After says: whole seconds, rounded up (RFC 9110).
                raise RateLimited(
                    f"organization {principal.org} is over its admin API budget; retry in "
                    f"{retry_after(wait)} s",
                    retry_after_s=wait,
                )
        request[PRINCIPAL] = principal
        return await handler(request)

    return middleware
