"""``credits show`` / ``credits add``: an organization's prepaid balance and ledger
(``GET /v1/credits``), and the operator's top-ups (``POST /v1/organizations/{id}/credits``,
each with an idempotency key: ``--key`` again retries without adding twice)."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import TextIO

import msgspec

from router.cli.client import AdminClient, over_http, remote_options
from router.cli.output import terminal_safe
from router.money import cents, dollars


def _amount(text: str) -> int:
    try:
        return cents(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def credits(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.credits_command == "add":
        key = args.key or f"cli-{uuid.uuid4().hex}"
        entry, _ = await client.call(
            "POST", f"/v1/organizations/{args.org}/credits",
            body={"amountCents": args.amount, "reason": args.reason},
            headers={"Idempotency-Key": key},
        )  # fmt: skip
        if args.json:
            print(msgspec.json.encode(entry).decode(), file=out)
            return 0
        print(
            terminal_safe(
                f"{dollars(entry['amountCents'])} to {args.org}: balance "
                f"{dollars(entry['balanceAfterCents'])} (entry {entry['id']}; retry with "
                f"--key {key} to never add twice)"
            ),
            file=out,
        )
        return 0
    params = {"limit": str(args.limit)}
    if args.org:
        params["organizationId"] = args.org
    found, _ = await client.call("GET", "/v1/credits", params=params)
    if args.json:
        print(msgspec.json.encode(found).decode(), file=out)
        return 0
    print(f"{found['organizationId']}: balance {dollars(found['balanceCents'])}", file=out)
    if not found["entries"]:
        print("no ledger entries yet", file=out)
        return 0
    print("when                      amount      balance     kind        reason (who)", file=out)
    for e in found["entries"]:
        print(
            terminal_safe(
                f"{e['at']:<25} {dollars(e['amountCents']):>11} "
                f"{dollars(e['balanceAfterCents']):>11} {e['kind']:<11} {e['reason']} ({e['who']})"
            ),
            file=out,
        )
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = remote_options()
    sub = commands.add_parser(
        "credits", help="an organization's prepaid balance and ledger"
    ).add_subparsers(dest="credits_command", required=True)
    show = sub.add_parser("show", help="the balance and the newest entries", parents=[remote])
    show.add_argument("--org", default=None, help="the organization (operator; default: yours)")
    show.add_argument("--limit", type=int, default=20, help="entries shown (default 20)")
    show.add_argument("--json", action="store_true", help="the API's answer as JSON")
    add = sub.add_parser(
        "add", help="add credits (operator); a negative amount takes some back", parents=[remote]
    )
    add.add_argument("org", help="the organization's id")
    add.add_argument("amount", type=_amount, help="dollars, e.g. 25 or 25.50")
    add.add_argument("--reason", required=True, help="why, as the ledger will say it")
    add.add_argument("--key", default=None, help="the idempotency key (default: a new one)")
    add.add_argument("--json", action="store_true", help="the ledger entry as JSON")
    for command in (show, add):
        command.set_defaults(run=over_http(credits))
