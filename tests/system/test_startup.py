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


async def test_stopping_the_router_ends_open_streams_at_once(tmp_path):
    """``calls tail`` against a first-run ``serve``: SIGTERM of serve is not held by the open
    stream, and tail says the router ended it."""
    home = {"XDG_DATA_HOME": str(tmp_path)}
    serve = await routerproc.start("serve", env={**home, "PORT": "0"})
    base = (await serve.line("console:")).split(":", 1)[1].strip().split("/console")[0]
    tail = await routerproc.start("calls", "tail", env={**home, "ROUTER_URL": base}, ready=None)
    await tail.said("listening for call decisions")
    stopped = time.monotonic()
    assert await serve.stop(timeout_s=10) == 0
    assert time.monotonic() - stopped < 5  # not held by the open stream
    assert await tail.wait(10) == 1
    assert any("the router ended the stream" in line for line in tail.errors)
