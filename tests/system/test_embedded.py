"""The embedded store (store/embedded.py) is owned by exactly one ``serve``: a second one on the
data directory is refused, the server dies with a ``serve`` that is killed, and a start stops
a server left running before touching the data — real ``serve`` processes, kill -9 loops."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp

from router.store.embedded import PID_FILE, valkey_pid
from tests import routerproc

TOKEN = "embedded-test-token-" + "x" * 16


def _env(data: Path) -> dict[str, str]:
    return {
        "PORT": "0", "ROUTER_EMBEDDED_DIR": str(data), "ROUTER_ADMIN_TOKEN": TOKEN,
        "ROUTER_HOST": "127.0.0.1", "XDG_DATA_HOME": str(data.parent),
    }  # fmt: skip


async def _serve(data: Path) -> tuple[routerproc.RouterProcess, str]:
    """A ``serve`` on ``data``; its base URL once it listens."""
    serve = await routerproc.start("serve", env=_env(data))
    return serve, await serve.url()


async def _gone(pid: int, limit_s: float = 5.0, since: float | None = None) -> float:
    """Seconds (from ``since``, or now) until ``pid`` is no longer a running process (a
    zombie counts as gone)."""
    started = time.monotonic() if since is None else since
    async with asyncio.timeout(limit_s):
        while _running(pid):  # noqa: ASYNC110 (no event exists for another process ending)
            await asyncio.sleep(0.05)  # the kernel's process table is what is watched
    return time.monotonic() - started


async def _agents(session: aiohttp.ClientSession, base: str) -> list[str]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with session.get(f"{base}/v1/agents", headers=headers) as resp:
        assert resp.status == 200
        return sorted(a["name"] for a in await resp.json())


async def test_a_second_serve_on_the_data_directory_is_refused_naming_the_holder(tmp_path):
    data = tmp_path / "valkey"
    first, _ = await _serve(data)
    try:
        second = await routerproc.run("serve", env=_env(data), timeout_s=30)
        assert second.code == 2
        message = (second.out + second.err).strip().splitlines()
        assert len(message) == 1, message
        assert f"in use by another router (pid {first.pid})" in message[0]
        assert "ROUTER_EMBEDDED_DIR" in message[0]
    finally:
        await first.stop()


async def test_kill_9_of_serve_loses_nothing_written_through_the_api(tmp_path):
    """Three rounds: write an agent, kill -9 serve; its server stops within a second or two
    (the watchdog), and the next serve finds every agent written so far."""
    data = tmp_path / "valkey"
    written: list[str] = []
    async with aiohttp.ClientSession() as session:
        for round_ in range(3):
            proc, base = await _serve(data)
            assert await _agents(session, base) == written
            pid = valkey_pid(data)
            assert pid is not None
            name = f"agent {round_}"
            body = {"name": name, "livekitAgentName": f"a{round_}"}
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with session.post(f"{base}/v1/agents", json=body, headers=headers) as resp:
                assert resp.status == 201
            written.append(name)
            killed = time.monotonic()
            await proc.stop(signal.SIGKILL)
            gone = await _gone(pid, since=killed)
            print(f"\nround {round_}: embedded Valkey gone {gone:.2f} s after kill -9 of serve")
            assert gone < 3  # the watchdog stopped it, flushing its AOF
        proc, base = await _serve(data)
        try:
            assert await _agents(session, base) == written
        finally:
            await proc.stop()


async def test_a_start_stops_a_server_left_running_on_the_directory(tmp_path):
    """serve and its watchdog both killed: the server runs on; the next start stops it
    (and says so) before loading the data, which is all there."""
    data = tmp_path / "valkey"
    async with aiohttp.ClientSession() as session:
        proc, base = await _serve(data)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        body = {"name": "kept", "livekitAgentName": "kept"}
        async with session.post(f"{base}/v1/agents", json=body, headers=headers) as resp:
            assert resp.status == 201
        orphan = valkey_pid(data)
        assert orphan is not None
        watchdogs = _watchdogs_of(proc.pid)
        assert len(watchdogs) == 1
        os.kill(watchdogs[0], signal.SIGKILL)
        await proc.stop(signal.SIGKILL)
        assert valkey_pid(data) == orphan  # still running, still on the directory
        proc, base = await _serve(data)
        try:
            assert await _gone(orphan) < 0.1  # stopped before the new serve listened
            assert valkey_pid(data) not in (None, orphan)
            assert (data / PID_FILE).exists()
            assert await _agents(session, base) == ["kept"]
        finally:
            await proc.stop()


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _watchdogs_of(serve: int) -> list[int]:
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and b"embedded_watchdog" in _cmdline(p)
        and f"\0{serve}\0".encode() in _cmdline(p)
    ]


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""
