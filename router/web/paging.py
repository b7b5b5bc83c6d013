"""Cursor pagination for the list routes, GitHub's way: the body stays the documented JSON
array, and when more follow the answer carries ``Link: <…&cursor=…>; rel="next"``.

``limit`` is 1 to ``maximum`` (a clear 400 otherwise). A cursor is opaque to clients (the
base64url of where the page ended); one that was not made here is a 400 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import re

from aiohttp import web

from router.errors import ValidationError

CURSOR_MAX = 200  # characters: a cursor is a short position, never a payload
STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # a Redis stream entry's id


def limit_of(request: web.Request, *, default: int, maximum: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise ValidationError(f"limit: 1 to {maximum}, got {raw[:20]!r}", field="limit")
    return int(raw)


def encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def bad_cursor() -> ValidationError:
    return ValidationError(
        "cursor: not a cursor this API gave (take it from the Link header)", field="cursor"
    )


def cursor_from(raw: str | None) -> str | None:
    """The decoded position of a ``cursor`` parameter, or None on a first page."""
    if raw is None or raw == "":
        return None
    try:
        if len(raw) > CURSOR_MAX:
            raise ValueError
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_cursor() from None


def cursor_of(request: web.Request) -> str | None:
    return cursor_from(request.query.get("cursor"))


def stream_cursor_of(request: web.Request) -> str | None:
    """The cursor of a list read from a Redis stream: an entry's id, or None."""
    before = cursor_of(request)
    if before is not None and not STREAM_ID.fullmatch(before):
        raise bad_cursor()
    return before


def paged(response: web.Response, request: web.Request, next_position: str | None) -> web.Response:
    """Add the ``Link: rel="next"`` header when a next page exists (the same query, the new
    cursor; the URL as the client addressed us)."""
    if next_position is not None:
        url = request.url.update_query(cursor=encode_cursor(next_position))
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response
