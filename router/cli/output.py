"""What the CLI prints: call data made safe for a terminal, a call's routing trace, and
one line per call."""

from __future__ import annotations

import re

import msgspec

from router.core.records import CallRecord

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Call data comes from callers and carriers: escape what a terminal would act on (ESC
    sequences, a newline forging a line) so it is shown, not obeyed."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def pretty(found: object) -> str:
    """An API answer as indented JSON for people, each line terminal-safe (the lines are
    the layout: escaping them would flatten it)."""
    text = msgspec.json.format(msgspec.json.encode(found)).decode()
    return "\n".join(terminal_safe(line) for line in text.splitlines())


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
    if record.agent_joined_at:
        to_agent = record.timings_ms.get("toAgent", 0.0)
        lines.append(f"  agent joined {record.agent_joined_at} ({to_agent:.0f} ms after dispatch)")
    if record.no_show:
        lines.append(f"  agent no-show: {record.no_show}")
    if record.ended_at:
        reason = f" ({record.disconnect_reason})" if record.disconnect_reason else ""
        lines.append(
            f"  ended {record.ended_at} by {record.ended_by} after {record.duration_s} s{reason}"
        )
    for text in (record.reject_reason, record.error, *record.notes):
        if text:
            lines.append(f"  ! {text}")
    for leg in record.legs:
        lines.append(f"  leg {leg.kind}: {leg.provider} {leg.call_id} at {leg.at}")
    return "\n".join(terminal_safe(line) for line in lines)


ONE_LINE_HEADER = (
    "decided                   status         call  dialed ← caller  matched  agent / reason"
)


def one_line(record: CallRecord) -> str:
    who = record.agent_name or record.reject_reason or record.error or ""
    return terminal_safe(
        f"{record.decided_at or record.received_at}  {record.status:<14} {record.call_id}  "
        f"{record.dialed_number or '-'} ← {record.caller_number or '-'}"
        f"{'  fwd ' + record.forwarded_from_number if record.forwarded_from_number else ''}"
        f"  {record.matched_rule or '-'}  {who}"
    )
