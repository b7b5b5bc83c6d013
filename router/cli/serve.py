"""``serve`` (ingress and worker in one process, on the embedded Valkey by default), ``web``
(ingress and admin API; ``--processes N`` on one port) and ``worker`` (the stream worker)."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from importlib import metadata
from pathlib import Path

from router import config as config_module
from router.config import Config, data_dir, runtime
from router.core.models import now_iso


def serve(args: argparse.Namespace) -> int:
    # The server's modules only for the server's commands: the other commands start fast.
    from router.server import firstrun
    from router.server.app import build_app
    from router.server.run import event_loop_run, redis_url, run

    config = config_module.load()
    command = args.command
    if command == "web":
        processes = config.http.web_processes if args.processes is None else args.processes
        config_module.check_web_processes(processes, config)
        if processes > 1:
            with redis_url(config, "web"):  # the same refusal the children would give
                pass
            sys.stdout.flush()
            sys.stderr.flush()
            supervisor = ("-m", "router.server.processes", str(processes), args.log_level)
            os.execv(sys.executable, (sys.executable, *supervisor))
    first = None
    if command == "serve":  # the newcomer's command: ready to try with nothing set
        config, first = firstrun.prepare(config)
    try:
        with redis_url(config, command) as url:
            app = build_app(config, url, web_routes=command != "worker", worker=command != "web")
            settled, run_of = config, first
            unreachable = store_problem(url) if first is not None else None
            written: list[Path] = []

            def on_listening(port: int) -> None:
                if command != "worker":  # the CLI finds it by its runtime file
                    written.append(_runtime(settled, command, port, url))
                if run_of is not None:
                    print(firstrun.banner(settled, run_of, port, url, unreachable), flush=True)

            try:
                event_loop_run(run(app, config, on_listening))
            finally:
                for path in written:
                    runtime.remove(path)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"port {config.http.port} is already in use: set PORT to a free one (PORT=0 picks any)",
            file=sys.stderr,
        )
        return 2
    return 0


def store_problem(url: str) -> str | None:
    """Why the store at ``url`` does not answer a PING now (None: it does), for the banner."""
    # imported here: the server's commands only (the CLI's others start fast)
    import asyncio

    from redis.asyncio import Redis

    async def ping() -> str | None:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        except Exception as exc:  # whatever it is, the banner says it
            return f"{type(exc).__name__}: {str(exc)[:120]}"
        finally:
            await client.aclose()
        return None

    return asyncio.run(ping())


def _runtime(config: Config, command: str, port: int, url: str) -> Path:
    host = config.http.host if config.http.host not in (None, "0.0.0.0", "::") else "127.0.0.1"
    embedded = config.redis.url is None
    folder = config.redis.embedded_dir or (str(data_dir() / "valkey") if embedded else None)
    return runtime.write(
        runtime.Runtime(
            url=f"http://{host}:{port}", pid=os.getpid(), data_dir=folder if embedded else None,
            store=runtime.masked(url), started_at=now_iso(), version=_version(),
        )
    )  # fmt: skip


def _version() -> str:
    try:
        return metadata.version("call-router")
    except metadata.PackageNotFoundError:
        return ""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "serve", help="ingress and worker in one process (embedded Valkey by default)"
    ).set_defaults(run=serve)
    web = commands.add_parser("web", help="ingress and admin API only")
    web.add_argument(
        "--processes", type=int, default=None, metavar="N",
        help="N web processes sharing PORT (ROUTER_WEB_PROCESSES; default 1)",
    )  # fmt: skip
    web.set_defaults(run=serve)
    commands.add_parser("worker", help="stream worker only").set_defaults(run=serve)
