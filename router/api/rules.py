"""What every ``/v1`` resource shares: page sizes, text bounds, the organization a new row
goes to, and the rule of policies that hand a call on (a no-show's, an overflow's)."""

from __future__ import annotations

from aiohttp import web

from router.core.models import DEFAULT_ORG, TRANSFER_TO, Organization
from router.errors import ValidationError
from router.web import state
from router.web.auth import scope_of

MAX_TEXT = 200  # characters of a label or a name
LIST_DEFAULT, LIST_MAX = 100, 1000  # rows a page of numbers or agents holds


def check_policy(
    name: str,
    policy: str,
    other_agent: str,
    agent: tuple[str, str | None],
    line: tuple[str, str | None],
) -> None:
    """A policy that hands a call on (a no-show's, an overflow's) has what it names: the
    agent for ``other_agent``, a valid line (``tel:``/``sip:``) for ``transfer``."""
    (agent_field, agent_id), (line_field, to) = agent, line
    if policy == other_agent and not agent_id:
        raise ValidationError(
            f"{agent_field}: {name} {other_agent} needs the agent to dispatch instead",
            field=agent_field,
        )
    if policy == "transfer" and not to:
        raise ValidationError(
            f"{line_field}: {name} transfer needs the line to send the caller to",
            field=line_field,
        )
    if to is not None and not TRANSFER_TO.fullmatch(to):
        raise ValidationError(
            f"{line_field}: tel:+<E.164 digits> or sip:<user>@<host>", field=line_field
        )


async def organization_for(request: web.Request, asked: str | None) -> Organization:
    """Where a new row goes: a key's own organization, or the operator's choice (default:
    the default organization)."""
    scope = scope_of(request)
    if scope is not None and asked is not None and asked != scope:
        raise ValidationError(
            "organizationId: an organization's key writes into its own organization only",
            field="organizationId",
        )
    org_id = scope or asked or DEFAULT_ORG
    orgs = request.app[state.ORGS]
    org = await orgs.find(org_id)
    if org is None and org_id == DEFAULT_ORG:  # made at start-up; again if it went missing
        await orgs.ensure_default()
        org = await orgs.find(org_id)
    if org is None:
        raise ValidationError(
            f"organizationId: organization {org_id} does not exist", field="organizationId"
        )
    return org
