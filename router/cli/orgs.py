"""``orgs list | show | create | update | delete``: organizations (``/v1/organizations``) —
the operator's; an organization's key reads its own."""

from __future__ import annotations

import argparse

from router.cli import crud, fields

ORGS = crud.Resource(
    command="orgs", help="organizations (operator; a key reads its own)",
    path="/v1/organizations", one="the organization's id",
    header="id                           numbers limit  name",
    line=lambda o: f"{o['id']:<28} {o['numberLimit']:>13}  {o['name']}",
    # a cap on live calls is the operator's later choice
    create=fields.ORG_FLAGS[:-1], update=fields.ORG_FLAGS,
    verbs=(("list", "every organization"), ("show", "one"), ("create", "a new one"),
           ("update", "change the fields given"), ("delete", "delete one with no numbers")),
)  # fmt: skip


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    crud.register(commands, ORGS)
