"""The dead-letter stream over the admin API: what failed and why, and putting entries back.

``GET /v1/dead-letters`` lists entries oldest first (``limit`` 1 to 1000, default 100);
``POST /v1/dead-letters/replay`` with ``{"ids": [...]}`` or ``{"all": true}`` puts each
original event back on its call stream and removes it from the dead letters, atomically per
entry, and answers which were replayed and which ids were not there.
"""

from __future__ import annotations

import re

import msgspec
from aiohttp import web

from router.api import audit
from router.errors import ValidationError
from router.store import dlq
from router.web import paging, state
from router.web.apidoc import LIMIT, documented
from router.web.auth import scope_of
from router.web.httpapi import json_response, read_json
from router.web.routing import Routes

routes = Routes()
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
MAX_REPLAY_IDS = 1000


class ReplayRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ids: list[str] = []
    all: bool = False


class ReplayResult(msgspec.Struct, kw_only=True):
    replayed: list[str]
    missing: list[str]


DLQ_SCAN = 10_000  # entries an organization's listing looks through for its own


async def _own_entries(request: web.Request, entries: list[dlq.DeadEntry]) -> list[dlq.DeadEntry]:
    """The entries of the caller's organization: those whose call's record is its (an entry
    no call record names — an undecodable one — is the operator's alone)."""
    scope = scope_of(request)
    if scope is None:
        return entries
    calls = request.app[state.CALLS]
    mine = []
    for entry in entries:
        record = await calls.get(entry.call_id) if entry.call_id else None
        if record is not None and record.organization_id == scope:
            mine.append(entry)
    return mine


@routes.get("/v1/dead-letters", role="admin")
@documented(response=list[dlq.DeadEntry], query=(LIMIT,))
async def list_dead_letters(request: web.Request) -> web.Response:
    """Dead-lettered stream entries, oldest first, with the call, deliveries and last error."""
    limit = paging.limit_of(request, default=100, maximum=1000)
    shards = request.app[state.CONFIG].redis.stream_shards
    entries = await dlq.list_entries(
        request.app[state.REDIS], DLQ_SCAN if scope_of(request) else limit, shards
    )
    return json_response((await _own_entries(request, entries))[:limit])


@routes.post("/v1/dead-letters/replay", role="admin")
@documented(request=ReplayRequest, response=ReplayResult)
async def replay_dead_letters(request: web.Request) -> web.Response:
    """Put dead-lettered entries back on the call stream (``ids``, or ``all``)."""
    body = await read_json(request, ReplayRequest)
    if body.all == bool(body.ids):
        raise ValidationError("give either ids (a non-empty list) or all: true", field="ids")
    if len(body.ids) > MAX_REPLAY_IDS:
        raise ValidationError(f"ids: at most {MAX_REPLAY_IDS} at a time", field="ids")
    bad = [i for i in body.ids if not _ENTRY_ID.fullmatch(i)]
    if bad:
        raise ValidationError(f"ids: not stream entry ids: {bad[:5]}", field="ids")
    shards = request.app[state.CONFIG].redis.stream_shards
    redis = request.app[state.REDIS]
    ids: list[str] | None = None if body.all else body.ids
    if scope_of(request) is not None:  # only the organization's own entries
        mine = await _own_entries(request, await dlq.list_entries(redis, DLQ_SCAN, shards))
        ids = [e.id for e in mine if ids is None or e.id in ids]
    replayed = await dlq.replay(redis, ids, shards) if ids != [] else []
    missing = sorted(set(body.ids) - set(replayed))
    if replayed:
        shown = " ".join(replayed[:10]) + (
            f" and {len(replayed) - 10} more" if len(replayed) > 10 else ""
        )
        await audit.note(request, scope_of(request), "dead_letters.replayed", shown)
    return json_response(ReplayResult(replayed=replayed, missing=missing))
