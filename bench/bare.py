"""The ingress ceilings: a bare aiohttp handler that reads the body and answers 200, and (with
``--verify``) the same handler that also checks the LiveKit token the router checks, with the
router's own ``verify`` and nothing else — the floor the token check alone sets."""

from __future__ import annotations

import sys

from aiohttp import web

from router.ingress.livekit_webhook import verify
from tests.livekit_helpers import API_KEY, API_SECRET


async def ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


async def verified(request: web.Request) -> web.Response:
    body = await request.read()
    verify(API_KEY, API_SECRET, body, request.headers.get("Authorization", ""))
    return web.Response(text="ok")


def main() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = web.Application()
    app.router.add_post("/{tail:.*}", verified if "--verify" in sys.argv else ok)
    app.router.add_get("/healthz", ok)
    web.run_app(app, port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
