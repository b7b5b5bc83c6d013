"""Operator commands. They talk to the running router's HTTP API (``ops.client``: ``--url`` /
``ROUTER_URL``, ``--token`` / ``ROUTER_ADMIN_TOKEN``) with the same authorization as any
client:

- ``numbers …`` and ``agents …`` — ``ops.cli_rows``.
- ``calls show ID`` — one call's routing trace, readable; ``calls list`` with the API's
  filters; ``calls tail`` — decisions as they are made (``GET /v1/calls/events``).
- ``route preview …`` — the decision for a hypothetical call, nothing dispatched.
- ``dlq list`` / ``dlq replay ID… | --all`` — the dead-letter stream.

``maintenance …`` alone talks to Redis directly (``REDIS_URL``): break-glass repairs for when
the web processes are down, bypassing the admin API's authorization, and it says so.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TextIO

import msgspec
from redis.asyncio import Redis

from router.config import Config
from router.core.records import CallRecord
from router.errors import ConfigError
from router.ops.client import AdminClient, Refused, StreamEnded, quote
from router.ops.preview import PreviewRequest
from router.store import dlq, keys
from router.store.redis_client import connect_any
from router.store.registry import Registry

_record = msgspec.json.Decoder(CallRecord)


async def redis_for(config: Config, what: str) -> Redis:
    if not config.redis_url:
        raise ConfigError("REDIS_URL", f"{what} talks to the running router's Redis")
    return await connect_any(config.redis_url, config.redis_cluster)


# ---- calls show / tail ------------------------------------------------------------------------


# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Call data comes from callers and carriers: escape what a terminal would act on (ESC
    sequences, a newline forging a line) so it is shown, not obeyed."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def trace(record: CallRecord) -> str:
    """A call's decision as an operator reads it."""
    lines = [
        f"call {record.call_id} ({record.provider})  status: {record.status}",
        f"  received {record.received_at}  decided {record.decided_at}",
        f"  caller {record.caller_number or record.caller_raw or '-'}"
        f"  dialed {record.dialed_number or record.dialed_raw or '-'}",
    ]
    if record.forwarded_from_number or record.forwarded_from_withheld or record.forwarding_chain:
        shown = record.forwarded_from_number or (
            "withheld" if record.forwarded_from_withheld else "-"
        )
        lines.append(f"  forwarded from {shown} (source: {record.forwarded_from_source or '-'})")
        for hop in record.forwarding_chain:
            number = hop.number or ("withheld" if hop.withheld else "not a number")
            lines.append(f"    ← {number}  via {hop.source}  {hop.reason or ''}".rstrip())
    lines.append(f"  matched: {record.matched_rule or 'nothing'} — {record.match_reason or ''}")
    if record.origin_override:
        lines.append(f"  origin override: {record.origin_override}")
    lines.append(f"  number {record.phone_number_id or '-'}  agent {record.agent_name or '-'}")
    if record.pre_call is not None:
        pc = record.pre_call
        fallback = f", fell back to {pc.fallback}" if pc.fallback else ""
        lines.append(f"  pre-call: {pc.status} in {pc.ms:.0f} ms{fallback}")
    if record.dispatch_id:
        lines.append(f"  dispatch {record.dispatch_id} into room {record.room}")
    if record.agent_joined_at:
        to_agent = record.timings_ms.get("toAgent", 0.0)
        lines.append(f"  agent joined {record.agent_joined_at} ({to_agent:.0f} ms after dispatch)")
    if record.no_show:
        lines.append(f"  agent no-show: {record.no_show}")
    if record.ended_at:
        reason = f" ({record.disconnect_reason})" if record.disconnect_reason else ""
        lines.append(
            f"  ended {record.ended_at} by {record.ended_by} after {record.duration_s} s{reason}"
        )
    for text in (record.reject_reason, record.error, *record.notes):
        if text:
            lines.append(f"  ! {text}")
    for leg in record.legs:
        lines.append(f"  leg {leg.kind}: {leg.provider} {leg.call_id} at {leg.at}")
    return "\n".join(terminal_safe(line) for line in lines)


def one_line(record: CallRecord) -> str:
    who = record.agent_name or record.reject_reason or record.error or ""
    return terminal_safe(
        f"{record.decided_at or record.received_at}  {record.status:<14} {record.call_id}  "
        f"{record.dialed_number or '-'} ← {record.caller_number or '-'}"
        f"{'  fwd ' + record.forwarded_from_number if record.forwarded_from_number else ''}"
        f"  {record.matched_rule or '-'}  {who}"
    )


async def calls_show(client: AdminClient, call_id: str, out: TextIO = sys.stdout) -> int:
    try:
        raw, _ = await client.call("GET", f"/v1/calls/{quote(call_id)}")
    except Refused as exc:
        if exc.status != 404:
            raise
        print(terminal_safe(f"no record for {call_id} (records are kept 7 days)"), file=sys.stderr)
        return 1
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
    async for raw in client.pages("/v1/calls", params, most=args.limit):
        print(one_line(msgspec.convert(raw, CallRecord)), file=out, flush=True)
    return 0


async def calls_tail(
    client: AdminClient,
    args: argparse.Namespace | None = None,
    out: TextIO = sys.stdout,
    limit: int | None = None,
) -> int:
    params = call_filters(args) if args is not None else {}
    seen = 0
    async with client.event_stream("/v1/calls/events", params) as decisions:
        print("listening for call decisions (Ctrl-C to stop)", file=sys.stderr, flush=True)
        try:
            async for data in decisions:
                print(one_line(_record.decode(data)), file=out, flush=True)
                seen += 1
                if limit is not None and seen >= limit:
                    return 0
        except StreamEnded as exc:
            print(f"the router ended the stream: {exc}", file=sys.stderr)
            return 1
    print("the router ended the stream (it stopped or restarted)", file=sys.stderr)
    return 1


# ---- route preview, dlq -------------------------------------------------------------------------


async def route_preview(client: AdminClient, args: argparse.Namespace) -> int:
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
    print(msgspec.json.format(msgspec.json.encode(result)).decode())
    return 0


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
            print(f"{len(entries)} dead-lettered entr{'y' if len(entries) == 1 else 'ies'}")
        return 0
    body = {"all": True} if args.all else {"ids": args.ids}
    result, _ = await client.call("POST", "/v1/dead-letters/replay", body=body)
    return _replayed(result["replayed"], result["missing"])


def _replayed(replayed: list[str], missing: list[str]) -> int:
    print(f"replayed {len(replayed)}: {' '.join(replayed)}".rstrip(": "))
    if missing:
        print(f"not in the dead-letter stream: {' '.join(sorted(missing))}", file=sys.stderr)
        return 1
    return 0


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


# ---- maintenance: Redis directly (break-glass) -------------------------------------------------

BREAK_GLASS = (
    "break-glass: talking to Redis directly at REDIS_URL, bypassing the admin API and its "
    "authorization"
)


async def maintenance(args: argparse.Namespace, config: Config) -> int:
    redis = await redis_for(config, f"maintenance {args.maintenance_command}")
    print(BREAK_GLASS, file=sys.stderr)
    try:
        if args.maintenance_command == "reindex":  # rebuilt from the rows, whatever was there
            await redis.delete(keys.INDEX_VERSION)
            indexed = await Registry(redis).ensure_indexes()
            print(f"rebuilt the registry's indexes over {indexed} numbers")
            return 0
        ids = None if args.all else args.ids
        replayed = await dlq.replay(redis, ids, config.stream_shards)
        return _replayed(replayed, sorted(set(args.ids) - set(replayed)))
    finally:
        await redis.aclose()
