"""``numbers …``: phone numbers over the admin API.

- ``numbers import FILE`` — CSV (a header row of API field names) or JSON lines; each row is
  sent to ``POST /v1/phone-numbers/import``, with a progress bar and a summary of what was
  refused and why;
- ``numbers import NUMBER --agent …`` — one number, its fields as flags (``numbers add`` is
  the same command: the API calls bringing a number you own an import, buying one a purchase);
- ``numbers list``, ``numbers reconcile [--fix]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import msgspec

from router.cli import buying, fields, lookup, resources
from router.cli.client import AdminClient, Refused, Usage, over_http, remote_options
from router.cli.output import terminal_safe

# CSV cells are text: these columns hold JSON (objects, lists, booleans).
_JSON_COLUMNS = ("dispatchMetadataTemplate", "originOverrides", "sharedLanding")


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


IMPORTS_IN_FLIGHT = 8  # rows sent at once over the client's keep-alive connections


# What a re-import may change on a number already there (the fields PATCH takes).
_PATCHABLE = (
    "direction", "agentId", "dispatchMetadataTemplate", "label", "sipConnectionInstallationId",
    "sipProviderName", "sipTrunkId", "sharedLanding", "originOverrides", "overflow",
    "overflowAgentId", "overflowTransferTo",
)  # fmt: skip


async def numbers_import(
    client: AdminClient, path: Path, out: TextIO = sys.stdout, *, upsert: bool = False
) -> int:
    """``numbers import FILE``; with ``upsert``, a number already imported is updated with
    the row's fields instead of refused."""
    # A command-line tool reading its input before any network I/O: blocking is fine here.
    if not path.is_file():  # noqa: ASYNC240
        raise Usage(f"no such file: {path}")
    rows = list(_rows(path))
    if any(_names_an_agent(raw) for _, raw in rows):
        agents = await lookup.agents_by_name(client)
        rows = [(line, _with_agent_ids(raw, agents)) for line, raw in rows]
    existing: dict[str, str] = {}
    if upsert:
        async for row in client.pages("/v1/phone-numbers", {"limit": "1000"}):
            existing[row["e164"]] = row["id"]
    refused: dict[int, str] = {}
    updated = 0
    done = 0
    gate = asyncio.Semaphore(IMPORTS_IN_FLIGHT)

    async def send(line: int, raw: Any) -> None:
        nonlocal done, updated
        async with gate:
            try:
                if isinstance(raw, str):
                    await client.call("POST", "/v1/phone-numbers/import", data=raw.encode())
                else:
                    await client.call("POST", "/v1/phone-numbers/import", body=raw)
            except Refused as exc:
                if exc.status in (401, 403):
                    raise
                number = _known(raw, existing) if upsert and exc.status == 409 else None
                if number is None:
                    refused[line] = f"{exc.code}: {exc.message}"
                else:
                    try:
                        await client.call("PATCH", f"/v1/phone-numbers/{number}",
                                          body=_patch_of(raw))  # fmt: skip
                        updated += 1
                    except Refused as again:
                        refused[line] = f"{again.code}: {again.message}"
            done += 1
            _progress(done, len(rows), sys.stderr)

    await asyncio.gather(*(send(line, raw) for line, raw in rows))
    print(file=sys.stderr)
    imported = len(rows) - len(refused) - updated
    print(
        f"imported {imported}, "
        + (f"updated {updated}, " if upsert else "")
        + f"refused {len(refused)} of {len(rows)} rows",
        file=out,
    )
    for line in sorted(refused):
        print(f"  line {line}: {refused[line]}", file=out)
    return 0 if not refused else 1


# A row's agents, given by id or — as everywhere on the command line — LiveKit agent name.
_AGENT_COLUMNS = ("agentId", "overflowAgentId")


def _names_an_agent(raw: Any) -> bool:
    fields_of = _fields(raw)
    return any(
        isinstance(fields_of.get(c), str) and not fields_of[c].startswith("ag_")
        for c in _AGENT_COLUMNS
    )


def _with_agent_ids(raw: Any, agents: dict[str, list[str]]) -> Any:
    """The row with each agent named by a name that is one agent's, as that agent's id (a
    name that is no agent's, or several agents', is left for the API to refuse, per row)."""
    if not _names_an_agent(raw):
        return raw
    row = dict(_fields(raw))
    for column in _AGENT_COLUMNS:
        ids = agents.get(row.get(column) or "", [])
        if len(ids) == 1:
            row[column] = ids[0]
    return row


def _fields(raw: Any) -> dict[str, Any]:
    try:
        found = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _known(raw: Any, existing: dict[str, str]) -> str | None:
    """The id of the number a row names, if it is already imported."""
    from router.core.phone import to_e164  # phonenumbers: only an upsert needs it

    e164 = to_e164(str(_fields(raw).get("e164") or ""))
    return existing.get(e164 or "")


def _patch_of(raw: Any) -> dict[str, Any]:
    fields = _fields(raw)
    return {name: fields[name] for name in _PATCHABLE if name in fields}


_NUMBER = re.compile(r"\+?[\d\s().-]{3,}")  # the shape of a phone number, not a file


async def numbers_import_command(client: AdminClient, args: argparse.Namespace) -> int:
    """``numbers import SOURCE``: a file of rows, or one number with its fields as flags."""
    one_number_flags = (*fields.NUMBER_FLAGS, *fields.IMPORT_FLAGS)
    given = Path(args.given)
    # A command-line tool reading its input before any network I/O: blocking is fine here.
    if given.is_file() or not _NUMBER.fullmatch(args.given):  # noqa: ASYNC240
        if fields.given(args, one_number_flags):
            raise Usage("a file's rows carry their own fields: the flags describe one number")
        return await numbers_import(client, given, upsert=args.upsert)
    return await numbers_import_one(client, args, one_number_flags)


async def numbers_import_one(
    client: AdminClient, args: argparse.Namespace, flags: tuple[fields.Flag, ...],
    out: TextIO = sys.stdout,
) -> int:  # fmt: skip
    body = {"e164": args.given, **await fields.body_of(client, args, flags)}
    there = await lookup.number_id(client, args.given, missing=None) if args.upsert else None
    if there is None:
        row, _ = await client.call("POST", "/v1/phone-numbers/import", body=body)
    else:  # already imported: the fields given change it (an update's rules, not an import's)
        row, _ = await client.call("PATCH", f"/v1/phone-numbers/{there}", body=_patch_of(body))
    resources.print_found(row, args, out)
    return 0


async def numbers_list(client: AdminClient, as_json: bool, out: TextIO = sys.stdout) -> int:
    found = [row async for row in client.pages("/v1/phone-numbers", {"limit": "1000"})]
    resources.table(
        found, as_json, out, f"{'id':<27}  {'number':<16} {'allows':<8} {'agent':<27} setup",
        _number_line,
    )  # fmt: skip
    if found and not as_json:
        print(f"{len(found)} number{'' if len(found) == 1 else 's'}", file=out)
    return 0


def _number_line(row: Any) -> str:
    status = row.get("setupStatus") or {}
    ready = "ready" if status.get("sipConnectionReady") else "not ready"
    issues = "; ".join(status.get("issues") or [])
    return (
        f"{row['id']}  {row['e164']:<16} {row['direction']:<8} "
        f"{row.get('agentId') or '-':<27} {ready}"
        f"{'  (' + issues + ')' if issues else ''}  {row.get('label') or ''}"
    ).rstrip()


async def numbers_reconcile(
    client: AdminClient, fix: bool, out: TextIO = sys.stdout, *, as_json: bool = False
) -> int:
    """Every organization's numbers against LiveKit: the drift, repaired with ``--fix``;
    exit 1 while drift is left."""
    report, _ = await client.call("POST", "/v1/provisioning/reconcile", body={"fix": fix})
    if as_json:
        print(msgspec.json.encode(report).decode(), file=out)
    unresolved = False
    for org in report["organizations"]:
        lines = []
        if org.get("trunkMissing"):
            lines.append("the managed inbound trunk is missing")
        if org.get("ruleMissing"):
            lines.append("the dispatch rule is missing")
        if org.get("missing"):
            lines.append(f"missing on the trunk: {' '.join(org['missing'])}")
        if org.get("extra"):
            lines.append(f"extra on the trunk: {' '.join(org['extra'])}")
        lines += [f"carrier: {words}" for words in org.get("carrier") or []]
        lines += [f"SIP connection {words}" for words in org.get("connections") or []]
        lines += [f"customer trunk: {words}" for words in org.get("customerTrunks") or []]
        if org.get("error"):
            lines.append(f"error: {org['error']}")
        if org.get("fixed"):
            lines.append("fixed")
        elif lines:
            unresolved = True
        if as_json:
            continue
        head = f"organization {org['organizationId']}  trunk {org.get('trunkId') or '-'}"
        print(terminal_safe(head + ("" if lines else "  in line with LiveKit")), file=out)
        for line in lines:
            print(terminal_safe(f"  {line}"), file=out)
    if as_json:
        return 1 if unresolved else 0
    for key in report.get("purchasesFinished") or []:
        print(terminal_safe(f"purchase {key} carried to its end"), file=out)
    billing = report.get("billing") or {}
    for what in ("charged", "suspended", "resumed", "released", "releasing"):
        if billing.get(what):
            print(terminal_safe(f"bought numbers {what}: {' '.join(billing[what])}"), file=out)
    return 1 if unresolved else 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = remote_options()
    numbers = commands.add_parser("numbers", help="phone numbers (admin API)").add_subparsers(
        dest="sub", required=True
    )
    load = numbers.add_parser(
        "import", aliases=["add"], parents=[remote],
        help="bring numbers you own: a CSV or JSON-lines file, or one number and its flags",
    )  # fmt: skip
    load.add_argument(
        "given", metavar="FILE|NUMBER",
        help="a .csv (header row of API field names) or .jsonl file; or one number, E.164 or "
        "national",
    )  # fmt: skip
    load.add_argument(
        "--upsert", action="store_true",
        help="update numbers already imported with the given fields instead of refusing them",
    )  # fmt: skip
    fields.add_flags(load, (*fields.NUMBER_FLAGS, *fields.IMPORT_FLAGS))
    load.add_argument("--json", action="store_true", help="one number: the row as compact JSON")
    load.set_defaults(run=over_http(numbers_import_command))
    listing = numbers.add_parser(
        "list", help="every number with its setup status", parents=[remote]
    )
    listing.add_argument("--json", action="store_true", help="one JSON row per line")
    listing.set_defaults(run=over_http(lambda admin, args: numbers_list(admin, args.json)))
    reconcile = numbers.add_parser(
        "reconcile", help="compare numbers with LiveKit's trunks", parents=[remote]
    )
    reconcile.add_argument("--fix", action="store_true", help="repair the drift found")
    reconcile.add_argument("--json", action="store_true", help="the report as JSON")
    reconcile.set_defaults(
        run=over_http(lambda admin, args: numbers_reconcile(admin, args.fix, as_json=args.json))
    )
    buying.register(numbers, remote)
    resources.register_numbers(numbers, remote)
