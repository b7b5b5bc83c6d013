"""``python -m router web`` with ROUTER_WEB_PROCESSES=2: two real processes on one port, a
killed one started again while the other serves, SIGTERM ending them all; refusals exit 2."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket

import aiohttp
from google.protobuf.json_format import MessageToJson
from redis.asyncio import Redis

from router.store import keys
from tests import routerproc
from tests.livekit_helpers import API_KEY, API_SECRET, sign_webhook, sip_join_event


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(valkey_url: str, port: int, **extra: str) -> dict[str, str]:
    return {
        "REDIS_URL": valkey_url, "PORT": str(port), "ROUTER_HOST": "127.0.0.1",
        "ROUTER_ADMIN_TOKEN": "t" * 32, "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET, "ROUTER_WEB_PROCESSES": "2", **extra,
    }  # fmt: skip


async def _post_calls(url: str, prefix: str, n: int) -> list[int]:
    """n signed webhooks, each on a new connection (so the kernel spreads them)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> int:
            body = MessageToJson(sip_join_event(call_id=f"{prefix}{i}", room=f"{prefix}-{i}"))
            headers = {"Authorization": sign_webhook(body), "Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers) as resp:
                return resp.status

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_web_processes_share_the_port_survive_a_kill_and_stop_together(
    valkey_url: str, redis: Redis
) -> None:
    port = _free_port()
    log = await routerproc.start("web", env=_env(valkey_url, port), ready=None)
    proc = log.proc
    try:
        started = await log.until("web_process_started", 2)
        await log.until("listening", 2)
        pids = {e["slot"]: e["pid"] for e in started}
        assert len(set(pids.values())) == 2
        assert proc.pid not in pids.values()
        url = f"http://127.0.0.1:{port}/webhooks/livekit"
        assert await _post_calls(url, "A", 60) == [200] * 60

        os.kill(pids[0], signal.SIGKILL)
        exited = (await log.until("web_process_exited"))[0]  # reaped: its listener is gone
        assert (exited["pid"], exited["status"]) == (pids[0], -signal.SIGKILL)
        assert exited["restart_in_s"] > 0
        assert await _post_calls(url, "B", 60) == [200] * 60  # the other serves meanwhile
        restarted = (await log.until("web_process_started", 3))[-1]
        assert restarted["slot"] == 0
        assert restarted["pid"] not in pids.values()
        await log.until("listening", 3)
        assert await _post_calls(url, "C", 60) == [200] * 60
        assert await redis.xlen(keys.stream(0)) == 180  # every accepted call, once

        assert await log.stop(timeout_s=20) == 0
        assert not any(_alive(pid) for pid in (pids[1], restarted["pid"]))
    finally:
        if proc.returncode is None:
            await log.stop(signal.SIGKILL)


async def test_several_web_processes_need_a_fixed_port(valkey_url: str) -> None:
    any_port = await routerproc.run("web", env=_env(valkey_url, 0))
    assert any_port.code == 2
    assert "PORT" in any_port.err
    assert "2 web processes share one port" in any_port.err
    zero = await routerproc.run("web", "--processes", "0", env=_env(valkey_url, _free_port()))
    assert zero.code == 2
    assert "ROUTER_WEB_PROCESSES: must be from 1 to 64, got 0" in zero.err


async def test_a_taken_port_ends_the_set_with_the_childrens_refusal(valkey_url: str) -> None:
    with socket.socket() as taken:  # a listener without SO_REUSEPORT: nobody can join it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(valkey_url, port, ROUTER_WEB_PROCESSES="1")
        done = await routerproc.run("web", "--processes", "2", env=env, timeout_s=30)
    assert done.code == 2
    assert f"port {port} is already in use" in done.err
    assert '"web_process_cannot_start"' in done.err


async def test_children_stop_when_their_supervisor_is_killed(valkey_url: str) -> None:
    """No orphan keeps serving (old code) on the port after its supervisor died unasked."""
    port = _free_port()
    log = await routerproc.start("web", env=_env(valkey_url, port), ready=None)
    proc = log.proc
    children: list[int] = []
    ended = False
    try:
        children = [e["pid"] for e in await log.until("web_process_started", 2)]
        await log.until("listening", 2)
        proc.kill()  # the supervisor only; its children are on their own now
        await proc.wait()
        gone = await log.until("web_supervisor_gone", 2)
        assert {e["supervisor_pid"] for e in gone} == {proc.pid}
        async with asyncio.timeout(10):
            await log.closed()  # the pipe closes once both children have exited
        ended = True
        assert sum(1 for e in log.log if e["event"] == "stopping") == 2
    finally:
        for pid in [] if ended else children:  # only if they outlived the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
