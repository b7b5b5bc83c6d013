"""The filters of ``GET /v1/calls``: which decided calls a page holds.

``status`` (one of the record statuses, or several comma-separated), ``number`` (the dialed
number in any format the router reads, matched on its E.164 form), ``agent`` (an agent id or a
LiveKit agent name) and ``since`` (an ISO 8601 time, or an age such as ``15m``, ``2h``,
``7d``). Every bad value is a 400 naming its parameter.
"""

from __future__ import annotations

import re
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from router.core.phone import to_e164
from router.core.records import CallRecord, Status
from router.errors import ValidationError
from router.store.calls import Position
from router.web import paging
from router.web.apidoc import Param

STATUSES = typing.get_args(Status)
_AGE = re.compile(r"([1-9][0-9]{0,6})([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_POSITION = re.compile(r"([0-9]{1,20}-[0-9]{1,20})/([0-9]{1,6})")
# A record is noted in the recent-calls stream a little after its decision: the scan runs
# this much past ``since`` before it stops (the records themselves are then filtered exactly).
_NOTE_SLACK_MS = 60_000


CALL_FILTERS = (
    Param("status", "one status, or several comma-separated", {"type": "string"}),
    Param("number", "the dialed number, in any format the router reads"),
    Param("agent", "an agent id or a LiveKit agent name"),
    Param("since", "an ISO 8601 time, or an age: 15m, 2h, 7d"),
)


@dataclass(frozen=True, slots=True)
class CallsQuery:
    before: Position | None = None
    statuses: frozenset[str] = frozenset()
    number: str | None = None
    agent: str | None = None
    since: str | None = None  # ISO 8601 UTC, as records write times
    oldest_ms: int = 0
    organization: str | None = None  # an organization's key: its calls only

    def keep(self, record: CallRecord) -> bool:
        if self.organization is not None and record.organization_id != self.organization:
            return False
        if self.statuses and record.status not in self.statuses:
            return False
        if self.number is not None and record.dialed_number != self.number:
            return False
        if self.agent is not None and self.agent not in (record.agent_id, record.agent_name):
            return False
        when = record.decided_at or record.received_at
        return self.since is None or when >= self.since


def _since(raw: str, now: float) -> float:
    age = _AGE.fullmatch(raw)
    if age:
        return now - int(age.group(1)) * _UNIT_S[age.group(2)]
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"since: an ISO 8601 time (2026-11-27T10:00:00Z) or an age (15m, 2h, 7d), "
            f"got {raw[:40]!r}",
            field="since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def calls_query(
    params: Mapping[str, str], default_region: str, organization: str | None = None
) -> CallsQuery:
    """The query's filters and cursor, checked (now: for ``since`` ages, in tests)."""
    before = None
    cursor = paging.cursor_from(params.get("cursor"))
    if cursor is not None:
        match = _POSITION.fullmatch(cursor)
        if match is None:
            raise paging.bad_cursor()
        before = (match.group(1), int(match.group(2)))
    statuses = frozenset(s.strip() for s in params.get("status", "").split(",") if s.strip())
    unknown = statuses - set(STATUSES)
    if unknown:
        raise ValidationError(
            f"status must be among {', '.join(STATUSES)}; got {', '.join(sorted(unknown))}",
            field="status",
        )
    number = None
    if "number" in params:
        number = to_e164(params["number"], default_region)
        if number is None:
            raise ValidationError(
                f"number: {params['number'][:40]!r} is not a phone number", field="number"
            )
    agent = params.get("agent") or None
    since = oldest_ms = None
    if params.get("since"):
        seconds = _since(params["since"], time.time())
        moment = datetime.fromtimestamp(seconds, UTC)
        since = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        oldest_ms = int(seconds * 1000) - _NOTE_SLACK_MS
    return CallsQuery(
        before=before,
        statuses=statuses,
        number=number,
        agent=agent,
        since=since,
        oldest_ms=oldest_ms or 0,
        organization=organization,
    )
