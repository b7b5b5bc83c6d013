"""Which row a call belongs to, and the static decision for it (everything but the pre-call).

Lookup order:

1. the row of the dialed number (``dialed_number``) — unless that row is a *shared landing
   number* (``sharedLanding``: many businesses forward their own lines to it);
2. with no dialed number at all (a LiveKit trunk that hides phone numbers), the one row
   recorded with the call's LiveKit inbound trunk id (``trunk_id``);
3. when the dialed row is a shared landing number or there is no row: the row of
   ``forwardedFromNumber`` — the customer's own line that forwarded the call
   (``forwarded_from``) — then each later number of the forwarding chain
   (``forwarding_chain``);
4. otherwise the shared landing row itself, if there is one.

A matched row may carry per-origin overrides: the longest ``match`` (an E.164 number or a
prefix of one) equal to or prefixing the forwarded-from number picks another agent and/or adds
metadata. The decision always says which rule matched and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import msgspec

from router.core import forwarding, template
from router.core.events import CarrierCall
from router.core.models import Agent, OriginOverride, PhoneNumber
from router.core.phone import Reading, call_region, readings, to_e164
from router.core.routing import CallFacts, Routing, decide


class Rows(Protocol):
    """Where rows come from: the store's ``Registry`` (always fresh) or ``RegistryCache`` (the
    hot path), or an in-memory source in tests."""

    async def lookup(self, *, e164: str) -> tuple[PhoneNumber | None, Agent | None]: ...

    async def find_agent(self, agent_id: str) -> Agent | None: ...

    async def by_trunk(self, trunk_id: str) -> tuple[list[PhoneNumber], Agent | None]: ...


class OrganizationRows:
    """One organization's rows only: another's numbers and agents read as absent (what an
    organization's key previews against)."""

    def __init__(self, rows: Rows, organization: str) -> None:
        self.rows, self.organization = rows, organization

    async def lookup(self, *, e164: str) -> tuple[PhoneNumber | None, Agent | None]:
        row, agent = await self.rows.lookup(e164=e164)
        if row is None or row.organization_id != self.organization:
            return None, None
        return row, agent

    async def find_agent(self, agent_id: str) -> Agent | None:
        agent = await self.rows.find_agent(agent_id)
        return agent if agent is not None and agent.organization_id == self.organization else None

    async def by_trunk(self, trunk_id: str) -> tuple[list[PhoneNumber], Agent | None]:
        found, agent = await self.rows.by_trunk(trunk_id)
        mine = [r for r in found if r.organization_id == self.organization]
        return mine, agent if len(mine) == len(found) else None


class Match(msgspec.Struct, frozen=True, kw_only=True):
    row: PhoneNumber | None
    agent: Agent | None
    rule: str | None
    reason: str
    dialed: Reading | None = None  # the reading of the dialed number that found the row


def call_facts(
    *,
    call_id: str,
    provider: str,
    caller: str | None,
    dialed: str | None,
    default_region: str,
    sip_headers: Mapping[str, str] | None = None,
    forwarded_from: str | None = None,
    room: str | None = None,
    sip: dict[str, str] | None = None,
) -> CallFacts:
    """A call's facts from what its source said. The dialed number is read as LiveKit reads it
    (bare digits international first, then national); the caller and every forwarding number
    are read in the call's own country — the dialed number's — and ``default_region`` only
    when the dialed number is unknown."""
    dialed_readings = readings(dialed, default_region, international_first=True)
    facts = CallFacts(
        call_id=call_id,
        provider=provider,
        caller_number=None,
        dialed_number=dialed_readings[0].e164 if dialed_readings else None,
        dialed_readings=dialed_readings,
        forwarding=forwarding.NOT_FORWARDED,
        room=room,
        sip=sip or {},
        caller_raw=caller,
        forwarded_from_raw=forwarded_from,
        sip_headers=dict(sip_headers or {}),
        default_region=default_region,
    )
    return read_in_country(facts, dialed_readings[0] if dialed_readings else None)


def read_in_country(facts: CallFacts, dialed: Reading | None) -> CallFacts:
    """The facts with ``dialed`` as the dialed number and the caller and forwarding numbers
    read in its country."""
    region = call_region(dialed.e164 if dialed else None, facts.default_region)
    return msgspec.structs.replace(
        facts,
        dialed_number=dialed.e164 if dialed else facts.dialed_number,
        caller_number=to_e164(facts.caller_raw, region),
        forwarding=forwarding.compute(
            provider_number=facts.forwarded_from_raw, sip_headers=facts.sip_headers, region=region
        ),
    )


def carrier_facts(event: CarrierCall, region: str) -> CallFacts:
    return call_facts(
        call_id=event.call_id,
        provider=event.provider,
        caller=event.caller,
        dialed=event.dialed,
        default_region=region,
        sip_headers=event.sip_headers,
        forwarded_from=event.forwarded_from,
    )


def _origins(facts: CallFacts) -> list[tuple[str, str]]:
    """(number, rule) to try, in order: forwarded-from, then the rest of the chain."""
    seen: set[str] = set()
    out = []
    first = facts.forwarding.number
    if first:
        seen.add(first)
        out.append((first, "forwarded_from"))
    for hop in facts.forwarding.chain:
        if hop.number and hop.number not in seen and hop.number != facts.dialed_number:
            seen.add(hop.number)
            out.append((hop.number, "forwarding_chain"))
    return out


async def find_row(rows: Rows, facts: CallFacts, trunk_id: str | None) -> Match:
    dialed = facts.dialed_number
    landing: Match | None = None
    if dialed is not None:
        for reading in facts.dialed_readings or (Reading(dialed, "e164"),):
            row, agent = await rows.lookup(e164=reading.e164)
            if row is None:
                continue
            read_as = "" if reading.e164 == dialed else f" (read {reading.how})"
            if not row.shared_landing:
                why = f"{reading.e164} is registered{read_as}"
                return Match(row=row, agent=agent, rule="dialed_number", reason=why, dialed=reading)
            landing = Match(
                row=row,
                agent=agent,
                rule="dialed_number",
                reason=f"{reading.e164} is a shared landing number and no forwarded-from row "
                "matched",
                dialed=reading,
            )
            break
    elif trunk_id:
        found, agent = await rows.by_trunk(trunk_id)
        if len(found) == 1:
            why = f"the trunk hides the dialed number; {trunk_id} is recorded on {found[0].e164}"
            return Match(row=found[0], agent=agent, rule="trunk_id", reason=why)
        if len(found) > 1:
            why = f"the trunk hides the dialed number and {trunk_id} is on several rows"
            landing = Match(row=None, agent=None, rule=None, reason=why)
    # A shared landing number is one organization's: it is steered only to that one's rows.
    landing_org = landing.row.organization_id if landing and landing.row else None
    for number, rule in _origins(facts):
        row, agent = await rows.lookup(e164=number)
        if row is not None and landing_org is not None and row.organization_id != landing_org:
            continue
        if row is not None and not row.shared_landing:
            where = f"{dialed} is a shared landing number" if landing else f"{dialed} has no row"
            return Match(
                row=row, agent=agent, rule=rule, reason=f"{where}; forwarded from {number}"
            )
    if landing is not None:
        return landing
    return Match(row=None, agent=None, rule=None, reason="no row for the dialed number or chain")


def origin_override(row: PhoneNumber, facts: CallFacts) -> OriginOverride | None:
    origin = facts.forwarding.number
    if not origin or not row.origin_overrides:
        return None
    fitting = [o for o in row.origin_overrides if origin.startswith(o.match)]
    return max(fitting, key=lambda o: len(o.match), default=None)


async def route(rows: Rows, facts: CallFacts, default_agent_name: str | None) -> Routing:
    """Find the row, apply its origin override, decide — all but the pre-call webhook."""
    match = await find_row(rows, facts, facts.sip.get("trunkId"))
    reread = None
    if match.dialed is not None and match.dialed.e164 != facts.dialed_number:
        # Found under another reading (national, say): the call is of that country.
        facts = reread = read_in_country(facts, match.dialed)
    row, agent, notes = match.row, match.agent, []
    override = origin_override(row, facts) if row is not None else None
    if override is not None and override.agent_id:
        chosen = await rows.find_agent(override.agent_id)
        if chosen is not None and row is not None and chosen.organization_id != row.organization_id:
            chosen = None  # never another organization's agent
        if chosen is None:
            notes.append(
                f"origin override {override.match} names missing agent {override.agent_id}"
            )
        else:
            agent = chosen
    decision = decide(
        facts, row, agent, default_agent_name=default_agent_name, matched_rule=match.rule or ""
    )
    if override is not None and override.metadata and decision.metadata is not None:
        metadata = template.merge(decision.metadata, override.metadata)
        decision = msgspec.structs.replace(decision, metadata=metadata)
    if match.rule is None:
        decision = msgspec.structs.replace(decision, matched_rule=None, detail=match.reason)
    return Routing(
        decision=decision,
        row=row,
        agent=agent,
        reason=match.reason,
        override=override.match if override is not None else None,
        notes=notes,
        dialed=match.dialed,
        facts=reread,
    )
