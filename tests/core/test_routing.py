"""The decision path on its own: matching, the routing decision and readiness over an
in-memory rows source — no Valkey, no app, no HTTP. Each case is one rule of the README's
"Which row a call matches"; the end-to-end tests show the same rules through the router."""

from __future__ import annotations

from typing import Any

import pytest

from router.core import forwarding, matching
from router.core.models import Agent, OriginOverride, PhoneNumber
from router.core.readiness import setup_status
from router.core.routing import CallFacts

NOW = "2026-11-27T00:00:00.000Z"
SUPPORT = Agent(
    id="ag_support", name="Support", livekit_agent_name="support-agent", created_at=NOW,
    updated_at=NOW, prompt="Help",
)  # fmt: skip
ACME = Agent(
    id="ag_acme", name="Acme", livekit_agent_name="acme-agent", created_at=NOW, updated_at=NOW
)
BUSINESS, LANDING, DIRECT = "+16175550177", "+12015550999", "+12015550123"


def _row(e164: str, **fields: Any) -> PhoneNumber:
    base: dict[str, Any] = {
        "id": f"pn_{e164[-4:]}", "e164": e164, "source": "sip_trunk", "direction": "inbound",
        "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip
    base.update(fields)
    return PhoneNumber(**base)


class MemoryRows:
    """The ``matching.Rows`` protocol over dicts: what a test needs, nothing else."""

    def __init__(self, rows: list[PhoneNumber], agents: list[Agent]) -> None:
        self.rows = {r.e164: r for r in rows}
        self.agents = {a.id: a for a in agents}

    async def lookup(self, *, e164: str) -> tuple[PhoneNumber | None, Agent | None]:
        row = self.rows.get(e164)
        return row, self.agents.get(row.agent_id or "") if row else None

    async def find_agent(self, agent_id: str) -> Agent | None:
        return self.agents.get(agent_id)

    async def by_trunk(self, trunk_id: str) -> tuple[list[PhoneNumber], Agent | None]:
        found = [r for r in self.rows.values() if r.sip_trunk_id == trunk_id]
        agent = self.agents.get(found[0].agent_id or "") if len(found) == 1 else None
        return found, agent


ROWS = MemoryRows(
    [
        _row(DIRECT, agent_id=SUPPORT.id, dispatch_metadata_template={"who": "{{callerNumber}}"}),
        _row(LANDING, agent_id=SUPPORT.id, shared_landing=True),
        _row(
            BUSINESS,
            agent_id=ACME.id,
            origin_overrides=[OriginOverride(match="+1617555", metadata={"tier": "boston"})],
        ),
        _row("+12015550124", direction="outbound"),
        _row("+12015550125", agent_id=SUPPORT.id, sip_trunk_id="ST_hidden"),
    ],
    [SUPPORT, ACME],
)


def _facts(dialed: str | None, *, diversion: str | None = None, trunk: str | None = None) -> Any:
    headers = {"diversion": diversion} if diversion else {}
    return CallFacts(
        call_id="c1",
        provider="livekit",
        caller_number="+14155550100",
        dialed_number=dialed,
        forwarding=forwarding.compute(sip_headers=headers),
        sip={"trunkId": trunk} if trunk else {},
    )


@pytest.mark.parametrize(
    ("facts", "action", "rule", "agent"),
    [
        (_facts(DIRECT), "dispatch", "dialed_number", "support-agent"),
        (_facts("+12015550100"), "reject", None, None),  # unknown number
        (_facts("+12015550124"), "reject", "dialed_number", None),  # outbound only
        # A business line forwarded to the shared landing number: the business's own row.
        (_facts(LANDING, diversion=f"<sip:{BUSINESS}@pbx>"), "dispatch", "forwarded_from",
         "acme-agent"),
        # Forwarded from a number with no row: the landing row itself.
        (_facts(LANDING, diversion="<sip:+16175550100@pbx>"), "dispatch", "dialed_number",
         "support-agent"),
        # A trunk that hides the dialed number: the one row recorded with its trunk id.
        (_facts(None, trunk="ST_hidden"), "dispatch", "trunk_id", "support-agent"),
        (_facts(None, trunk="ST_other"), "reject", None, None),
    ],
)  # fmt: skip
async def test_the_row_and_the_decision(facts, action, rule, agent):
    routing = await matching.route(ROWS, facts, default_agent_name=None)
    assert routing.decision.action == action, routing.reason
    assert routing.decision.matched_rule == rule
    assert routing.decision.agent_name == agent


async def test_the_template_renders_into_the_decision():
    routing = await matching.route(ROWS, _facts(DIRECT), default_agent_name=None)
    assert routing.decision.metadata is not None
    assert routing.decision.metadata["who"] == "+14155550100"
    assert routing.decision.metadata["agent"]["prompt"] == "Help"


async def test_an_origin_override_adds_its_metadata():
    facts = _facts(LANDING, diversion=f"<sip:{BUSINESS}@pbx>")
    routing = await matching.route(ROWS, facts, default_agent_name=None)
    assert routing.override == "+1617555"
    assert routing.decision.metadata is not None
    assert routing.decision.metadata["tier"] == "boston"


def test_readiness_of_each_kind_of_row():
    wired = _row(DIRECT, agent_id=SUPPORT.id, sip_trunk_id="ST_1")
    ready = setup_status(wired, SUPPORT, None)
    assert (ready.status, ready.inbound_ready, ready.issues) == ("ready", True, [])
    unwired = setup_status(ROWS.rows[DIRECT], SUPPORT, None)
    assert any("no SIP connection recorded" in issue for issue in unwired.issues)
    # The advice names what the CLI can set, and in a dry run says what is true instead.
    assert any(f"numbers update {DIRECT} --sip-connection ID" in issue for issue in unwired.issues)
    dry = setup_status(ROWS.rows[DIRECT], SUPPORT, None, dry_run=True)
    assert dry.sip_connection_ready is False
    assert [i for i in dry.issues if "LiveKit" in i] == [
        "LiveKit is not configured (dry run: no LIVEKIT_URL), so no call reaches this number "
        f"yet; its calls can be simulated (python -m router calls simulate --to {DIRECT}), "
        "their dispatches recorded, not made"
    ]
    suspended = setup_status(_row(DIRECT, agent_id=SUPPORT.id, sip_trunk_id="ST_1",
                                  suspended_at=NOW), SUPPORT, None)  # fmt: skip
    assert suspended.inbound_ready is False
    assert any(i.startswith("suspended since") for i in suspended.issues)
    template_only = setup_status(_row("+12015550126", dispatch_metadata_template={}), None, None)
    assert template_only.inbound_ready is False  # nothing to dispatch without a default agent
    with_default = setup_status(_row("+12015550126", dispatch_metadata_template={}), None, "a")
    assert with_default.inbound_ready is True  # ROUTER_DEFAULT_AGENT_NAME answers for it
    landing = ROWS.rows[LANDING]
    business = setup_status(ROWS.rows[BUSINESS], ACME, None, landing)
    assert business.forwarding_required is True
