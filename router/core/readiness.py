"""``setupStatus``: can this number take inbound calls, place outbound ones, and why not.

Computed when a row is read, because it depends on other rows (the linked agent), on the
configuration (the default agent for template-only numbers) and on what provisioning saw at
LiveKit (the trunks the number is on). ``inboundReady`` is what the
worker checks before dispatching; the ``issues`` say what an operator has to do.
"""

from __future__ import annotations

from router.core.carrier_states import Provisioning
from router.core.models import INBOUND, Agent, PhoneNumber, SetupStatus

# Sources whose SIP side the platform provisions itself.
_PROVISIONED = frozenset({"managed", "livekit"})
# Carrier numbers whose calls reach the router by the carrier's own webhook (Twilio's voice
# URL, a Telnyx TeXML or Call Control application), bridged to LiveKit SIP by the router: no
# SIP connection of their own to record, and no forwarding needed.
_CARRIER_WEBHOOK = frozenset({"twilio", "telnyx"})
# Numbers of a Twilio account, whose calls go out over its Elastic SIP Trunk.
_TWILIO_ACCOUNT = frozenset({"twilio", "verified_caller_id"})


def setup_status(
    row: PhoneNumber,
    agent: Agent | None,
    default_agent_name: str | None,
    landing: PhoneNumber | None = None,
    provisioned: Provisioning | None = None,
    *,
    dry_run: bool = False,
) -> SetupStatus:
    """``landing``: a shared landing row, when one exists; an inbound row with no SIP
    connection of its own is then reached by forwarding its line to that number.
    ``provisioned``: what the router saw at LiveKit when it provisioned the number itself —
    the real state, which wins over what the row records. ``dry_run``: no LiveKit is
    configured, so no call reaches any number (the advice says so, not to set a field)."""
    issues: list[str] = []
    inbound = row.direction in INBOUND
    outbound = row.direction in ("outbound", "both")
    agent_ready = agent is not None and bool(agent.livekit_agent_name)
    if row.agent_id and agent is None:
        issues.append(f"linked agent {row.agent_id} does not exist")
    sip_ready = (
        row.source in _PROVISIONED
        or row.source in _CARRIER_WEBHOOK
        or bool(row.sip_connection_installation_id or row.sip_trunk_id or row.provider_resource_id)
    )
    if provisioned is not None:
        sip_ready = provisioned.ok
        if not provisioned.ok:
            issues.append(
                f"{provisioned.issue or 'not provisioned yet'} (checked "
                f"{provisioned.checked_at}; retried automatically)"
            )
    forwarding_required = (
        provisioned is None
        and not sip_ready
        and landing is not None
        and landing.id != row.id
        and not row.shared_landing
        and row.direction in INBOUND
    )
    if forwarding_required:
        assert landing is not None
        issues.append(
            f"forward {row.e164} to {landing.e164} (the shared landing number): calls reach "
            "this row by forwarding"
        )
    elif dry_run and row.direction in INBOUND:
        sip_ready = False
        issues.append(
            "LiveKit is not configured (dry run: no LIVEKIT_URL), so no call reaches this number "
            f"yet; its calls can be simulated (python -m router calls simulate --to {row.e164}),"
            " their dispatches recorded, not made"
        )
    elif not sip_ready and provisioned is None:
        issues.append(
            "no SIP connection recorded: put the number on one of your SIP connections "
            f"(sipConnectionInstallationId; numbers update {row.e164} --sip-connection ID) or "
            f"a LiveKit inbound trunk you made (sipTrunkId; numbers update {row.e164} "
            "--sip-trunk ID), or let the router provision LiveKit (ROUTER_PROVISIONING, on by "
            "default)"
        )
    if row.suspended_at is not None:
        issues.append(
            f"suspended since {row.suspended_at}: the credits did not cover this month; add "
            "credits and the month owed is charged and the number comes back (or it is "
            "released after the grace period)"
        )
    inbound_ready = False
    if inbound and row.suspended_at is None:
        if agent_ready or (row.dispatch_metadata_template is not None and default_agent_name):
            inbound_ready = True
        elif row.dispatch_metadata_template is not None:
            issues.append(
                "template-only number: link an agent or set ROUTER_DEFAULT_AGENT_NAME "
                "so inbound calls have an agent to dispatch"
            )
        else:
            issues.append("inbound number without an agent: link an agent")
    # Outbound calls go out on a LiveKit outbound trunk: ready only when the router put the
    # number on one LiveKit holds (a SIP connection's), never on what the row merely records.
    outbound_ready = (
        outbound and provisioned is not None and provisioned.livekit_outbound_trunk_id is not None
    )
    if outbound and not outbound_ready:
        issues.append(_outbound_issue(row, provisioned))
    sip_ready = sip_ready or forwarding_required  # its calls arrive over the landing number's
    wanted = (not inbound or inbound_ready) and (not outbound or outbound_ready)
    return SetupStatus(
        # Never "ready" while something is left for the operator to do.
        status="ready" if wanted and not issues else "incomplete",
        inbound_ready=inbound_ready,
        outbound_ready=outbound_ready,
        agent_ready=agent_ready,
        forwarding_required=forwarding_required,
        sip_connection_ready=sip_ready,
        issues=issues,
    )


def _outbound_issue(row: PhoneNumber, provisioned: Provisioning | None) -> str:
    """Why the number cannot place calls yet, and what to do."""
    if provisioned is not None and provisioned.outbound_issue:
        return f"outbound calls: {provisioned.outbound_issue} (retried on the number's next write)"
    if row.sip_connection_installation_id is None and row.source in _TWILIO_ACCOUNT:
        return (
            "outbound calls ride the organization's Twilio Elastic SIP Trunk: connect its "
            f"Twilio account (PUT /v1/organizations/{row.organization_id}/integrations/twilio) "
            "and the router sets up the trunk's termination address and credential"
        )
    return (
        "outbound calls need a LiveKit outbound trunk: import the number onto a SIP "
        "connection with an outbound side (sipConnectionInstallationId), and the router "
        "puts it on that connection's outbound trunk"
    )
