"""``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz``, on every process's ``PORT`` —
``worker`` included, which serves nothing else. Stream lag, pending entries and the
dead-letter size are read from Redis when Prometheus scrapes. Each answers within the Redis
deadline whatever the store does: a frozen store is "not ready", and a scrape then gets the
process's own counters."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from router.metrics import DLQ_SIZE, LIVE_CALLS, STREAM_LAG, STREAM_PENDING
from router.store import keys
from router.store.livecalls import LiveCalls
from router.web import state
from router.web.httpapi import json_response, redis_deadline
from router.web.routing import PUBLIC, Routes

routes = Routes()


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


@routes.get("/metrics", role=PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    try:
        async with redis_deadline(request):
            lag, pending, dead, _ = await _stream_state(request.app)
            live = await LiveCalls(request.app[state.REDIS]).count("all")
        LIVE_CALLS.set(live)
        STREAM_LAG.set(lag)
        STREAM_PENDING.set(pending)
        DLQ_SIZE.set(dead)
    except (RedisError, OSError, TimeoutError):
        pass  # the process's own counters are still worth scraping
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/healthz", role=PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz", role=PUBLIC)
async def readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers and the worker group exists (a worker has started)."""
    try:
        async with redis_deadline(request):
            await request.app[state.REDIS].ping()
            _, _, _, group = await _stream_state(request.app)
    except TimeoutError:
        return json_response({"status": "unavailable", "redis": "no answer in time"}, status=503)
    except (RedisError, OSError) as exc:
        return json_response({"status": "unavailable", "redis": repr(exc)}, status=503)
    if not group:
        return json_response({"status": "unavailable", "redis": "ok", "group": "missing"}, 503)
    return json_response({"status": "ok", "redis": "ok", "group": "present"})
