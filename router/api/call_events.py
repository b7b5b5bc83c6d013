"""``GET /v1/calls/events``: each call decision as it is made, as Server-Sent Events.

What ``python -m router calls tail`` reads. Each decided record the workers publish is one
``event: call`` whose ``data`` is the record's JSON (the body of ``GET /v1/calls/{id}``),
filtered like the list (``status``, ``number``, ``agent``), with the call's id as the
event's ``id``; a comment line every 5 s keeps proxies from closing an idle stream and lets a
client notice a dead one. A client that reconnects with ``Last-Event-ID`` (the last call it
saw) first gets the calls decided since that one (at most ``REPLAY_MAX``, from the recent
calls), then the live ones, none twice.

A stream costs no Redis connection of its own: the process's one subscription
(``store.callfeed``) hands it the records, and the streams one process holds are capped in all,
per organization and per key (429 past a cap). Setting a stream up (the key, the budget) is
under the request's Redis deadline like any ``/v1`` request; after that, each second the
stream re-checks its API key under a deadline of its own: a revoked key's stream ends within
about a second (with an ``event: end`` saying why), as does one whose client went away or
fell a whole queue behind, and every stream ends when the router stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec
from aiohttp import web
from redis.exceptions import RedisError

from router import logs
from router.api.call_filters import CALL_FILTERS, CallsQuery, calls_query
from router.core.records import CallRecord
from router.store.callfeed import CallFeed, Listener
from router.web import state
from router.web.apidoc import documented
from router.web.auth import Principal, principal_of, scope_of
from router.web.connections import streaming
from router.web.httpapi import lift_deadline, redis_deadline
from router.web.routing import Routes

log = logs.get(__name__)
routes = Routes()
KEEPALIVE_S = 5.0
REPLAY_MAX = 1000  # calls a reconnecting client is sent from before it came back
_REPLAY_SLACK_MS = 5_000  # a call is noted in the recent calls a little after its decision
POLL_S = 1.0  # how often a stream looks at its client, its key and the router's stopping
_STOPPING = web.AppKey("call_streams_stopping", asyncio.Event)
_record = msgspec.json.Decoder(CallRecord)
_end = msgspec.json.Encoder()
_encode = _end.encode


def install(app: web.Application) -> None:
    """The process's one subscription, and its streams ended when the router stops (before
    connections close)."""
    app[_STOPPING] = asyncio.Event()

    async def feed(app: web.Application) -> AsyncIterator[None]:
        config = app[state.CONFIG]
        app[state.FEED] = CallFeed(
            app[state.REDIS],
            max_streams=config.limits.max_streams,
            max_per_org=config.limits.max_streams_per_org,
            max_per_key=config.limits.max_streams_per_key,
        )
        await app[state.FEED].start()
        yield
        await app[state.FEED].stop()

    async def stop_streams(app: web.Application) -> None:
        app[_STOPPING].set()

    app.cleanup_ctx.append(feed)
    app.on_shutdown.append(stop_streams)


@routes.get("/v1/calls/events", role="viewer")
@documented(response=CallRecord, media_type="text/event-stream", query=CALL_FILTERS[:3])
async def call_events(request: web.Request) -> web.StreamResponse:
    """Call decisions as they are made (``text/event-stream``; one ``call`` event each)."""
    query = calls_query(request.query, request.app[state.CONFIG].default_region, scope_of(request))
    principal = principal_of(request)
    feed = request.app[state.FEED]
    listener = feed.open(principal.org, principal.key_id)  # 429 at a cap
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    try:
        await response.prepare(request)
        lift_deadline(request)
        streaming(request)  # the connection guard may evict it at its cap
        await response.write(b": listening for call decisions\n\n")
        sent = await _replay(request, response, query)
        ended = await _serve(request, response, listener, principal, query, sent)
        if ended:
            log.info("call_events_ended", reason=ended, key=principal.key_id)
            body = _end.encode({"error": ended, "code": "STREAM_ENDED"})
            await response.write(b"event: end\ndata: " + body + b"\n\n")
    except (ConnectionResetError, ConnectionError):
        log.info("call_events_client_gone")
    finally:
        feed.close(listener)
    return response


async def _serve(
    request: web.Request,
    response: web.StreamResponse,
    listener: Listener,
    principal: Principal,
    query: CallsQuery,
    sent: set[str],
) -> str | None:
    """Write the listener's records until the stream must end; why it ended (None: the
    client went away)."""
    loop = asyncio.get_running_loop()
    quiet_until = loop.time() + KEEPALIVE_S
    check_at = loop.time() + POLL_S
    stopping = request.app[_STOPPING]
    while True:
        if stopping.is_set():
            return "the router is stopping"
        if request.transport is None or request.transport.is_closing():
            return None  # the client went away (seen within a poll, not at the next write)
        if listener.lost:
            return "the client read too slowly: events were dropped, reconnect"
        if loop.time() >= check_at:
            if not await _key_valid(request, principal):
                return "the API key was revoked"
            check_at = loop.time() + POLL_S
        wait = min(max(quiet_until - loop.time(), 0.0), max(check_at - loop.time(), 0.0))
        try:
            async with asyncio.timeout(wait):
                data = await listener.queue.get()
        except TimeoutError:
            if loop.time() >= quiet_until:
                await response.write(b": keep-alive\n\n")
                quiet_until = loop.time() + KEEPALIVE_S
            continue
        record = _record.decode(data)
        if query.keep(record) and record.call_id not in sent:  # not replayed already
            await response.write(_event(record.call_id, data))


def _event(call_id: str, data: bytes) -> bytes:
    return b"id: " + call_id.encode() + b"\nevent: call\ndata: " + data + b"\n\n"


async def _replay(
    request: web.Request, response: web.StreamResponse, query: CallsQuery
) -> set[str]:
    """After ``Last-Event-ID`` (a call the client saw), the calls decided since, oldest
    first; the ids sent (the live stream, already listening, skips them)."""
    last_id = request.headers.get("Last-Event-ID", "").strip()
    if not last_id:
        return set()
    calls = request.app[state.CALLS]
    async with redis_deadline(request):
        last = await calls.get(last_id)
        if last is None:  # expired or never seen: nothing to resume from
            return set()
        since_ms = _ms(last.decided_at)
        found, _ = await calls.page(
            None, REPLAY_MAX, query.keep, oldest_ms=max(since_ms - _REPLAY_SLACK_MS, 0)
        )
    later = sorted(
        (r for r in found if r.call_id != last_id and _ms(r.decided_at) >= since_ms),
        key=lambda r: (r.decided_at, r.call_id),
    )
    for record in later:
        await response.write(_event(record.call_id, _encode(record)))
    return {r.call_id for r in later}


def _ms(iso: str) -> int:
    """An ISO time in epoch milliseconds (0: none)."""
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


async def _key_valid(request: web.Request, principal: Principal) -> bool:
    """The stream's key is still there (the operator token cannot be revoked). A store that
    does not answer within the deadline is not a revocation: the stream goes on."""
    if principal.key_digest is None:
        return True
    try:
        async with redis_deadline(request):
            return await request.app[state.ROWS].api_key(principal.key_digest) is not None
    except (TimeoutError, RedisError, OSError) as exc:
        log.warning("call_events_key_check_failed", error=repr(exc)[:200])
        return True
