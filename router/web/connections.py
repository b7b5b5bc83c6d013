"""Slow and idle clients are cut off, and the open connections of a web process are capped.

aiohttp bounds neither how long a client may take to send its request headers nor how many
connections a process holds: a thousand clients that open a connection and send half a header
line keep a thousand file descriptors, and under a 1,024-descriptor limit every genuine webhook
is refused. ``ConnectionGuard`` wraps the protocol factory of aiohttp's ``web.Server`` (the
documented low-level way to serve it: ``loop.create_server(server, ...)``) and gives every
connection three deadlines, each configurable:

- ``ROUTER_KEEPALIVE_TIMEOUT_S`` (15 s): a connection with no request under way, and no byte of
  the next one, is closed (the first request included);
- ``ROUTER_HEADER_TIMEOUT_S`` (10 s): once the first byte of a request arrives, its headers
  must be complete within this, or the connection is dropped;
- ``ROUTER_BODY_TIMEOUT_S`` (10 s, ``httpapi.read_body``): the body, once the headers are in;
  a body that stops arriving is answered 408.

``ROUTER_MAX_CONNECTIONS`` (1,000, and never more than the process's descriptor limit less
what the router's own clients need) caps the connections open at once. At the cap a new
connection does not wait and is not refused while a worse one exists: the connection that has
waited longest *without a request under way* (idle, or still dribbling its headers) is dropped
to make room. A genuine webhook completes its headers in milliseconds, so a flood of slow
connections cannot keep it out; only when every open connection is serving a request is the
newcomer closed at once.

The middleware ``track_requests`` tells the guard when a request's handler starts and ends.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.typedefs import Handler

from router import logs, metrics

log = logs.get(__name__)

# Descriptors the router's own clients may hold besides served connections: the Redis pool
# (128), customer webhooks (200), the LiveKit pool (64), files, the listening sockets.
RESERVED_FDS = 512


def effective_cap(configured: int) -> int:
    """The connection cap, within what the process may open: the soft descriptor limit is
    raised to the hard one first (as servers do), then the router's own needs are set aside."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 16 if hard == resource.RLIM_INFINITY else min(hard, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(16, min(configured, soft - RESERVED_FDS))


class GuardedConnection(asyncio.Protocol):
    """One client connection: aiohttp's protocol inside, the guard's deadlines around it.

    A state change only writes down a deadline (a float): the guard's sweep, a few times per
    the shortest timeout, drops what is past it. A timer per request would cost every
    webhook two timer handles."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a request's handler is running
        self.streaming = False  # the request is an event stream (held open by design)
        self.partial = False  # bytes of the next request have arrived, not all its headers
        self.since = 0.0  # when it last became idle or partial (eviction order)
        self.deadline = float("inf")  # drop it after this (loop time), unless busy

    # ---- asyncio.Protocol, forwarded to aiohttp's handler -----------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # aiohttp's server always gets a stream transport (asyncio's or uvloop's).
        self.transport = cast(asyncio.Transport, transport)
        self.inner.connection_made(transport)
        self._waiting(self.guard.keepalive_timeout_s)
        self.guard.opened(self)

    def data_received(self, data: bytes) -> None:
        if not self.busy and not self.partial:
            self.partial = True  # the next request began: its headers are now on the clock
            self._waiting(self.guard.header_timeout_s)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # ---- the guard's part -------------------------------------------------------------------

    def request_started(self) -> None:
        self.busy, self.partial = True, False

    def request_finished(self) -> None:
        self.busy = self.streaming = False
        self._waiting(self.guard.keepalive_timeout_s)

    def drop(self, reason: str) -> None:
        metrics.CONNECTIONS_DROPPED.labels(reason).inc()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def _waiting(self, seconds: float) -> None:
        self.since = self.guard.loop.time()
        self.deadline = self.since + seconds


class ConnectionGuard:
    """The protocol factory to serve: ``loop.create_server(guard, ...)``."""

    def __init__(
        self,
        factory: Callable[[], asyncio.Protocol],
        *,
        max_connections: int,
        header_timeout_s: float,
        keepalive_timeout_s: float,
    ) -> None:
        self.factory = factory
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.open: dict[GuardedConnection, None] = {}  # insertion-ordered
        self.loop = asyncio.get_running_loop()
        # Deadlines are kept to within a quarter of the shortest timeout (at most 1 s).
        self.sweep_s = max(0.02, min(1.0, header_timeout_s / 4, keepalive_timeout_s / 4))
        self._sweeper: asyncio.TimerHandle | None = None

    def __call__(self) -> GuardedConnection:
        return GuardedConnection(self, self.factory())

    def opened(self, conn: GuardedConnection) -> None:
        if len(self.open) >= self.max_connections:
            # Whoever waits longest without a request under way goes first; then the oldest
            # event stream (its client reconnects): a webhook is refused only when every
            # connection is serving one.
            waiting = [c for c in self.open if not c.busy]
            streams = [c for c in self.open if c.streaming]
            if waiting:
                min(waiting, key=lambda c: c.since).drop("evicted_at_cap")
            elif streams:
                min(streams, key=lambda c: c.since).drop("stream_evicted_at_cap")
            else:
                conn.drop("refused_at_cap")
                return
        self.open[conn] = None
        metrics.CONNECTIONS_OPEN.set(len(self.open))
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self.sweep_s, self._sweep)

    def closed(self, conn: GuardedConnection) -> None:
        self.open.pop(conn, None)
        metrics.CONNECTIONS_OPEN.set(len(self.open))

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in [c for c in self.open if not c.busy and c.deadline <= now]:
            conn.drop("header_timeout" if conn.partial else "idle_timeout")
        # Only while connections are open: an idle process does not wake up for nothing.
        self._sweeper = self.loop.call_later(self.sweep_s, self._sweep) if self.open else None


def _connection(request: web.Request) -> GuardedConnection | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, GuardedConnection) else None


def streaming(request: web.Request) -> None:
    """Tell the guard this request is an event stream: at the connection cap it may be
    evicted to make room (its client reconnects), where a webhook never is."""
    conn = _connection(request)
    if conn is not None:
        conn.streaming = True
        conn.since = conn.guard.loop.time()


@web.middleware
async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell the guard a request is under way (its headers are in) and when it is done."""
    conn = _connection(request)
    if conn is None:  # served without the guard (tests' TestServer)
        return await handler(request)
    conn.request_started()
    try:
        return await handler(request)
    finally:
        conn.request_finished()


async def serve(
    runner: web.AppRunner,
    *,
    host: str | None,
    port: int,
    max_connections: int,
    header_timeout_s: float,
    keepalive_timeout_s: float,
    ssl_context: Any = None,
    reuse_port: bool = False,
) -> asyncio.Server:
    """Listen on ``host:port`` with the guard around ``runner``'s server; the caller closes
    the returned server before ``runner.cleanup()`` (which closes the connections)."""
    server = runner.server
    assert server is not None, "runner.setup() first"
    cap = effective_cap(max_connections)
    loop = asyncio.get_running_loop()
    guard = ConnectionGuard(
        server,
        max_connections=cap,
        header_timeout_s=header_timeout_s,
        keepalive_timeout_s=keepalive_timeout_s,
    )
    listening = await loop.create_server(
        guard,
        host=host,
        port=port,
        reuse_address=True,
        reuse_port=reuse_port or None,
        backlog=1024,
        ssl=ssl_context,
    )
    log.info(
        "connection_limits",
        max_connections=cap,
        header_timeout_s=header_timeout_s,
        keepalive_timeout_s=keepalive_timeout_s,
    )
    return listening
