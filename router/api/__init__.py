"""The admin API under ``/v1``: one module per resource, each a table of routes that says
which role each needs (``web.routing``) and what it takes and answers (``web.apidoc``).

Adding a resource: its module here with ``routes = Routes()``, and one line in ``ROUTES``.
"""

from __future__ import annotations

from aiohttp import web

from router.api import (
    agents,
    audit,
    call_events,
    calls,
    credits,
    dead_letters,
    kyb,
    organizations,
    outbound_calls,
    phone_numbers,
    provisioning,
    purchases,
    route_preview,
    sip_connections,
)
from router.web.routing import Routes

# In the order aiohttp matches them: a fixed path before a variable one of the same shape
# (/v1/calls/events before /v1/calls/{id}).
ROUTES: tuple[Routes, ...] = (
    kyb.routes,  # before /v1/phone-numbers/{id}
    purchases.routes,  # the same
    phone_numbers.routes,
    agents.routes,
    call_events.routes,
    outbound_calls.routes,  # before /v1/calls/{id}
    calls.routes,
    dead_letters.routes,
    organizations.routes,
    audit.routes,
    provisioning.routes,
    route_preview.routes,
    sip_connections.routes,
    credits.routes,
)


def install(app: web.Application) -> None:
    """Every ``/v1`` route, and what the resources keep for the life of the app."""
    call_events.install(app)
    for table in ROUTES:
        app.add_routes(table)
