"""The rest of the API's resources on the command line (#31): ``agents show | update | delete``
(by id or LiveKit agent name), ``numbers show | update | release`` (by id or number),
``keys list | create | revoke`` and ``integrations``, and the tables ``cli.crud`` prints.
Every read takes ``--json``; a table has a header row and says "none" when empty; an update
sends only the flags given (``--clear FIELD`` sends ``null``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TextIO

import msgspec

from router.cli import fields
from router.cli.client import AdminClient, over_http, quote, remote_options
from router.cli.lookup import agent_id, number_id
from router.cli.output import pretty, terminal_safe


def print_found(found: Any, args: argparse.Namespace, out: TextIO) -> None:
    if getattr(args, "json", False):
        print(msgspec.json.encode(found).decode(), file=out)
    else:
        print(pretty(found), file=out)


def table(
    found: list[Any], as_json: bool, out: TextIO, header: str, line_of: Callable[[Any], str]
) -> int:
    """A list as ``--json`` lines, or as a table with its header (``none`` when empty) —
    printed once the answer is in (a refusal is not preceded by a header)."""
    if as_json:
        for item in found:
            print(msgspec.json.encode(item).decode(), file=out)
        return 0
    print(header, file=out)
    for item in found:
        print(terminal_safe(line_of(item)), file=out)
    if not found:
        print("none", file=out)
    return 0


async def _one(
    client: AdminClient, args: argparse.Namespace, path: str, body: dict[str, Any] | None,
    out: TextIO,
) -> int:  # fmt: skip
    """Show, update (``body``) or delete one resource, and print what the API answered."""
    method = {"show": "GET", "update": "PATCH"}.get(args.sub, "DELETE")
    found, _ = await client.call(method, path, body=body if method == "PATCH" else None)
    print_found(found, args, out)
    return 0


async def agents(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    path = f"/v1/agents/{quote(await agent_id(client, args.agent))}"
    body = await fields.changes(client, args, fields.AGENT_FLAGS) if args.sub == "update" else None
    return await _one(client, args, path, body, out)


async def numbers(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    path = f"/v1/phone-numbers/{quote(await number_id(client, args.number))}"
    update = args.sub == "update"
    body = await fields.changes(client, args, fields.NUMBER_FLAGS) if update else None
    return await _one(client, args, path, body, out)


async def keys(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    path = f"/v1/organizations/{quote(args.org)}/api-keys"
    if args.keys_command == "list":
        found, _ = await client.call("GET", path)
        return table(
            found, args.json, out, "id                           role           name",
            lambda k: f"{k['id']:<28} {k['role']:<14} {k['name']}",
        )  # fmt: skip
    if args.keys_command == "create":
        made, _ = await client.call("POST", path, body={"name": args.name, "role": args.role})
        print(made["key"], file=out)  # alone on stdout, shown this once
        print(f"key {made['id']} ({made['role']}): keep it now, it is not shown again",
              file=sys.stderr)  # fmt: skip
        return 0
    found, _ = await client.call("DELETE", f"{path}/{quote(args.key)}")
    print_found(found, args, out)
    return 0


def register_agents(sub: Any, remote: argparse.ArgumentParser) -> None:
    """``show``, ``update`` and ``delete`` under ``agents``."""
    _register(sub, remote, "agent", "agent id or LiveKit agent name", agents, fields.AGENT_FLAGS)


def register_numbers(sub: Any, remote: argparse.ArgumentParser) -> None:
    """``show``, ``update`` and ``release`` under ``numbers``."""
    _register(sub, remote, "number", "number id or the number", numbers, fields.NUMBER_FLAGS)


def _register(
    sub: Any, remote: argparse.ArgumentParser, name: str, what: str, handler: Any,
    flags: tuple[fields.Flag, ...],
) -> None:  # fmt: skip
    gone = "delete" if name == "agent" else "release"
    for verb, text in (("show", "one, as the API answers it"),
                       ("update", "change the fields given"), (gone, f"{gone} it")):  # fmt: skip
        command = sub.add_parser(verb, help=f"{name}: {text}", parents=[remote])
        command.add_argument(name, help=what)
        command.add_argument("--json", action="store_true", help="compact JSON")
        if verb == "update":
            fields.add_flags(command, flags)
            fields.add_clear(command)
        command.set_defaults(run=over_http(handler), sub=verb if verb != gone else "delete")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = remote_options()
    key_commands = commands.add_parser("keys", help="an organization's API keys").add_subparsers(
        dest="keys_command", required=True
    )
    key_verbs = (("list", "the keys (never their secrets)"),
                 ("create", "a new key, printed once"), ("revoke", "revoke one"))  # fmt: skip
    register_integrations(commands, remote)
    for verb, text in key_verbs:
        command = key_commands.add_parser(verb, help=text, parents=[remote])
        command.add_argument("org", help="the organization's id")
        if verb == "create":
            command.add_argument("--name", required=True, help="what the key is for")
            command.add_argument("--role", required=True, help="what it may do",
                                 choices=("viewer", "agent_manager", "admin"))  # fmt: skip
        if verb == "revoke":
            command.add_argument("key", help="the key's id")
        command.add_argument("--json", action="store_true", help="compact JSON")
        command.set_defaults(run=over_http(keys))


def _secret(value: str) -> str:
    """A secret given on the command line, or ``-`` to read it from stdin (not the shell's
    history)."""
    return sys.stdin.readline().strip() if value == "-" else value


async def integrations(
    client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    path = f"/v1/organizations/{quote(args.org)}/integrations"
    command = args.integrations_command
    if command == "list":
        found, _ = await client.call("GET", path)
        return table(
            found, args.json, out, "carrier  configured  account / application",
            lambda v: f"{v['carrier']:<8} {'yes' if v['configured'] else 'no':<11} "
            f"{v.get('accountSid') or v.get('connectionId') or ''}"
            + (f"  ({v['issue']})" if v.get("issue") else ""),
        )  # fmt: skip
    if command == "remove":
        found, _ = await client.call("DELETE", f"{path}/{args.carrier}")
    elif args.carrier == "twilio":
        body = {"accountSid": args.account_sid, "authToken": _secret(args.auth_token)}
        found, _ = await client.call("PUT", f"{path}/twilio", body=body)
    else:
        body = {"apiKey": _secret(args.api_key)}
        for flag, field in (("connection_id", "connectionId"), ("public_key", "publicKey")):
            if getattr(args, flag):
                body[field] = getattr(args, flag)
        found, _ = await client.call("PUT", f"{path}/telnyx", body=body)
    print_found(found, args, out)  # the API's view: never a secret
    return 0


def register_integrations(commands: Any, remote: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "integrations", help="an organization's carrier accounts (secrets never shown)"
    ).add_subparsers(dest="integrations_command", required=True)
    listing = sub.add_parser("list", help="which carriers are set up", parents=[remote])
    removing = sub.add_parser("remove", help="forget a carrier's credentials", parents=[remote])
    twilio = sub.add_parser("twilio", help="set the Twilio account", parents=[remote])
    telnyx = sub.add_parser("telnyx", help="set the Telnyx account", parents=[remote])
    for command in (listing, removing, twilio, telnyx):
        command.add_argument("org", help="the organization's id")
        command.add_argument("--json", action="store_true", help="compact JSON")
        command.set_defaults(run=over_http(integrations))
    removing.add_argument("carrier", choices=("twilio", "telnyx"), help="the carrier")
    twilio.add_argument("--account-sid", required=True, help="AC…")
    twilio.add_argument("--auth-token", required=True, help="the auth token ('-': from stdin)")
    telnyx.add_argument("--api-key", required=True, help="the API key ('-': from stdin)")
    telnyx.add_argument("--connection-id", help="its TeXML / Call Control application")
    telnyx.add_argument("--public-key", help="its webhook public key (base64)")
    for command, carrier in ((twilio, "twilio"), (telnyx, "telnyx")):
        command.set_defaults(carrier=carrier)
