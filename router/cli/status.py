"""``status``: the routers running on this machine, from their runtime files
(``config.runtime``) — where each listens, its pid, its data and store, since when."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import msgspec

from router.config.runtime import running, runtime_dir


def status(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    found = running()
    if args.json:
        for runtime in found:
            print(msgspec.json.encode(runtime).decode(), file=out)
        return 0 if found else 1
    if not found:
        print(
            f"no router is running on this machine (runtime files: {runtime_dir()}); "
            "start one with python -m router serve",
            file=out,
        )
        return 1
    print("url                       pid      since                     store", file=out)
    for r in found:
        print(f"{r.url:<25} {r.pid:<8} {r.started_at:<25} {r.store}", file=out)
        if r.data_dir:
            print(f"  data: {r.data_dir}", file=out)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "status", help="the routers running on this machine (the CLI talks to the newest)"
    )
    command.add_argument("--json", action="store_true", help="one JSON object per router")
    command.set_defaults(run=status)
