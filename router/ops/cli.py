"""Operator commands: they talk to the running router's Redis (``REDIS_URL``).

- ``numbers import FILE`` — CSV (a header row of API field names) or JSON lines; each row is
  validated and stored exactly as ``POST /v1/phone-numbers/import`` would, with a progress
  bar and a summary of what was refused and why.
- ``calls show ID`` — one call's routing trace, readable.
- ``calls tail`` — decisions as they are made (the workers publish each record as they write it).
- ``route preview …`` — the decision for a hypothetical call, nothing dispatched.
- ``dlq list`` / ``dlq replay ID… | --all`` — the dead-letter stream.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import msgspec
from redis.asyncio import Redis

from router.config import Config
from router.core.models import PhoneNumberImport
from router.core.records import CallRecord
from router.errors import ApiError, ConfigError
from router.ops.admin import import_row
from router.ops.preview import PreviewRequest, preview
from router.store import dlq, keys
from router.store.calls import CallStore
from router.store.redis_client import connect_any
from router.store.registry import Registry

_record = msgspec.json.Decoder(CallRecord)
# CSV cells are text: these columns hold JSON (objects, lists, booleans).
_JSON_COLUMNS = ("dispatchMetadataTemplate", "originOverrides", "sharedLanding")


async def redis_for(config: Config, what: str) -> Redis:
    if not config.redis_url:
        raise ConfigError("REDIS_URL", f"{what} talks to the running router's Redis")
    return await connect_any(config.redis_url, config.redis_cluster)


# ---- numbers import ---------------------------------------------------------------------------


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, raw row) from CSV or JSON lines; a row that is not even JSON is a str."""
    with path.open(newline="") as fh:
        if path.suffix.lower() == ".csv":
            for line, cells in enumerate(csv.DictReader(fh), start=2):
                row: dict[str, Any] = {k: v for k, v in cells.items() if k and v not in ("", None)}
                for column in _JSON_COLUMNS:
                    if column in row:
                        # Left as text when it is not JSON: validation says what is wrong.
                        with contextlib.suppress(json.JSONDecodeError):
                            row[column] = json.loads(row[column])
                yield line, row
        else:
            for line, text in enumerate(fh, start=1):
                if text.strip():
                    yield line, text


def _progress(done: int, total: int, out: TextIO) -> None:
    width = 30
    filled = width * done // max(total, 1)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    out.flush()


async def numbers_import(config: Config, path: Path, out: TextIO = sys.stdout) -> int:
    # A command-line tool reading its input before any network I/O: blocking is fine here.
    if not path.is_file():  # noqa: ASYNC240
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    rows = list(_rows(path))
    redis = await redis_for(config, "numbers import")
    registry = Registry(redis)
    refused: list[tuple[int, str]] = []
    imported = 0
    try:
        for done, (line, raw) in enumerate(rows, start=1):
            try:
                body = (
                    msgspec.json.decode(raw, type=PhoneNumberImport)
                    if isinstance(raw, str)
                    else msgspec.convert(raw, PhoneNumberImport)
                )
                await import_row(registry, body, config)
                imported += 1
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
                refused.append((line, str(exc)))
            except ApiError as exc:
                refused.append((line, f"{exc.code}: {exc.message}"))
            _progress(done, len(rows), sys.stderr)
    finally:
        await redis.aclose()
    print(file=sys.stderr)
    print(f"imported {imported}, refused {len(refused)} of {len(rows)} rows", file=out)
    for line, why in refused:
        print(f"  line {line}: {why}", file=out)
    return 0 if not refused else 1


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


async def calls_show(config: Config, call_id: str, out: TextIO = sys.stdout) -> int:
    redis = await redis_for(config, "calls show")
    try:
        record = await CallStore(redis).get(call_id)
    finally:
        await redis.aclose()
    if record is None:
        print(f"no record for {call_id} (records are kept 7 days)", file=sys.stderr)
        return 1
    print(trace(record), file=out)
    return 0


async def calls_tail(config: Config, out: TextIO = sys.stdout, limit: int | None = None) -> int:
    redis = await redis_for(config, "calls tail")
    pubsub = redis.pubsub()
    seen = 0
    try:
        await pubsub.subscribe(keys.CALLS_CHANNEL)
        print("listening for call decisions (Ctrl-C to stop)", file=sys.stderr, flush=True)
        while limit is None or seen < limit:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message["type"] != "message":
                continue
            print(one_line(_record.decode(message["data"])), file=out, flush=True)
            seen += 1
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await redis.aclose()
    return 0


# ---- route preview, dlq -------------------------------------------------------------------------


async def route_preview(args: argparse.Namespace, config: Config) -> int:
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
    redis = await redis_for(config, "route preview")
    try:
        result = await preview(Registry(redis), body, config)
    finally:
        await redis.aclose()
    print(msgspec.json.format(msgspec.json.encode(result)).decode())
    return 0


async def dead_letters(args: argparse.Namespace, config: Config) -> int:
    redis = await redis_for(config, "dlq")
    try:
        if args.dlq_command == "list":
            entries = await dlq.list_entries(redis, args.limit, config.stream_shards)
            for e in entries:
                if args.json:
                    print(msgspec.json.encode(e).decode())
                else:
                    print(
                        terminal_safe(
                            f"{e.id}  call={e.call_id}  deliveries={e.deliveries}  {e.failed_at}"
                        )
                    )
                    print(f"    {terminal_safe(e.error)}")
            if not args.json:
                print(f"{len(entries)} dead-lettered entr{'y' if len(entries) == 1 else 'ies'}")
            return 0
        replayed = await dlq.replay(redis, None if args.all else args.ids, config.stream_shards)
        missing = set(args.ids) - set(replayed)
        print(f"replayed {len(replayed)}: {' '.join(replayed)}".rstrip(": "))
        if missing:
            print(f"not in the dead-letter stream: {' '.join(sorted(missing))}", file=sys.stderr)
            return 1
        return 0
    finally:
        await redis.aclose()
