"""``agents …``: agents over the admin API — ``agents create`` (prints the id alone, for
``AGENT=$(python -m router agents create …)``), ``agents list``, ``agents example``; show,
update and delete are ``cli.resources``'."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import TextIO

import msgspec

from router.cli import fields
from router.cli import resources as resources_cli
from router.cli.client import AdminClient, over_http, remote_options


async def agents_create(
    client: AdminClient, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    body = await fields.body_of(client, args, (*fields.AGENT_FLAGS, fields.ORG))
    agent, _ = await client.call("POST", "/v1/agents", body=body)
    if args.json:
        print(msgspec.json.encode(agent).decode(), file=out)
    else:  # alone on stdout: AGENT=$(python -m router agents create ...)
        print(agent["id"], file=out)
    return 0


async def agents_list(client: AdminClient, as_json: bool, out: TextIO = sys.stdout) -> int:
    found = [agent async for agent in client.pages("/v1/agents", {"limit": "1000"})]
    return resources_cli.table(
        found, as_json, out, f"{'id':<28}  {'LiveKit agent name':<24} name",
        lambda a: f"{a['id']}  {a['livekitAgentName']:<24} {a['name']}",
    )  # fmt: skip


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    remote = remote_options()
    agents = commands.add_parser("agents", help="agents (admin API)").add_subparsers(
        dest="sub", required=True
    )
    create = agents.add_parser("create", help="create an agent; prints its id", parents=[remote])
    fields.add_flags(
        create, (*fields.AGENT_FLAGS, fields.ORG), required=("name", "livekit-agent-name")
    )
    create.add_argument("--json", action="store_true", help="the agent as JSON, not its id")
    create.set_defaults(run=over_http(agents_create))
    listing = agents.add_parser("list", help="every agent", parents=[remote])
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=over_http(lambda admin, args: agents_list(admin, args.json)))
    example = agents.add_parser(
        "example", help="the example agent (LiveKit Agents, Python) that reads the metadata"
    )
    example.add_argument("--write", type=Path, metavar="FILE", help="write it there")
    example.set_defaults(run=agent_example)
    resources_cli.register_agents(agents, remote)


def agent_example(args: argparse.Namespace) -> int:
    """The example agent shipped in the package (``router.examples``): printed, or written."""
    source = resources.files("router.examples").joinpath("agent.py").read_text()
    if args.write is None:
        sys.stdout.write(source)
        return 0
    if args.write.exists():
        print(f"{args.write} exists: not overwritten", file=sys.stderr)
        return 1
    args.write.write_text(source)
    print(f"wrote {args.write}; run it with: AGENT_NAME=support-agent python {args.write} dev")
    return 0
