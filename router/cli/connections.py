"""``sip-connections list | show | create | update | delete``: the organization's own SIP
trunks (``/v1/sip-connections``), both directions. Passwords and the PIN are written, never
shown (the API says ``passwordSet`` / ``pinSet``); ``-`` reads one from stdin."""

from __future__ import annotations

import argparse
from typing import Any

from router.cli import crud, fields


def _line(row: Any) -> str:
    inbound = ",".join(row["inbound"]["allowedAddresses"]) or "anywhere"
    outbound = (row.get("outbound") or {}).get("address") or "-"
    return f"{row['id']:<28} {row['name'][:24]:<24} {inbound} / {outbound}"


CONNECTIONS = crud.Resource(
    command="sip-connections",
    help="your own SIP trunks, both directions (passwords never shown)",
    path="/v1/sip-connections",
    one="the connection's id",
    header=f"{'id':<28} {'name':<24} inbound from / outbound to",
    line=_line,
    create=(*fields.CONNECTION_FLAGS, fields.ORG),
    update=fields.CONNECTION_FLAGS,
    verbs=(("list", "every SIP connection"), ("show", "one"), ("create", "a new one"),
           ("update", "change the fields given"), ("delete", "delete one no number uses")),
)  # fmt: skip


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    update = crud.register(commands, CONNECTIONS)["update"]
    update.add_argument(
        "--no-outbound", dest="extra", action="store_const", const={"outbound": None},
        help="take the outbound side away",
    )  # fmt: skip
