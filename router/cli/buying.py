"""``numbers search`` / ``numbers buy``: managed numbers over the HTTP API (``GET
/v1/phone-numbers/available``, ``POST /v1/phone-numbers`` with an idempotency key: ``--key``
again retries a purchase without buying or charging twice)."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any, TextIO

import msgspec

from router.cli import fields
from router.cli.client import AdminClient, ClientError, over_http
from router.cli.output import terminal_safe


async def search(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    params = {"limit": str(args.limit)}
    if args.area_code:
        params["areaCode"] = args.area_code
    if args.locality:
        params["locality"] = args.locality
    if args.org:
        params["organizationId"] = args.org
    found, _ = await client.call("GET", "/v1/phone-numbers/available", params=params)
    if args.json:
        for n in found:
            print(msgspec.json.encode(n).decode(), file=out)
        return 0
    if not found:
        print("no numbers available for that search", file=out)
        return 0
    print("number           where                      monthly  setup   provider", file=out)
    for n in found:
        region = n["region"]
        where = ", ".join(v for v in (region.get("locality"), region.get("region")) if v)
        print(
            terminal_safe(
                f"{n['e164']:<16} {where[:26]:<26} ${n['monthlyCostUsd']:>6.2f} "
                f"${n['upfrontCostUsd']:>6.2f}  {n['provider']}"
            ),
            file=out,
        )
    print(f"{len(found)} found; buy one within 15 minutes with numbers buy NUMBER", file=out)
    return 0


async def buy(client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    key = args.key or f"cli-{uuid.uuid4().hex}"
    body = {"e164": args.e164, **await fields.body_of(client, args, _BUY_FLAGS)}
    try:
        row, _ = await client.call(
            "POST", "/v1/phone-numbers", body=body, headers={"Idempotency-Key": key}
        )
    except ClientError as exc:
        raise ClientError(f"{exc} (retry with --key {key}: never bought twice)") from None
    if args.json:
        print(msgspec.json.encode(row).decode(), file=out)
        return 0
    status = row["setupStatus"]
    print(
        terminal_safe(
            f"bought {row['e164']} from {row['sipProviderName']}: {row['id']}, next charge "
            f"{row['nextChargeAt']}"
        ),
        file=out,
    )
    for issue in status["issues"]:
        print(terminal_safe(f"  {issue}"), file=out)
    return 0


# What a purchase takes besides the number (the reference's purchase body).
_BUY_FLAGS = (*(f for f in fields.NUMBER_FLAGS if f.api in (
    "agentId", "dispatchMetadataTemplate", "label", "direction")), fields.ORG)  # fmt: skip


def register(numbers: Any, remote: argparse.ArgumentParser) -> None:
    """``search`` and ``buy`` under ``numbers``."""
    finding = numbers.add_parser(
        "search", help="numbers you can buy (managed numbers)", parents=[remote]
    )
    finding.add_argument("--area-code", help="three digits, e.g. 415")
    finding.add_argument("--locality", help="a city")
    finding.add_argument("--limit", type=int, default=10, help="1 to 50 (default 10)")
    finding.add_argument("--org", help="the organization (operator; default: yours)")
    finding.add_argument("--json", action="store_true", help="one JSON object per line")
    finding.set_defaults(run=over_http(search))
    buying = numbers.add_parser(
        "buy", help="buy a number from a recent search, charged from credits", parents=[remote]
    )
    buying.add_argument("e164", help="a number numbers search offered")
    fields.add_flags(buying, _BUY_FLAGS)
    buying.add_argument("--key", help="the idempotency key (default: a new one)")
    buying.add_argument("--json", action="store_true", help="the row as JSON")
    buying.set_defaults(run=over_http(buy))
