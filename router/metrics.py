"""Prometheus metrics (``/metrics``), ``/healthz`` and ``/readyz``.

Counters and histograms are updated where things happen (ingress, the call decision, the
pre-call webhook); stream lag, pending entries and the dead-letter size are read from Redis
when Prometheus scrapes. Every process serves these on its ``PORT`` — ``worker`` included,
which serves nothing else.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from redis.exceptions import RedisError

from router import keys, state
from router.httpapi import json_response

EVENTS = Counter("router_events_total", "Webhook events received", ["source", "outcome"])
CALLS = Counter("router_calls_total", "Call decisions", ["status", "rule"])
DISPATCH_SECONDS = Histogram(
    "router_dispatch_seconds",
    "From the webhook reaching the router to the dispatch being made",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONNECTIONS_OPEN = Gauge("router_http_connections", "Client connections open (web process)")
CONNECTIONS_DROPPED = Counter(
    "router_http_connections_dropped_total",
    "Client connections cut off: idle_timeout, header_timeout, evicted_at_cap, refused_at_cap",
    ["reason"],
)
CORRELATION_REFUSED = Counter(
    "router_correlation_refused_total",
    "Bridged LiveKit legs whose X-Router-Call was not honoured (forged/expired/unprepared/spent)",
    ["why"],
)
PRECALL = Counter("router_precall_total", "Pre-call webhook outcomes", ["status"])
PRECALL_SECONDS = Histogram(
    "router_precall_seconds",
    "Pre-call webhook round trip",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
STREAM_LAG = Gauge("router_stream_lag", "Entries not yet delivered to the worker group")
STREAM_PENDING = Gauge("router_stream_pending", "Entries delivered but not acknowledged")
DLQ_SIZE = Gauge("router_dlq_size", "Entries in the dead-letter stream")
LIVEKIT_CONNECTIONS = Counter(
    "router_livekit_connections_opened_total",
    "Connections opened to LiveKit's server API (few while keep-alive holds)",
)

routes = web.RouteTableDef()


async def _stream_state(app: web.Application) -> tuple[int, int, int, bool]:
    redis = app[state.REDIS]
    groups: Any = (
        await redis.xinfo_groups(keys.stream()) if await redis.exists(keys.stream()) else []
    )
    group = next((g for g in groups if g["name"] == keys.GROUP.encode()), None)
    dead = int(await redis.xlen(keys.dead_letters()))
    if group is None:
        return 0, 0, dead, False
    return int(group.get("lag") or 0), int(group["pending"]), dead, True


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    try:
        lag, pending, dead, _ = await _stream_state(request.app)
        STREAM_LAG.set(lag)
        STREAM_PENDING.set(pending)
        DLQ_SIZE.set(dead)
    except (RedisError, OSError):
        pass  # the process's own counters are still worth scraping
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers and the worker group exists (a worker has started)."""
    try:
        await request.app[state.REDIS].ping()
        _, _, _, group = await _stream_state(request.app)
    except (RedisError, OSError) as exc:
        return json_response({"status": "unavailable", "redis": repr(exc)}, status=503)
    if not group:
        return json_response({"status": "unavailable", "redis": "ok", "group": "missing"}, 503)
    return json_response({"status": "ok", "redis": "ok", "group": "present"})
