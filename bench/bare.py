"""The ingress ceiling: a bare aiohttp handler that reads the body and answers 200."""

from __future__ import annotations

import sys

from aiohttp import web


async def ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


def main() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = web.Application()
    app.router.add_post("/{tail:.*}", ok)
    app.router.add_get("/healthz", ok)
    web.run_app(app, port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
