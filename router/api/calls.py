"""The admin API's call records: ``GET /v1/calls`` (paged, filtered by ``api.call_filters``)
and ``GET /v1/calls/{id}``; an organization's key sees its own organization's calls."""

from __future__ import annotations

from aiohttp import web

from router.api.call_filters import CALL_FILTERS, calls_query
from router.core.records import CallRecord
from router.errors import NotFound
from router.web import paging, state
from router.web.apidoc import CURSOR, LIMIT, documented
from router.web.auth import own, scope_of
from router.web.httpapi import json_response
from router.web.routing import Routes

routes = Routes()


@routes.get("/v1/calls", role="viewer")
@documented(response=list[CallRecord], query=(LIMIT, CURSOR, *CALL_FILTERS), paged=True)
async def recent_calls(request: web.Request) -> web.Response:
    """Decided calls, newest first, a page at a time (``limit`` 1 to 200, default 50;
    ``cursor``), filtered by ``status``, ``number`` (the dialed number, any format),
    ``agent`` (id or LiveKit agent name) and ``since`` (ISO 8601 time, or ``15m``/``2h``/``7d``
    ago)."""
    config = request.app[state.CONFIG]
    limit = paging.limit_of(request, default=50, maximum=200)
    query = calls_query(request.query, config.default_region, scope_of(request))
    records, more = await request.app[state.CALLS].page(
        query.before, limit, query.keep, oldest_ms=query.oldest_ms
    )
    position = f"{more[0]}/{more[1]}" if more else None
    return paging.paged(json_response(records), request, position)


@routes.get("/v1/calls/{id}", role="viewer")
@documented(response=CallRecord, errors=(404,))
async def get_call(request: web.Request) -> web.Response:
    """One call's record, by any id the router knows it by (kept 7 days)."""
    record = await request.app[state.CALLS].get(request.match_info["id"])
    missing = f"call {request.match_info['id']} not found (records expire after 7 days)"
    if record is None:
        raise NotFound(missing)
    own(request, record.organization_id, missing)
    return json_response(record)
