"""``kyb show | draft | submit | approve | reject``: business verification over the HTTP API.
A profile is given as the API's JSON (``--file``, ``-`` for stdin) and/or field by field
(``--set businessProfile.legalName="Acme Inc."``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import msgspec

from router.cli.client import AdminClient, ClientError, over_http, remote_options
from router.cli.output import terminal_safe


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.file:
        try:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
            body = json.loads(text)
        except (OSError, ValueError) as exc:
            raise ClientError(f"--file {args.file}: {exc}") from None
        if not isinstance(body, dict):
            raise ClientError(f"--file {args.file}: not a JSON object")
    for item in args.set or []:
        path, equals, value = item.partition("=")
        if not equals or not path:
            raise ClientError(f"--set {item}: FIELD=VALUE, e.g. businessProfile.legalName=Acme")
        where = body
        *parents, last = path.split(".")
        for part in parents:
            where = where.setdefault(part, {})
        where[last] = value
    if getattr(args, "attest", False):
        body["attestationAccepted"] = True
    return body


def _show(found: dict[str, Any], out: TextIO) -> None:
    row = found if "status" in found and "submission" not in found else found.get("submission")
    if row is None:
        print("no business verification yet: start one with kyb draft", file=out)
        return
    print(terminal_safe(f"{row['organizationId']}: {row['status']}"), file=out)
    profile, person = row["businessProfile"], row["authorizedRepresentative"]
    for name, value in [*profile.items(), *person.items()]:
        if value is not None:
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value
            print(terminal_safe(f"  {name}: {shown}"), file=out)
    if row.get("rejectionReason"):
        print(terminal_safe(f"  rejected: {row['rejectionReason']}"), file=out)
    slack = row["slackNotificationStatus"]
    error = f" ({row['slackNotificationError']})" if row.get("slackNotificationError") else ""
    print(terminal_safe(f"  operations team told: {slack}{error}"), file=out)


async def kyb(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    command = args.kyb_command
    params = {"organizationId": args.org} if args.org else None
    if command == "show":
        found, _ = await client.call("GET", "/v1/phone-numbers/kyb", params=params)
    elif command in ("draft", "submit"):
        method, path = ("PUT", "draft") if command == "draft" else ("POST", "submit")
        found, _ = await client.call(
            method, f"/v1/phone-numbers/kyb/{path}", body=_body(args), params=params
        )
    else:
        review: dict[str, Any] = {"decision": command}
        if command == "reject":
            review["rejectionReason"] = args.reason
        found, _ = await client.call(
            "POST", f"/v1/organizations/{args.org}/kyb/review", body=review
        )
    if args.json:
        print(msgspec.json.encode(found).decode(), file=out)
    else:
        _show(found, out)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = remote_options()
    sub = commands.add_parser(
        "kyb", help="business verification before buying a managed number"
    ).add_subparsers(dest="kyb_command", required=True)
    helps = {
        "show": "the verification's status and profile",
        "draft": "save any part of the profile",
        "submit": "submit the whole profile for review (every missing field is named)",
        "approve": "approve a submitted profile (operator)",
        "reject": "reject a submitted profile with a reason the customer sees (operator)",
    }
    for name, text in helps.items():
        command = sub.add_parser(name, help=text, parents=[remote])
        reviewing = name in ("approve", "reject")
        command.add_argument(
            "--org", required=reviewing, default=None,
            help="the organization" + ("" if reviewing else " (operator; default: yours)"),
        )  # fmt: skip
        if name in ("draft", "submit"):
            command.add_argument("--file", help="the profile as the API's JSON ('-': stdin)")
            command.add_argument(
                "--set", action="append", metavar="FIELD=VALUE",
                help="one field, e.g. businessProfile.address.city=Austin (repeatable)",
            )  # fmt: skip
        if name == "submit":
            command.add_argument(
                "--attest", action="store_true",
                help="accept the attestation that the profile is true (attestationAccepted)",
            )  # fmt: skip
        if name == "reject":
            command.add_argument("--reason", required=True, help="what the customer must fix")
        command.add_argument("--json", action="store_true", help="the API's answer as JSON")
        command.set_defaults(run=over_http(kyb))
