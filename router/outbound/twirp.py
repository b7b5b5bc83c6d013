"""Twirp to LiveKit over a lean keep-alive HTTP/1.1 pool (httptools, llhttp's parser).

A dispatch is one small POST to one peer, and on the worker it was the single largest cost:
aiohttp's general-purpose client (cookie jar, URL building, tracing hooks, per-request timeout
context, a write task per body) and ``TwirpClient``'s per-request copies and ``uuid4`` cost
several times what a pooled ``asyncio.Protocol`` does (docs/performance.md has the
figures), whose response framing (status line, headers, Content-Length and chunked bodies,
keep-alive) is parsed by ``httptools`` — the llhttp binding uvicorn is built on. Nothing else
changes on the wire: the same path, ``Content-Type: application/protobuf`` body
(``livekit-protocol`` messages), bearer token, User-Agent and ``X-Livekit-Request-Id`` header
as ``livekit-api`` sends, over http or https (TLS with the system's default verification).

The pool keeps up to ``max_connections`` connections, newest first, and closes one idle longer
than ``idle_s`` (shorter than common server idle timeouts, so we rarely write to a connection
the server is closing). A connection that errs, times out, is cancelled mid-request or is told
``Connection: close`` is not reused. Failures come back as ``TwirpTransportError`` (no answer:
worth a retry) or ``TwirpServerError`` (an answer with a Twirp error body).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import ssl
import time
from collections import deque
from typing import cast
from urllib.parse import urlsplit

import httptools
import msgspec

from router import metrics

USER_AGENT = "call-router (livekit twirp)"
REQUEST_ID_HEADER = "X-Livekit-Request-Id"


class TwirpTransportError(Exception):
    """No (complete) answer: connect failure, reset, timeout, malformed response."""


class TwirpServerError(Exception):
    def __init__(
        self, status: int, code: str, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.retry_after_s = retry_after_s  # the server's Retry-After, in seconds


class _ErrorBody(msgspec.Struct):
    code: str = "unknown"
    msg: str = ""


_error_body = msgspec.json.Decoder(_ErrorBody)


def _seconds(retry_after: bytes | None) -> float | None:
    """Retry-After as delay-seconds (RFC 9110); an HTTP-date or garbage is ignored."""
    if retry_after is None:
        return None
    text = retry_after.strip()
    return float(text) if text.isdigit() and len(text) < 6 else None


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, the response parsed as it arrives."""

    def __init__(self, max_body: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.retry_after: bytes | None = None  # of the response being parsed
        self.body_size, self.max_body = 0, max_body
        self.lost = False
        self.keep_alive = True
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(TwirpTransportError(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool:
        self._fail(TwirpTransportError("connection closed by the server before a response"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(TwirpTransportError(f"connection lost: {exc!r}" if exc else "connection lost"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.retry_after = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self.retry_after = value

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.max_body:
            self._fail(TwirpTransportError(f"response body over {self.max_body} bytes"))
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        body, self.body, self.body_size = b"".join(self.body), [], 0
        self.keep_alive = self.keep_alive and self.parser.should_keep_alive()
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    # ours
    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def _fail(self, exc: Exception) -> None:
        self.keep_alive = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def timed_out(self) -> None:
        self._fail(TwirpTransportError("no response within the timeout"))
        if self.transport is not None:
            self.transport.abort()

    def usable(self) -> bool:
        """Open, and neither side has said it will close it."""
        closing = self.transport is None or self.transport.is_closing()
        return not (self.lost or closing) and self.keep_alive


class TwirpTransport:
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 2.0,
        max_connections: int = 64,
        max_body: int = 4 * 1024 * 1024,
        idle_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"LiveKit URL must be http(s):// or ws(s)://host, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if scheme == "https" else 80)
        self.ssl = (ssl_context or ssl.create_default_context()) if scheme == "https" else None
        self.prefix = parts.path.rstrip("/") + "/twirp/livekit."
        self._head = (
            f"Host: {parts.netloc}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Content-Type: application/protobuf\r\nAccept-Encoding: identity\r\n"
        )
        self.timeout_s, self.idle_s, self.max_connections = timeout_s, idle_s, max_connections
        self.connect_timeout_s, self.max_body = connect_timeout_s, max_body
        self._idle: list[_Connection] = []
        self._open = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(6).hex()
        self.connections_opened = 0  # for tests and metrics: how well keep-alive holds

    def request_id(self) -> str:
        """A new ``X-Livekit-Request-Id``; the retries of one request send the same one."""
        return f"{self._id_prefix}-{next(self._ids)}"

    async def call(
        self, service: str, method: str, body: bytes, token: str, request_id: str | None = None
    ) -> bytes:
        """POST one Twirp request; the 200 response's protobuf body."""
        request = (
            f"POST {self.prefix}{service}/{method} HTTP/1.1\r\n{self._head}"
            f"Authorization: Bearer {token}\r\n"
            f"{REQUEST_ID_HEADER}: {request_id or self.request_id()}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        conn = await self._acquire()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.timeout_s, conn.timed_out)
        try:
            status, reply = await conn.send(request)
            retry_after = conn.retry_after
        except BaseException:
            conn.keep_alive = False  # cancelled or failed mid-request: its state is unknown
            raise
        finally:
            timer.cancel()
            self._release(conn)
        if status == 200:
            return reply
        try:
            error = _error_body.decode(reply)
        except msgspec.DecodeError:
            error = _ErrorBody(msg=reply[:200].decode(errors="replace"))
        raise TwirpServerError(status, error.code, error.msg, _seconds(retry_after))

    async def _acquire(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable() and now - conn.idle_since < self.idle_s:
                return conn
            self._discard(conn)
        while self._open >= self.max_connections:
            slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(slot)
            await slot
            if self._idle:
                return await self._acquire()
        self._open += 1
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(self.max_body), self.host, self.port, ssl=self.ssl
                )
        except (OSError, TimeoutError) as exc:
            self._open -= 1
            self._wake()
            raise TwirpTransportError(
                f"cannot connect to {self.host}:{self.port}: {exc!r}"
            ) from exc
        except BaseException:
            self._open -= 1
            self._wake()
            raise
        self.connections_opened += 1
        metrics.LIVEKIT_CONNECTIONS.inc()
        return conn

    def _release(self, conn: _Connection) -> None:
        if not conn.usable():
            self._discard(conn)
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)
        self._wake()

    def _discard(self, conn: _Connection) -> None:
        if conn.transport is not None:
            conn.transport.close()
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._slot_waiters:
            slot = self._slot_waiters.popleft()
            if not slot.done():
                slot.set_result(None)
                return

    def close(self) -> None:
        for conn in self._idle:
            if conn.transport is not None:
                conn.transport.close()
        self._open -= len(self._idle)
        self._idle.clear()
