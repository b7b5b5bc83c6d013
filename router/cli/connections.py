"""``sip-connections list | show | create | update | delete``: the organization's own SIP
trunks (``/v1/sip-connections``), both directions. Passwords and the PIN are written, never
shown (the API says ``passwordSet`` / ``pinSet``); ``-`` reads one from stdin."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from router.cli import fields
from router.cli.client import AdminClient, over_http, quote, remote_options
from router.cli.resources import print_found, table

PATH = "/v1/sip-connections"


async def connections(
    client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    command = args.connections_command
    if command == "list":
        found, _ = await client.call("GET", PATH)
        return table(found, args.json, out, f"{'id':<28} {'name':<24} inbound from / outbound to",
                     _line)  # fmt: skip
    path = f"{PATH}/{quote(args.connection)}" if command != "create" else PATH
    if command == "show":
        found, _ = await client.call("GET", path)
    elif command == "create":
        body = await fields.body_of(client, args, (*fields.CONNECTION_FLAGS, fields.ORG))
        found, _ = await client.call("POST", path, body=body)
    elif command == "update":
        gone = {"outbound": None} if args.no_outbound else None
        body = await fields.changes(client, args, fields.CONNECTION_FLAGS, gone)
        found, _ = await client.call("PATCH", path, body=body)
    else:
        found, _ = await client.call("DELETE", path)
    print_found(found, args, out)
    return 0


def _line(row: Any) -> str:
    inbound = ",".join(row["inbound"]["allowedAddresses"]) or "anywhere"
    outbound = (row.get("outbound") or {}).get("address") or "-"
    return f"{row['id']:<28} {row['name'][:24]:<24} {inbound} / {outbound}"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = remote_options()
    sub = commands.add_parser(
        "sip-connections", help="your own SIP trunks, both directions (passwords never shown)"
    ).add_subparsers(dest="connections_command", required=True)
    for verb, text in (("list", "every SIP connection"), ("show", "one"),
                       ("create", "a new one"), ("update", "change the fields given"),
                       ("delete", "delete one no number uses")):  # fmt: skip
        command = sub.add_parser(verb, help=text, parents=[remote])
        if verb not in ("list", "create"):
            command.add_argument("connection", help="the connection's id")
        if verb == "create":
            fields.add_flags(command, (*fields.CONNECTION_FLAGS, fields.ORG), required=("name",))
        if verb == "update":
            fields.add_flags(command, fields.CONNECTION_FLAGS)
            fields.add_clear(command)
            command.add_argument("--no-outbound", action="store_true",
                                 help="take the outbound side away")  # fmt: skip
        command.add_argument("--json", action="store_true", help="compact JSON")
        command.set_defaults(run=over_http(connections))
