"""HTTP helpers shared by every endpoint: JSON out, typed JSON in, errors as ``{error, code}``.

The middleware turns every failure into the documented error body — our own ``ApiError``s,
aiohttp's own 404/405/413, and anything unexpected (a 500 that is logged with its traceback,
never a bare HTML page).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import msgspec.inspect
from aiohttp import web
from redis.exceptions import RedisError

from router import logs
from router.errors import (
    ApiError,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    Unavailable,
    UnsupportedMedia,
    ValidationError,
    retry_after,
)
from router.outbound.streams import read_capped
from router.store.redis_client import where
from router.web import state

log = logs.get(__name__)
T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_DEADLINE = web.RequestKey("redis_deadline", asyncio.Timeout)  # paused while the body arrives


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body: dict[str, str] = {"error": message, "code": code}
    if field:
        body["field"] = field
    return json_response(body, status)


def lift_deadline(request: web.Request) -> None:
    """For a handler that waits by design (an event stream), once it is set up: the request's
    Redis deadline no longer applies, and each Redis call it makes from here on carries its
    own (``redis_deadline``)."""
    deadline: asyncio.Timeout | None = request.get(_DEADLINE)
    if deadline is not None:
        deadline.reschedule(None)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.path.startswith("/v1/"):
            async with redis_deadline(request) as deadline:
                request[_DEADLINE] = deadline
                return await handler(request)
        return await handler(request)
    except ApiError as exc:
        # A refused signature or token is worth an operator's attention: one warning line.
        (log.warning if exc.status in (401, 403) else log.info)(
            "request_refused",
            path=request.path,
            status=exc.status,
            code=exc.code,
            reason=exc.message,
        )
        response = error_response(exc.status, exc.code, exc.message, exc.field)
        if isinstance(exc, RequestTimeout):
            # The rest of the body will not be read: the connection can carry nothing more.
            # Answer, then close (a graceful close sends what is written first); aiohttp
            # would otherwise linger up to 10 s reading a body that is not coming.
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            if request.transport is not None:
                request.transport.close()
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(retry_after(exc.retry_after_s))
        return response
    except (RedisError, TimeoutError) as exc:
        # Redis unreachable, or slower than the request's deadline: the caller may retry.
        # (Every other wait a handler makes is bounded by its own error: RequestTimeout.)
        store = where(request.app[state.REDIS]) if state.REDIS in request.app else None
        log.warning("request_unavailable", path=request.path, store=store, error=repr(exc)[:200])
        return error_response(503, Unavailable.code, "state store unavailable; retry")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "HTTP_ERROR")
        log.info("request_refused", path=request.path, status=exc.status, code=code)
        return error_response(exc.status, code, exc.reason)
    except Exception:
        log.exception("request_failed", path=request.path)
        return error_response(500, "INTERNAL", "internal error")


def _field_from(exc: msgspec.ValidationError) -> str | None:
    # msgspec says "... - at `$.dispatchMetadataTemplate`"; report the top-level field.
    text = str(exc)
    if "`$." not in text:
        named = _MISSING.search(text) or _UNKNOWN.search(text)
        return named.group(1) if named else None
    path = text.rsplit("`$.", 1)[1].rstrip("`")
    return path.split(".")[0].split("[")[0] or None


_MISSING = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")


def _allowed(kind: type[Any], field: str) -> list[str] | None:
    """The values a top-level Literal field of ``kind`` takes (for "must be one of")."""
    info = msgspec.inspect.type_info(kind)
    if not isinstance(info, msgspec.inspect.StructType):
        return None
    for f in info.fields:
        if f.encode_name != field:
            continue
        types = f.type.types if isinstance(f.type, msgspec.inspect.UnionType) else (f.type,)
        for t in types:
            if isinstance(t, msgspec.inspect.LiteralType):
                return [str(v) for v in t.values]
    return None


def _message(exc: msgspec.ValidationError, kind: type[Any], field: str | None) -> str:
    """msgspec's words, made an API client's: the field named, the allowed values listed."""
    text = str(exc)
    if field and text.startswith("Invalid enum value"):
        allowed = _allowed(kind, field)
        if allowed:
            given = text.split(" - at ")[0].removeprefix("Invalid enum value ")
            return f"{field} must be one of {', '.join(allowed)}; got {given}"
    if field and "missing required field" in text:
        return f'missing required field "{_missing_path(text) or field}"'
    return text


def _missing_path(text: str) -> str | None:
    """The whole dotted path of a missing field ("webhooks.preCall.secret"), so that a field
    missing inside an object is not reported as the object missing."""
    missing = _MISSING.search(text)
    if missing is None:
        return None
    at = text.rsplit("`$", 1)[1].rstrip("`").lstrip(".") if "`$" in text else ""
    return f"{at}.{missing.group(1)}" if at else missing.group(1)


def redis_deadline(request: web.Request) -> asyncio.Timeout:
    """The bound on a request's Redis work: past it the request is answered 503, not held
    while a frozen Redis keeps the socket open (carriers give up after ~15 s)."""
    return asyncio.timeout(request.app[state.CONFIG].redis.deadline_s)


def decode(data: bytes, kind: type[T]) -> T:
    """Decode JSON into ``kind``; every failure is a ValidationError naming the field."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        field = _field_from(exc)
        raise ValidationError(_message(exc, kind, field), field=field) from exc
    except msgspec.DecodeError as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # msgspec's own bound, ~1,000 levels
        raise ValidationError("request body nests too deeply") from exc


async def read_body(request: web.Request, *, limit: int, types: tuple[str, ...]) -> bytes:
    """The raw body, refused when of another content type or larger than ``limit`` bytes."""
    if request.content_type not in types:
        raise UnsupportedMedia(
            f"Content-Type must be {' or '.join(types)}, got {request.content_type!r}"
        )
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    # Usually the whole body came with the headers: take it without arming a timeout.
    body = request.content.read_nowait(limit + 1)
    if not request.content.at_eof() and len(body) <= limit:
        body += await _read_rest(request, limit - len(body))
    if len(body) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    return body


async def _read_rest(request: web.Request, limit: int) -> bytes:
    """The rest of a body still on its way, within ROUTER_BODY_TIMEOUT_S."""
    timeout = request.app[state.CONFIG].http.body_timeout_s
    deadline: asyncio.Timeout | None = request.get(_DEADLINE)
    if deadline is not None:  # a slow body is the client's time, not Redis's
        deadline.reschedule(None)
    try:
        async with asyncio.timeout(timeout):
            rest = await read_capped(request.content, limit)
    except TimeoutError as exc:
        raise RequestTimeout(f"request body did not arrive within {timeout:g} s") from exc
    if deadline is not None:
        loop = asyncio.get_running_loop()
        deadline.reschedule(loop.time() + request.app[state.CONFIG].redis.deadline_s)
    return rest


async def read_json(request: web.Request, kind: type[T], *, limit: int = 64 * 1024) -> T:
    return decode(await read_body(request, limit=limit, types=("application/json",)), kind)
