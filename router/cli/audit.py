"""``audit``: who wrote what, newest first (``GET /v1/audit``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

import msgspec

from router.cli.client import AdminClient, over_http, remote_options
from router.cli.output import terminal_safe


async def audit_log(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    params = {"limit": str(min(args.limit, 500))}
    if args.organization:
        params["organizationId"] = args.organization
    async for entry in client.pages("/v1/audit", params, most=args.limit):
        if args.json:
            print(msgspec.json.encode(entry).decode(), file=out)
            continue
        print(
            terminal_safe(
                f"{entry['at']}  {entry['who']} ({entry['role']})  {entry['action']}  "
                f"{entry['resource']}"
            ),
            file=out,
        )
        for field, change in (entry.get("changes") or {}).items():
            before = json.dumps(change.get("before"), ensure_ascii=False)
            after = json.dumps(change.get("after"), ensure_ascii=False)
            print(terminal_safe(f"    {field}: {before} → {after}"), file=out)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser(
        "audit", help="who wrote what, newest first", parents=[remote_options()]
    )
    audit.add_argument("--organization", help="the operator's choice of organization")
    audit.add_argument("--limit", type=int, default=50, help="entries shown (50)")
    audit.add_argument("--json", action="store_true", help="one JSON entry per line")
    audit.set_defaults(run=over_http(audit_log))
