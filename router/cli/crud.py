"""A resource with the API's five verbs on the command line — ``list``, ``show``, ``create``,
``update``, ``delete`` — from one description: its path, its table, its flags. Organizations
and SIP connections are such resources; agents and numbers have verbs of their own
(``import``, ``buy``, ``release``) and say so in their modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NamedTuple, TextIO

from router.cli import fields
from router.cli.client import AdminClient, over_http, quote, remote_options
from router.cli.resources import print_found, table


class Resource(NamedTuple):
    command: str  # the CLI's word, e.g. "sip-connections"
    help: str
    path: str  # the API's collection, e.g. "/v1/sip-connections"
    one: str  # what an id names, for help: "the connection's id"
    header: str  # the table's first line
    line: Callable[[Any], str]  # a row of the table
    create: tuple[fields.Flag, ...]
    update: tuple[fields.Flag, ...]
    verbs: tuple[tuple[str, str], ...]  # (verb, its help), in the order help lists them
    required: tuple[str, ...] = ("name",)  # flags create cannot go without


async def _run(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    resource: Resource = args.resource
    verb = args.verb
    if verb == "list":
        found, _ = await client.call("GET", resource.path)
        return table(found, args.json, out, resource.header, resource.line)
    path = resource.path if verb == "create" else f"{resource.path}/{quote(args.id)}"
    if verb == "show":
        found, _ = await client.call("GET", path)
    elif verb == "create":
        found, _ = await client.call(
            "POST", path, body=await fields.body_of(client, args, resource.create)
        )
    elif verb == "update":
        body = await fields.changes(client, args, resource.update, getattr(args, "extra", None))
        found, _ = await client.call("PATCH", path, body=body)
    else:
        found, _ = await client.call("DELETE", path)
    print_found(found, args, out)
    return 0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], resource: Resource
) -> dict[str, argparse.ArgumentParser]:
    """The resource's commands; each verb's parser, for a flag of its own."""
    remote = remote_options()
    sub = commands.add_parser(resource.command, help=resource.help).add_subparsers(
        dest="verb", required=True
    )
    made = {}
    for verb, text in resource.verbs:
        command = made[verb] = sub.add_parser(verb, help=text, parents=[remote])
        if verb not in ("list", "create"):
            command.add_argument("id", help=resource.one)
        if verb == "create":
            fields.add_flags(command, resource.create, required=resource.required)
        if verb == "update":
            fields.add_flags(command, resource.update)
            fields.add_clear(command)
        command.add_argument("--json", action="store_true", help="compact JSON")
        command.set_defaults(run=over_http(_run), resource=resource)
    return made
