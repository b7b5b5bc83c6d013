"""``python -m router``: serve (ingress + worker), web, worker, and operator tools.

With no ``REDIS_URL``, ``serve`` starts the embedded Valkey for the life of the process.
``web`` and ``worker`` run apart (the Procfile's lines) and so need a shared ``REDIS_URL``;
the operator commands talk to the running router over its HTTP API (``ops.client``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import os
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
from router.ops import cli_rows as rows
from router.ops import client, firstrun, simulate
from router.store.embedded import embedded_valkey
from router.web import connections
from router.web import processes as web_processes

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
    orphaned = web_processes.watch_supervisor(stop)  # in a set of web processes only
    listening = None
    try:
        listening = await connections.serve(
            runner,
            host=config.host,
            port=config.port,
            max_connections=config.max_connections,
            header_timeout_s=config.header_timeout_s,
            keepalive_timeout_s=config.keepalive_timeout_s,
            reuse_port=config.reuse_port,
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


def _bench(argv: list[str]) -> int:
    """The benchmark lives in bench/ beside the package (run it from a clone)."""
    try:
        from bench.run import main as bench_main
    except ImportError as exc:
        print(f"bench needs a clone and the extras: pip install -e '.[bench]' ({exc})")
        return 2
    return int(bench_main(argv))


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a log level: one of {', '.join(LOG_LEVELS)}"
        )
    return value.upper()


async def _client_command(args: argparse.Namespace) -> int:
    """An operator command over the router's HTTP API."""
    url, token = client.target(args.url, args.token)
    async with client.AdminClient(url, token) as admin:
        match args.command, getattr(args, "sub", None):
            case "numbers", "import":
                return await rows.numbers_import(admin, args.file)
            case "numbers", "add":
                return await rows.numbers_add(admin, args)
            case "numbers", "list":
                return await rows.numbers_list(admin, args.json)
            case "numbers", "reconcile":
                return await rows.numbers_reconcile(admin, args.fix)
            case "agents", "create":
                return await rows.agents_create(admin, args)
            case "agents", "list":
                return await rows.agents_list(admin, args.json)
            case "calls", "show":
                return await ops.calls_show(admin, args.id)
            case "calls", "list":
                return await ops.calls_list(admin, args)
            case "calls", "tail":
                return await ops.calls_tail(admin, args)
            case "calls", "simulate":
                return await simulate.run(admin, args)
            case "route", "preview":
                return await ops.route_preview(admin, args)
            case "dlq", _:
                return await ops.dead_letters(admin, args)
            case "audit", _:
                return await ops.audit_log(admin, args)
    raise AssertionError(f"no handler for {args.command}")


CLIENT_COMMANDS = ("numbers", "agents", "calls", "route", "dlq", "audit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m router", description=__doc__)
    parser.add_argument(
        "--log-level", default="INFO", type=_log_level, help=f"one of {', '.join(LOG_LEVELS)}"
    )
    # The operator commands' target, also accepted after the command (python -m router calls
    # tail --url ...): the sub-parsers' defaults must not hide the top-level values.
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument(
        "--url", default=argparse.SUPPRESS,
        help="the router's base URL (ROUTER_URL; default http://127.0.0.1:$PORT or 8080)",
    )  # fmt: skip
    remote.add_argument(
        "--token", default=argparse.SUPPRESS,
        help="the admin token (ROUTER_ADMIN_TOKEN; on a first-run machine, its token file)",
    )  # fmt: skip
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--token", default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="ingress and worker in one process (embedded Valkey by default)")
    web_cmd = sub.add_parser("web", help="ingress and admin API only")
    web_cmd.add_argument(
        "--processes", type=int, default=None, metavar="N",
        help="N web processes sharing PORT (ROUTER_WEB_PROCESSES; default 1)",
    )  # fmt: skip
    sub.add_parser("worker", help="stream worker only")
    sub.add_parser(
        "bench", help="benchmark on this machine (pip install -e '.[bench]'; see bench/run.py)"
    )

    def group(name: str, help_text: str) -> Any:
        return sub.add_parser(name, help=help_text).add_subparsers(dest="sub", required=True)

    def leaf(parent: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = parent.add_parser(name, help=help_text, parents=[remote])
        return made

    numbers = group("numbers", "phone numbers (admin API)")
    leaf(numbers, "import", "import a CSV or JSON-lines file").add_argument("file", type=Path)
    add = leaf(numbers, "add", "import one number")
    add.add_argument("e164", help="the number, E.164 or national")
    add.add_argument("--agent", help="the agent id it routes to")
    add.add_argument("--template", help="dispatchMetadataTemplate, JSON")
    add.add_argument("--label")
    add.add_argument("--direction", choices=("inbound", "outbound", "both"))
    leaf(numbers, "list", "every number with its setup status").add_argument(
        "--json", action="store_true", help="one JSON row per line"
    )
    leaf(numbers, "reconcile", "compare numbers with LiveKit's trunks").add_argument(
        "--fix", action="store_true", help="repair the drift found"
    )
    agents = group("agents", "agents (admin API)")
    create = leaf(agents, "create", "create an agent; prints its id")
    create.add_argument("--name", required=True)
    create.add_argument("--livekit-agent-name", required=True, help="the name it registers with")
    create.add_argument("--prompt")
    leaf(agents, "list", "every agent").add_argument("--json", action="store_true")

    calls = group("calls", "call records")
    leaf(calls, "show", "one call's routing trace").add_argument("id")
    listing = leaf(calls, "list", "decided calls, newest first")
    tail = leaf(calls, "tail", "decisions as they happen (Ctrl-C to stop)")
    for filtered in (listing, tail):
        filtered.add_argument("--status", help="e.g. rejected, or dispatched,dry_run")
        filtered.add_argument("--number", help="the dialed number")
        filtered.add_argument("--agent", help="agent id or LiveKit agent name")
    listing.add_argument("--since", help="an ISO 8601 time or an age: 15m, 2h, 7d")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    simulate.add_arguments(leaf(calls, "simulate", simulate.HELP))

    routes = group("route", "routing tools")
    prev = leaf(routes, "preview", "the decision for such a call, without dispatching")
    prev.add_argument("--dialed", help="the dialed number")
    prev.add_argument("--caller", help="the caller's number")
    prev.add_argument("--forwarded-from", help="a carrier's own forwarding field")
    prev.add_argument("--provider", default="livekit")
    prev.add_argument("--trunk-id", help="LiveKit inbound trunk id (trunks hiding numbers)")
    prev.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help="a SIP header, e.g. 'Diversion: <sip:+16175550177@pbx>;reason=unconditional'",
    )  # fmt: skip

    dlq = sub.add_parser("dlq", help="the dead-letter stream (admin API)").add_subparsers(
        dest="dlq_command", required=True
    )
    dlq_list = dlq.add_parser(
        "list", help="dead-lettered entries and their errors", parents=[remote]
    )
    dlq_list.add_argument("--limit", type=int, default=100)
    dlq_list.add_argument("--json", action="store_true", help="one JSON object per line")
    dlq_replay = dlq.add_parser(
        "replay", help="put entries back on the call stream", parents=[remote]
    )
    which = dlq_replay.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true")

    audit = sub.add_parser("audit", help="who wrote what, newest first", parents=[remote])
    audit.add_argument("--organization", help="the operator's choice of organization")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--json", action="store_true", help="one JSON entry per line")

    maintenance = sub.add_parser(
        "maintenance", help="break-glass repairs, straight to Redis (REDIS_URL; no admin API)"
    ).add_subparsers(dest="maintenance_command", required=True)
    maintenance.add_parser("reindex", help="rebuild the registry's indexes from its rows")
    replay = maintenance.add_parser("dlq-replay", help="replay dead letters with the web down")
    direct = replay.add_mutually_exclusive_group(required=True)
    direct.add_argument("ids", nargs="*", default=[], metavar="ID")
    direct.add_argument("--all", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        if args.command in CLIENT_COMMANDS:
            return asyncio.run(_client_command(args))
        config = config_module.load()
        if args.command == "maintenance":
            return asyncio.run(ops.maintenance(args, config))
        if args.command == "web":
            processes = config.web_processes if args.processes is None else args.processes
            config_module.check_web_processes(processes, config)
            if processes > 1:
                with _redis_url(config, "web"):  # the same refusal the children would give
                    pass
                sys.stdout.flush()
                sys.stderr.flush()
                supervisor = ("-m", "router.web.processes", str(processes), args.log_level)
                os.execv(sys.executable, (sys.executable, *supervisor))
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
    except KeyboardInterrupt:  # Ctrl-C in an operator command (calls tail): no traceback
        return 130
    except client.ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
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
