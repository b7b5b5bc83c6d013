"""``route preview …``: the decision the router would take for such a call, nothing
dispatched (``POST /v1/route/preview``)."""

from __future__ import annotations

import argparse
import sys

import msgspec

from router.cli.client import AdminClient, over_http, remote_options
from router.cli.output import pretty


async def route_preview(client: AdminClient, args: argparse.Namespace) -> int:
    # the API's Struct imported where used: the CLI's other commands start fast
    from router.api.route_preview import PreviewRequest

    headers = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep:
            print(f"--header wants 'NAME: VALUE', got {item!r}", file=sys.stderr)
            return 2
        headers[name.strip()] = value.strip()
    body = PreviewRequest(
        dialed_number=args.dialed,
        caller_number=args.caller,
        provider=args.provider,
        forwarded_from=args.forwarded_from,
        headers=headers,
        trunk_id=args.trunk_id,
    )
    result, _ = await client.call("POST", "/v1/route/preview", body=body)
    print(msgspec.json.encode(result).decode() if args.json else pretty(result))
    # As calls simulate: 1 when such a call would be rejected (scripts can tell), 0 dispatched.
    return 1 if isinstance(result, dict) and result.get("action") == "reject" else 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    routes = commands.add_parser("route", help="routing tools").add_subparsers(
        dest="sub", required=True
    )
    prev = routes.add_parser(
        "preview",
        help="the decision for such a call, without dispatching",
        parents=[remote_options()],
    )
    prev.add_argument("--dialed", help="the dialed number")
    prev.add_argument("--caller", help="the caller's number")
    prev.add_argument("--forwarded-from", help="a carrier's own forwarding field")
    prev.add_argument("--provider", default="livekit", help="livekit, twilio or telnyx (livekit)")
    prev.add_argument("--trunk-id", help="LiveKit inbound trunk id (trunks hiding numbers)")
    prev.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help="a SIP header, e.g. 'Diversion: <sip:+16175550177@pbx>;reason=unconditional'",
    )  # fmt: skip
    prev.add_argument("--json", action="store_true", help="compact JSON, on one line")
    prev.set_defaults(run=over_http(route_preview))
