"""``bench``: the benchmark on this machine. It lives in ``bench/`` beside the package (run it
from a clone with the ``bench`` extra); its own options follow the command."""

from __future__ import annotations

import argparse


def bench(argv: list[str]) -> int:
    try:
        from bench.run import main as bench_main
    except ImportError as exc:
        print(f"bench needs a clone and the extras: pip install -e '.[bench]' ({exc})")
        return 2
    return int(bench_main(argv))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "bench", help="benchmark on this machine (pip install -e '.[bench]'; see bench/run.py)"
    )  # its arguments are bench/run.py's: main() hands them over before parsing
