"""An agent or a number as an operator names it: the id, or what people know it by (an
agent's LiveKit agent name or name, a number in any format), turned into the id the API
takes."""

from __future__ import annotations

from typing import Any

from router.cli.client import AdminClient, ClientError


async def agents_by_name(client: AdminClient) -> dict[str, list[str]]:
    """Each LiveKit agent name and name, with the ids of the agents that have it."""
    named: dict[str, list[str]] = {}
    async for agent in client.pages("/v1/agents", {"limit": "1000"}):
        for name in {agent["livekitAgentName"], agent["name"]}:
            named.setdefault(name, []).append(agent["id"])
    return named


async def agent_id(client: AdminClient, given: str) -> str:
    """An agent's id, from its id or its LiveKit agent name (or its name)."""
    if given.startswith("ag_"):
        return given
    found = (await agents_by_name(client)).get(given, [])
    if len(found) != 1:
        raise ClientError(
            f"no agent is named {given!r}" if not found
            else f"{len(found)} agents are named {given!r}: give the id"
        )  # fmt: skip
    return found[0]


_REFUSE = object()


async def number_id(client: AdminClient, given: str, missing: Any = _REFUSE) -> Any:
    """A number's id, from its id or the number itself; not found: refused, or ``missing``."""
    if given.startswith("pn_"):
        return given
    from router.core.phone import to_e164  # phonenumbers: only a number given needs it

    wanted = to_e164(given) or given.replace(" ", "")
    async for row in client.pages("/v1/phone-numbers", {"limit": "1000"}):
        if row["e164"] == wanted:
            return str(row["id"])
    if missing is not _REFUSE:
        return missing
    raise ClientError(f"no phone number {given!r} (numbers list shows them)")
