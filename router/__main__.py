"""``python -m router``: serve (ingress + worker), web, worker, and operator tools.

With no ``REDIS_URL``, ``serve`` starts the embedded Valkey for the life of the process.
``web`` and ``worker`` run apart (the Procfile's lines) and so need a shared ``REDIS_URL``;
so do the operator tools (``dlq list``, ``dlq replay``), which talk to the running system's Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from router import config as config_module
from router import logs
from router.app import build_app
from router.config import Config
from router.errors import ConfigError
from router.ops import cli as ops
from router.ops import firstrun
from router.store.embedded import embedded_valkey
from router.web import connections

log = logs.get("router")


@contextlib.contextmanager
def _redis_url(config: Config, command: str) -> Iterator[str]:
    if config.redis_url:
        yield config.redis_url
        return
    if command != "serve":
        raise ConfigError(
            "REDIS_URL",
            f"'{command}' runs apart from the other processes, so they must share a Redis: "
            "set REDIS_URL (only 'serve' starts an embedded Valkey)",
        )
    with embedded_valkey(config.embedded_dir) as url:
        yield url


def _event_loop_run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where it is installed (Linux, macOS): a faster loop for the same code."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _run(
    app: web.Application, config: Config, on_listening: Callable[[int], None] | None = None
) -> None:
    """Run the app until SIGTERM/SIGINT, serving its routes on ``PORT`` (a worker: health
    and metrics only), slow and idle clients cut off (``connections``)."""
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=2.0,
        keepalive_timeout=config.keepalive_timeout_s,
    )
    await runner.setup()
    # The start-up heap (modules, protobuf descriptors, clients: tens of thousands of objects)
    # lives as long as the process: frozen, a full collection no longer walks it (a pause of
    # milliseconds every call in flight would wait out; README, performance).
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    listening = None
    try:
        listening = await connections.serve(
            runner,
            host=config.host,
            port=config.port,
            max_connections=config.max_connections,
            header_timeout_s=config.header_timeout_s,
            keepalive_timeout_s=config.keepalive_timeout_s,
        )
        port = listening.sockets[0].getsockname()[1]
        log.info("listening", port=port)
        if on_listening is not None:
            on_listening(port)
        await stop.wait()
        log.info("stopping")
    finally:
        if listening is not None:
            listening.close()  # stop accepting; runner.cleanup() closes the connections
        await runner.cleanup()


def _bench(argv: list[str]) -> int:
    """The benchmark lives in bench/ beside the package (run it from a clone)."""
    try:
        from bench.run import main as bench_main
    except ImportError as exc:
        print(f"bench needs a clone and the extras: pip install -e '.[bench]' ({exc})")
        return 2
    return int(bench_main(argv))


async def _numbers(args: argparse.Namespace, config: Config) -> int:
    return await ops.numbers_import(config, args.file)


async def _calls(args: argparse.Namespace, config: Config) -> int:
    if args.calls_command == "show":
        return await ops.calls_show(config, args.id)
    return await ops.calls_tail(config)


_OPS: dict[str, Callable[[argparse.Namespace, Config], Coroutine[Any, Any, int]]] = {
    "dlq": ops.dead_letters,
    "route": ops.route_preview,
    "numbers": _numbers,
    "calls": _calls,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="ingress and worker in one process (embedded Valkey by default)")
    sub.add_parser("web", help="ingress and admin API only")
    sub.add_parser("worker", help="stream worker only")
    sub.add_parser(
        "bench", help="benchmark on this machine (pip install -e '.[bench]'; see bench/run.py)"
    )
    dlq = sub.add_parser("dlq", help="the dead-letter stream").add_subparsers(
        dest="dlq_command", required=True
    )
    dlq_list = dlq.add_parser("list", help="show dead-lettered entries and their errors")
    dlq_list.add_argument("--limit", type=int, default=100)
    dlq_list.add_argument("--json", action="store_true", help="one JSON object per line")
    dlq_replay = dlq.add_parser("replay", help="put entries back on the call stream")
    which = dlq_replay.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    routes = sub.add_parser("route", help="routing tools").add_subparsers(
        dest="route_command", required=True
    )
    prev = routes.add_parser("preview", help="the decision for such a call, without dispatching")
    prev.add_argument("--dialed", help="the dialed number")
    prev.add_argument("--caller", help="the caller's number")
    prev.add_argument("--forwarded-from", help="a carrier's own forwarding field")
    prev.add_argument("--provider", default="livekit")
    prev.add_argument("--trunk-id", help="LiveKit inbound trunk id (trunks hiding numbers)")
    prev.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help="a SIP header, e.g. 'Diversion: <sip:+16175550177@pbx>;reason=unconditional'",
    )  # fmt: skip
    numbers = sub.add_parser("numbers", help="phone numbers").add_subparsers(
        dest="numbers_command", required=True
    )
    numbers.add_parser("import", help="import a CSV or JSON-lines file").add_argument(
        "file", type=Path
    )
    calls = sub.add_parser("calls", help="call records").add_subparsers(
        dest="calls_command", required=True
    )
    calls.add_parser("show", help="one call's routing trace").add_argument("id")
    calls.add_parser("tail", help="decisions as they happen")
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    try:
        config = config_module.load()
        if args.command in _OPS:
            return asyncio.run(_OPS[args.command](args, config))
        first = None
        if args.command == "serve":  # the newcomer's command: ready to try with nothing set
            config, first = firstrun.prepare(config)
        with _redis_url(config, args.command) as url:
            app = build_app(
                config,
                url,
                web_routes=args.command != "worker",
                worker=args.command != "web",
            )
            on_listening = None
            if first is not None:
                settled, run = config, first

                def on_listening(port: int) -> None:
                    print(firstrun.banner(settled, run, port, url), flush=True)

            _event_loop_run(_run(app, config, on_listening))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"port {config.port} is already in use: set PORT to a free one (PORT=0 picks any)",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
