"""``calls …``: call records over the admin API — ``calls show ID`` (one call's routing
trace), ``calls list`` (the API's filters), ``calls tail`` (decisions as they are made,
``GET /v1/calls/events``) and ``calls simulate`` (``cli.simulate``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

import msgspec

from router.cli import simulate
from router.cli.client import (
    AdminClient,
    ClientError,
    Refused,
    StreamEnded,
    Unreachable,
    over_http,
    quote,
    remote_options,
)
from router.cli.output import ONE_LINE_HEADER, one_line, terminal_safe, trace
from router.core.records import CallRecord

_record = msgspec.json.Decoder(CallRecord)


async def calls_show(
    client: AdminClient, call_id: str, out: TextIO = sys.stdout, *, as_json: bool = False
) -> int:
    try:
        raw, _ = await client.call("GET", f"/v1/calls/{quote(call_id)}")
    except Refused as exc:
        if exc.status != 404:
            raise
        # one line, as every refusal: "error: …", exit 1
        gone = f"no record for {call_id} (records are kept 7 days)"
        raise ClientError(terminal_safe(gone)) from None
    if as_json:
        print(msgspec.json.encode(raw).decode(), file=out)
    else:
        print(trace(msgspec.convert(raw, CallRecord)), file=out)
    return 0


def call_filters(args: argparse.Namespace) -> dict[str, str]:
    return {
        name: value
        for name in ("status", "number", "agent", "since")
        if (value := getattr(args, name, None))
    }


async def calls_list(
    client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    params = {**call_filters(args), "limit": str(min(args.limit, 200))}
    shown = 0
    async for raw in client.pages("/v1/calls", params, most=args.limit):
        if args.json:
            print(msgspec.json.encode(raw).decode(), file=out, flush=True)
            continue
        if not shown:  # once the first page is in: a refusal is not preceded by a header
            print(ONE_LINE_HEADER, file=out)
        print(one_line(msgspec.convert(raw, CallRecord)), file=out, flush=True)
        shown += 1
    if not shown and not args.json:
        print(ONE_LINE_HEADER, "none", sep="\n", file=out)
    return 0


RECONNECTS = 6  # attempts, 0.5 s to 8 s apart (about 23 s in all), before giving up
ROUTER_STOPPING = "the router is stopping"


async def calls_tail(
    client: AdminClient,
    args: argparse.Namespace | None = None,
    out: TextIO = sys.stdout,
    limit: int | None = None,
) -> int:
    """Each decision as it is made; a lost stream (the router restarting, the network) is
    said and reconnected with backoff, resuming after the last call seen
    (``Last-Event-ID``); exit 2 after ``RECONNECTS`` failed attempts."""
    params = call_filters(args) if args is not None else {}
    as_json = getattr(args, "json", False)
    attempts = getattr(args, "reconnects", RECONNECTS)
    seen, last_id, failures = 0, None, 0
    while True:
        try:
            async with client.event_stream("/v1/calls/events", params, last_id) as decisions:
                if last_id is None and failures == 0:
                    print("listening for call decisions (Ctrl-C to stop)", file=sys.stderr,
                          flush=True)  # fmt: skip
                elif failures:
                    print(f"reconnected: resuming after {last_id or 'the start'}",
                          file=sys.stderr, flush=True)  # fmt: skip
                failures = 0
                async for data in decisions:
                    shown = data.decode() if as_json else one_line(_record.decode(data))
                    print(shown, file=out, flush=True)
                    last_id = decisions.last_id or last_id
                    seen += 1
                    if limit is not None and seen >= limit:
                        return 0
            lost = "the router closed the stream"
        except StreamEnded as exc:
            if str(exc) != ROUTER_STOPPING:  # a revoked key, a reader too slow: not to retry
                print(f"the router ended the stream: {exc}", file=sys.stderr)
                return 1
            lost = str(exc)
        except Unreachable as exc:
            lost = str(exc)
        failures += 1
        if failures > attempts:
            print(f"gave up after {attempts} attempts to reconnect: {lost}", file=sys.stderr)
            return 2
        delay = min(0.5 * 2 ** (failures - 1), 8.0)
        print(f"lost the stream ({lost}); reconnecting in {delay:g} s "
              f"(attempt {failures} of {attempts})", file=sys.stderr, flush=True)  # fmt: skip
        await asyncio.sleep(delay)  # a retry backoff, not a wait for an event
        if client.rediscover():  # restarted elsewhere (PORT=0): found by its runtime file
            print(f"the router now listens at {client.base_url} ({client.url_source})",
                  file=sys.stderr, flush=True)  # fmt: skip


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = remote_options()
    calls = commands.add_parser("calls", help="call records").add_subparsers(
        dest="sub", required=True
    )
    show = calls.add_parser("show", help="one call's routing trace", parents=[remote])
    show.add_argument("id", help="any id the router knows the call by")
    show.add_argument("--json", action="store_true", help="the record as compact JSON")
    show.set_defaults(
        run=over_http(lambda admin, args: calls_show(admin, args.id, as_json=args.json))
    )
    listing = calls.add_parser("list", help="decided calls, newest first", parents=[remote])
    listing.add_argument("--json", action="store_true", help="one JSON record per line")
    tail = calls.add_parser(
        "tail", help="decisions as they happen (Ctrl-C to stop)", parents=[remote]
    )
    tail.add_argument("--json", action="store_true", help="one JSON record per line")
    tail.add_argument(
        "--reconnects", type=int, default=RECONNECTS, metavar="N",
        help=f"attempts to reconnect a lost stream before giving up with exit 2 ({RECONNECTS})",
    )  # fmt: skip
    for filtered in (listing, tail):
        filtered.add_argument("--status", help="e.g. rejected, or dispatched,dry_run")
        filtered.add_argument("--number", help="the dialed number")
        filtered.add_argument("--agent", help="agent id or LiveKit agent name")
    listing.add_argument("--since", help="an ISO 8601 time or an age: 15m, 2h, 7d")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    listing.set_defaults(run=over_http(calls_list))
    tail.set_defaults(run=over_http(calls_tail))
    simulated = calls.add_parser("simulate", help=simulate.HELP, parents=[remote])
    simulate.add_arguments(simulated)
    simulated.set_defaults(run=over_http(simulate.run))
    placed = calls.add_parser(
        "outbound", parents=[remote],
        help="the router calls --to from one of your numbers; its decision as a trace",
    )  # fmt: skip
    placed.add_argument("--from", dest="caller", required=True,
                        help="one of your numbers that allows outbound calls")  # fmt: skip
    placed.add_argument("--to", required=True, help="the number called")
    placed.add_argument("--agent", help="the agent that talks (default: the number's)")
    placed.add_argument("--json", action="store_true", help="the record as compact JSON")
    placed.set_defaults(run=over_http(simulate.outbound))
