"""/metrics in the Prometheus format, /healthz and /readyz."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from router.server.app import build_app
from tests.conftest import (
    create_agent,
    import_number,
    make_config,
    post_livekit,
    sip_join_event,
    wait_record,
)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


async def test_metrics_count_events_decisions_and_latency(router, twirp, redis):
    standin, _ = twirp
    before = _samples(await (await router.get("/metrics")).text())
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    assert (await post_livekit(router, sip_join_event(call_id="SCL_m"))).status == 200
    await asyncio.wait_for(standin.dispatches.get(), 10)
    await wait_record(redis, "SCL_m")
    resp = await router.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    after = _samples(await resp.text())

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("router_events_total", source="livekit", outcome="queued") == 1
    assert delta("router_calls_total", status="dispatched", rule="dialed_number") == 1
    assert delta("router_dispatch_seconds_count") == 1
    assert delta("router_livekit_connections_opened_total") == 1
    for gauge in ("router_stream_lag", "router_stream_pending", "router_dlq_size"):
        assert (gauge, ()) in after


async def test_readyz_needs_redis_and_the_worker_group(make_router, router):
    assert (await (await router.get("/healthz")).json()) == {"status": "ok"}
    ready = await router.get("/readyz")
    assert (ready.status, (await ready.json())["group"]) == (200, "present")


async def test_readyz_is_503_without_a_worker_group_or_without_redis(
    make_router, redis, aiohttp_client: Any
):
    ingress = await make_router(worker=False)
    resp = await ingress.get("/readyz")
    assert (resp.status, (await resp.json())["group"]) == (503, "missing")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening, held: connects are refused
        dead = sock.getsockname()[1]
        client = TestClient(
            TestServer(build_app(make_config(), f"redis://127.0.0.1:{dead}", worker=False))
        )
        await client.start_server()
        try:
            resp = await client.get("/readyz")
            assert resp.status == 503
            assert (await client.get("/healthz")).status == 200
        finally:
            await client.close()
