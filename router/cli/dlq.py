"""``dead-letters list`` / ``dead-letters replay ID… | --all`` (``dlq`` for short): the
dead-letter stream over the admin API (``/v1/dead-letters``)."""

from __future__ import annotations

import argparse
import sys

import msgspec

from router.cli.client import AdminClient, over_http, remote_options
from router.cli.output import terminal_safe


async def dead_letters(client: AdminClient, args: argparse.Namespace) -> int:
    if args.dlq_command == "list":
        entries, _ = await client.call("GET", "/v1/dead-letters", params={"limit": str(args.limit)})
        for e in entries:
            if args.json:
                print(msgspec.json.encode(e).decode())
            else:
                print(
                    terminal_safe(
                        f"{e['id']}  call={e['callId']}  deliveries={e['deliveries']}  "
                        f"{e['failedAt']}"
                    )
                )
                print(f"    {terminal_safe(e['error'])}")
        if not args.json:
            count = len(entries)
            print(f"{count} dead-lettered entr{'y' if count == 1 else 'ies'}" if count else "none")
        return 0
    body = {"all": True} if args.all else {"ids": args.ids}
    result, _ = await client.call("POST", "/v1/dead-letters/replay", body=body)
    if args.json:
        print(msgspec.json.encode(result).decode())
        return 1 if result["missing"] else 0
    return replayed_words(result["replayed"], result["missing"])


def replayed_words(replayed: list[str], missing: list[str]) -> int:
    print(f"replayed {len(replayed)}: {' '.join(replayed)}".rstrip(": "))
    if missing:
        print(f"not in the dead-letter stream: {' '.join(sorted(missing))}", file=sys.stderr)
        return 1
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = remote_options()
    dlq = commands.add_parser(
        "dead-letters",
        aliases=["dlq"],
        help="calls the worker gave up on, with their errors; replayed once fixed",
    ).add_subparsers(dest="dlq_command", required=True)
    listing = dlq.add_parser(
        "list", help="dead-lettered entries and their errors", parents=[remote]
    )
    listing.add_argument("--limit", type=int, default=100, help="entries shown (100)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    replay = dlq.add_parser("replay", help="put entries back on the call stream", parents=[remote])
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "ids", nargs="*", default=[], metavar="ID", help="entry ids (dead-letters list)"
    )
    which.add_argument("--all", action="store_true", help="every entry")
    replay.add_argument("--json", action="store_true", help="the API's answer as JSON")
    for command in (listing, replay):
        command.set_defaults(run=over_http(dead_letters))
