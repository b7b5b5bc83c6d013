"""Router processes for tests: a worker started as the Procfile starts it, on a given Redis."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.livekit_helpers import API_KEY, API_SECRET


def worker_env(valkey_url: str, livekit_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": valkey_url,
        "LIVEKIT_URL": livekit_url,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
        "ROUTER_WEBHOOK_ALLOW_PRIVATE": "1",
        "PORT": "0",  # each worker serves /metrics and /readyz on a port of its own
        **extra,
    }


async def spawn_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "worker", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while b'"worker_started"' not in await proc.stderr.readline():
            pass
    asyncio.get_running_loop().create_task(_drain(proc))
    return proc


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    while await proc.stderr.readline():
        pass
