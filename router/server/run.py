"""Running the app: until SIGTERM/SIGINT, on ``PORT``, slow and idle clients cut off
(``web.connections``), on uvloop where it is installed; the Redis it runs on (``REDIS_URL``,
or for ``serve`` alone an embedded Valkey for the life of the process)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from aiohttp import web

from router import logs
from router.config import Config
from router.errors import ConfigError
from router.server import processes as web_processes
from router.store.embedded import embedded_valkey
from router.web import connections

log = logs.get("router")


@contextlib.contextmanager
def redis_url(config: Config, command: str) -> Iterator[str]:
    """``REDIS_URL``, or for ``serve`` an embedded Valkey for as long as this is entered."""
    if config.redis.url:
        yield config.redis.url
        return
    if command != "serve":
        raise ConfigError(
            "REDIS_URL",
            f"'{command}' runs apart from the other processes, so they must share a Redis: "
            "set REDIS_URL (only 'serve' starts an embedded Valkey)",
        )
    with embedded_valkey(config.redis.embedded_dir) as url:
        yield url


def event_loop_run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where it is installed (Linux, macOS): a faster loop for the same code."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def run(
    app: web.Application, config: Config, on_listening: Callable[[int], None] | None = None
) -> None:
    """Run the app until SIGTERM/SIGINT, serving its routes on ``PORT`` (a worker: health
    and metrics only), slow and idle clients cut off (``connections``)."""
    http = config.http
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=2.0,
        keepalive_timeout=http.keepalive_timeout_s,
    )
    await runner.setup()
    # The start-up heap (modules, protobuf descriptors, clients: tens of thousands of objects)
    # lives as long as the process: frozen, a full collection no longer walks it (a pause of
    # milliseconds every call in flight would wait out; docs/performance.md).
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    orphaned = web_processes.watch_supervisor(stop, config.supervisor_pid)
    listening = None
    try:
        listening = await connections.serve(
            runner,
            host=http.host,
            port=http.port,
            max_connections=http.max_connections,
            header_timeout_s=http.header_timeout_s,
            keepalive_timeout_s=http.keepalive_timeout_s,
            reuse_port=http.reuse_port,
        )
        port = listening.sockets[0].getsockname()[1]
        log.info("listening", port=port)
        if on_listening is not None:
            on_listening(port)
        await stop.wait()
        log.info("stopping")
    finally:
        if orphaned is not None:
            orphaned.cancel()
        if listening is not None:
            listening.close()  # stop accepting; runner.cleanup() closes the connections
        await runner.cleanup()
