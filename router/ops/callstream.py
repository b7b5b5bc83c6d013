"""``GET /v1/calls/events``: each call decision as it is made, as Server-Sent Events.

What ``python -m router calls tail`` reads. Each decided record the workers publish is one
``event: call`` whose ``data`` is the record's JSON (the body of ``GET /v1/calls/{id}``),
filtered like the list (``status``, ``number``, ``agent``); a comment line every 15 s keeps
proxies from closing an idle stream. The stream lives until the client goes away or the
router stops; it is exempt from the admin API's Redis deadline (it waits by design).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from router import logs
from router.core.records import CallRecord
from router.ops.callquery import CALL_FILTERS, calls_query
from router.store import keys
from router.web import state
from router.web.apidoc import documented
from router.web.auth import scope_of
from router.web.httpapi import long_lived

log = logs.get(__name__)
routes = web.RouteTableDef()
KEEPALIVE_S = 15.0
POLL_S = 1.0  # how often a quiet stream looks whether its client or the router is going
_STOPPING = web.AppKey("call_streams_stopping", asyncio.Event)
_record = msgspec.json.Decoder(CallRecord)


def install(app: web.Application) -> None:
    """The route, and its streams ended when the router stops (before connections close)."""
    app[_STOPPING] = asyncio.Event()

    async def stop_streams(app: web.Application) -> None:
        app[_STOPPING].set()

    app.on_shutdown.append(stop_streams)
    app.add_routes(routes)


@routes.get("/v1/calls/events")
@documented(
    response=CallRecord, media_type="text/event-stream", query=CALL_FILTERS[:3], role="viewer"
)
@long_lived
async def call_events(request: web.Request) -> web.StreamResponse:
    """Call decisions as they are made (``text/event-stream``; one ``call`` event each)."""
    query = calls_query(request.query, request.app[state.CONFIG].default_region, scope_of(request))
    pubsub: Any = request.app[state.REDIS].pubsub()
    await pubsub.subscribe(keys.CALLS_CHANNEL)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    try:
        await response.prepare(request)
        await response.write(b": listening for call decisions\n\n")
        loop = asyncio.get_running_loop()
        quiet_until = loop.time() + KEEPALIVE_S
        stopping = request.app[_STOPPING]
        while not stopping.is_set():
            if request.transport is None or request.transport.is_closing():
                break  # the client went away (seen within a poll, not at the next write)
            wait = min(max(quiet_until - loop.time(), 0.0), POLL_S)
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
            if message is None:  # no message (or one not for us: a confirmation)
                if loop.time() >= quiet_until:
                    await response.write(b": keep-alive\n\n")
                    quiet_until = loop.time() + KEEPALIVE_S
                continue
            if message["type"] != "message":
                continue
            data: bytes = message["data"]
            if query.keep(_record.decode(data)):
                await response.write(b"event: call\ndata: " + data + b"\n\n")
    except (ConnectionResetError, ConnectionError):
        log.info("call_events_client_gone")
    finally:
        await pubsub.aclose()
    return response
