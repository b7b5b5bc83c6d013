"""``python -m router``: serve (ingress + worker), web, worker, and operator tools.

With no ``REDIS_URL``, ``serve`` starts the embedded Valkey for the life of the process.
``web`` and ``worker`` run apart (the Procfile's lines) and so need a shared ``REDIS_URL``;
so do the operator tools (``dlq list``, ``dlq replay``), which talk to the running system's Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine, Iterator
from typing import Any

import msgspec
from aiohttp import web

from router import config as config_module
from router import dlq, logs
from router.app import build_app
from router.config import Config
from router.embedded import embedded_valkey
from router.errors import ConfigError
from router.preview import PreviewRequest, preview
from router.redis_client import connect
from router.registry import Registry

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


async def _run(app: web.Application, port: int) -> None:
    """Run the app until SIGTERM/SIGINT, serving its routes on ``port`` (a worker: health
    and metrics only)."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, port=port).start()
        log.info("listening", port=port)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def _bench(argv: list[str]) -> int:
    """The benchmark lives in bench/ beside the package (run it from a clone)."""
    try:
        from bench.run import main as bench_main
    except ImportError as exc:
        print(f"bench needs a clone and the extras: pip install -e '.[bench]' ({exc})")
        return 2
    return int(bench_main(argv))


async def _route_preview(args: argparse.Namespace, config: Config) -> int:
    if not config.redis_url:
        raise ConfigError("REDIS_URL", "route preview reads the running router's registry")
    headers = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep:
            print(f"--header wants 'NAME: VALUE', got {item!r}", file=sys.stderr)
            return 2
        headers[name.strip()] = value.strip()
    body = PreviewRequest(
        dialed_number=args.dialed,
        caller_number=args.caller,
        provider=args.provider,
        forwarded_from=args.forwarded_from,
        headers=headers,
        trunk_id=args.trunk_id,
    )
    redis = connect(config.redis_url)
    try:
        result = await preview(Registry(redis), body, config)
    finally:
        await redis.aclose()
    print(msgspec.json.format(msgspec.json.encode(result)).decode())
    return 0


async def _dlq(args: argparse.Namespace, config: Config) -> int:
    if not config.redis_url:
        raise ConfigError("REDIS_URL", "the dlq tools need the running router's Redis")
    redis = connect(config.redis_url)
    try:
        if args.dlq_command == "list":
            entries = await dlq.list_entries(redis, args.limit)
            for e in entries:
                if args.json:
                    print(msgspec.json.encode(e).decode())
                else:
                    print(f"{e.id}  call={e.call_id}  deliveries={e.deliveries}  {e.failed_at}")
                    print(f"    {e.error}")
            if not args.json:
                print(f"{len(entries)} dead-lettered entr{'y' if len(entries) == 1 else 'ies'}")
            return 0
        replayed = await dlq.replay(redis, None if args.all else args.ids)
        missing = set(args.ids) - set(replayed)
        print(f"replayed {len(replayed)}: {' '.join(replayed)}".rstrip(": "))
        if missing:
            print(f"not in the dead-letter stream: {' '.join(sorted(missing))}", file=sys.stderr)
            return 1
        return 0
    finally:
        await redis.aclose()


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
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    try:
        config = config_module.load()
        if args.command == "dlq":
            return asyncio.run(_dlq(args, config))
        if args.command == "route":
            return asyncio.run(_route_preview(args, config))
        with _redis_url(config, args.command) as url:
            app = build_app(
                config,
                url,
                web_routes=args.command != "worker",
                worker=args.command != "web",
            )
            _event_loop_run(_run(app, config.port))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
