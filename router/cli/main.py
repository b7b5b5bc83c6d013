"""``python -m router``: the command line. Each command's module declares its arguments and
its handler (``register``); this module assembles them, parses, and turns the errors every
command may meet into one line and an exit status.

Adding a command: its module in ``router/cli/`` with a ``register(commands)`` that adds its
parser and ``set_defaults(run=handler)``, and one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from router.cli import (
    agents,
    audit,
    bench,
    calls,
    connections,
    credits,
    dlq,
    kyb,
    maintenance,
    numbers,
    orgs,
    resources,
    route,
    serve,
    status,
)
from router.cli.client import ClientError
from router.errors import ConfigError

COMMANDS = (
    serve, status, numbers, agents, orgs, resources, connections, calls, route, kyb, credits,
    dlq, audit, maintenance, bench,
)  # fmt: skip
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DESCRIPTION = """\
serve (ingress + worker), web, worker, and operator tools.

With no REDIS_URL, serve starts the embedded Valkey for the life of the process. web and
worker run apart (the Procfile's lines) and so need a shared REDIS_URL; the operator commands
talk to the running router over its HTTP API."""


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a log level: one of {', '.join(LOG_LEVELS)}"
        )
    return value.upper()


def _version() -> str:
    try:
        return metadata.version("call-router")
    except metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    # The name the user typed: the installed script, or the module.
    prog = "call-router" if Path(sys.argv[0]).name == "call-router" else "python -m router"
    top = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    top.add_argument("--version", action="version", version=f"call-router {_version()}")
    top.add_argument(
        "--log-level", default="INFO", type=_log_level, help=f"one of {', '.join(LOG_LEVELS)}"
    )
    # The operator commands' target, also accepted after the command (cli.client).
    top.add_argument("--url", default=None, help=argparse.SUPPRESS)
    top.add_argument("--token", default=None, help=argparse.SUPPRESS)
    commands = top.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    for leaf in _leaves(top):  # --log-level also after the command (serve --log-level debug)
        leaf.add_argument(
            "--log-level", default=argparse.SUPPRESS, type=_log_level,
            help=f"one of {', '.join(LOG_LEVELS)} (INFO)",
        )  # fmt: skip
    return top


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command's own parser (the ones that run something)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # an alias is the same parser
                found += _leaves(sub) or [sub]
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return bench.bench(argv[1:])
    args = parser().parse_args(argv)
    # structlog imported once the command is known: the CLI starts fast
    from router import logs

    logs.configure(args.log_level)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:  # Ctrl-C in an operator command (calls tail): no traceback
        return 130
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return code
