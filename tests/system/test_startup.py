"""The processes: start-up errors name the variable; serve starts, serves, and stops on SIGTERM."""

from __future__ import annotations

import signal
import time

import aiohttp

from tests import routerproc


async def test_web_without_redis_url_refuses_to_start_naming_it():
    done = await routerproc.run("web")
    assert done.code == 2
    assert "REDIS_URL" in done.err


async def test_malformed_variable_stops_start_up_naming_it():
    done = await routerproc.run("serve", env={"PORT": "http"})
    assert done.code == 2
    assert "PORT" in done.err


async def test_serve_runs_on_embedded_valkey_and_stops_cleanly_on_sigterm(tmp_path):
    serve = await routerproc.start(
        "serve",
        env={
            "PORT": "0",  # any free port: the process says which in its "listening" line
            "ROUTER_EMBEDDED_DIR": str(tmp_path / "valkey"),
            "ROUTER_ADMIN_TOKEN": "t",
            "ROUTER_HOST": "127.0.0.1",
        },
    )
    base = await serve.url()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/healthz") as resp:
            assert resp.status == 200
        headers = {"Authorization": "Bearer t"}
        async with session.get(f"{base}/v1/agents", headers=headers) as resp:
            assert await resp.json() == []
    started = time.monotonic()
    serve.proc.send_signal(signal.SIGTERM)
    await serve.until("embedded_valkey_stopped")
    assert await serve.wait(10) == 0
    assert time.monotonic() - started < 5


async def test_stopping_the_router_ends_open_streams_at_once_and_tail_comes_back(
    tmp_path, unused_tcp_port
):
    """``calls tail`` against a first-run ``serve``: SIGTERM of serve is not held by the open
    stream; tail says the stream was lost, reconnects when the router is back — on another
    port, found by its runtime file as tail found the first (resuming after the last call it
    saw) — and gives up with exit 2 when it stays away."""
    home = {"XDG_DATA_HOME": str(tmp_path)}
    env = {**home, "PORT": str(unused_tcp_port)}
    serve = await routerproc.start("serve", env=env)
    tail = await routerproc.start("calls", "tail", "--reconnects", "8", env=home, ready=None)
    await tail.said("listening for call decisions")
    stopped = time.monotonic()
    assert await serve.stop(timeout_s=10) == 0
    assert time.monotonic() - stopped < 5  # not held by the open stream
    await tail.said("lost the stream (the router is stopping); reconnecting in 0.5 s")
    serve = await routerproc.start("serve", env={**home, "PORT": "0"})  # back, elsewhere
    try:
        moved = await tail.said("the router now listens at", timeout_s=30)
        assert f"the router now listens at {await serve.url()} (the runtime file of pid " in moved
        await tail.said("reconnected: resuming after the start", timeout_s=30)
    finally:
        assert await serve.stop(timeout_s=10) == 0
    quitter = await routerproc.start("calls", "tail", "--reconnects", "1", env=env, ready=None)
    assert await quitter.wait(20) == 2  # nobody there: one attempt, then exit 2
    assert any("gave up after 1 attempts to reconnect" in line for line in quitter.errors)
    await tail.stop()


async def test_an_unreachable_store_is_said_in_the_banner_and_every_log_line(
    tmp_path, unused_tcp_port
):
    """``REDIS_URL`` naming nothing that answers: the banner says so first (the password
    masked), the retries' log lines name the store, ``/readyz`` is not ready."""
    store = f"redis://:hunter2secret@127.0.0.1:{unused_tcp_port}/0"
    serve = await routerproc.start(
        "serve", env={"XDG_DATA_HOME": str(tmp_path), "PORT": "0", "REDIS_URL": store},
        ready=None,
    )  # fmt: skip
    try:
        said = await serve.line("STORE UNREACHABLE")
        assert f"redis://:***@127.0.0.1:{unused_tcp_port}/0 (ConnectionError" in said
        masked = f"redis://:***@127.0.0.1:{unused_tcp_port}/0"
        [failed] = await serve.until("registry_index_failed")
        assert failed["store"] == masked
        # Each part that retries the store says which store it cannot reach.
        for event in ("stream_read_failed", "call_feed_unsubscribed"):
            [retried] = await serve.until(event)
            assert retried["store"] == masked, retried
        base = (await serve.line("console:")).split(":", 1)[1].strip().split("/console")[0]
        async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as resp:
            assert resp.status == 503
        # The CLI, finding this router by its runtime file, names the store it waits for.
        listed = await routerproc.run("agents", "list", env={"XDG_DATA_HOME": str(tmp_path)})
        assert listed.code == 1
        assert f"(the store of the router at {base}, {masked}, does not answer" in listed.err
    finally:
        assert await serve.stop(timeout_s=10) == 0
    everything = "\n".join([*serve.output, *serve.errors, *map(str, serve.log), listed.err])
    assert "hunter2secret" not in everything
    failures = [e for e in serve.log if "ConnectionError" in str(e.get("error"))]
    assert failures
    assert [e["event"] for e in failures if e.get("store") != masked] == []
