"""The processes: start-up errors name the variable; serve starts, serves, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import aiohttp


async def _start(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _wait_for_line(proc: asyncio.subprocess.Process, word: bytes) -> bytes:
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while line := await proc.stderr.readline():
            if word in line:
                return line
    raise AssertionError(f"process ended before logging {word!r}")


async def test_web_without_redis_url_refuses_to_start_naming_it():
    proc = await _start("web", env={"REDIS_URL": ""})
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"REDIS_URL" in err


async def test_malformed_variable_stops_start_up_naming_it():
    proc = await _start("serve", env={"PORT": "http"})
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"PORT" in err


async def test_serve_runs_on_embedded_valkey_and_stops_cleanly_on_sigterm(tmp_path):
    proc = await _start(
        "serve",
        env={
            "PORT": "0",  # any free port: the process says which in its "listening" line
            "REDIS_URL": "",
            "ROUTER_ADMIN_TOKEN": "t",
            "ROUTER_HOST": "127.0.0.1",
        },
    )
    port = json.loads(await _wait_for_line(proc, b'"listening"'))["port"]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
        headers = {"Authorization": "Bearer t"}
        async with session.get(f"http://127.0.0.1:{port}/v1/agents", headers=headers) as resp:
            assert await resp.json() == []
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await _wait_for_line(proc, b'"embedded_valkey_stopped"')
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert time.monotonic() - started < 5
