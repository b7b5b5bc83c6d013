"""``GET /console``: a small read-only page of recent calls and their decision traces.

The page (``templates/console.html``, loaded once) holds no data: its script reads
``GET /v1/calls`` with the admin token, which the operator types in (or hands over in the
URL fragment, which never reaches a server), kept in the browser tab's session storage.
Without the token the page shows nothing but the prompt.
"""

from __future__ import annotations

from aiohttp import web

from router.config import TEMPLATES_DIR
from router.web.routing import PUBLIC, Routes

routes = Routes()
_PAGE = (TEMPLATES_DIR / "console.html").read_text()
_HEADERS = {
    # The page runs only its own inline script and talks only to this origin.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@routes.get("/console", role=PUBLIC)
async def console(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html", headers=_HEADERS)


@routes.get("/", role=PUBLIC)
async def home(request: web.Request) -> web.Response:
    """The router's address in a browser: the console."""
    raise web.HTTPFound("/console")
