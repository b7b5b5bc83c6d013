"""structlog, configured once: context vars merged, ISO UTC time, JSON (msgspec) or console.

Event names are snake_case words and data goes in key-values. ``call_id`` is bound once per
event with ``structlog.contextvars.bound_contextvars``. Secrets are never passed to a logger;
as a second line of defence, values under names that look secret are masked.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, BinaryIO

import msgspec
import structlog

_SECRET_WORDS = ("secret", "token", "password", "authorization", "api_key")
_json = msgspec.json.Encoder()


@functools.lru_cache(maxsize=1024)
def _looks_secret(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def _mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event:
        if _looks_secret(key):
            event[key] = "***"
    return event


def _serialize(obj: Any, **_: Any) -> bytes:
    try:
        return _json.encode(obj)
    except UnicodeEncodeError:
        # A value from the wire with bytes that are not UTF-8 (surrogate-escaped by aiohttp):
        # logged with those bytes escaped rather than losing the line or raising in a handler.
        return _json.encode(_escape_surrogates(obj))


def _escape_surrogates(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(obj, dict):
        return {_escape_surrogates(k): _escape_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_escape_surrogates(v) for v in obj]
    return obj


class TurnLogger:
    """Writes the lines logged during one event-loop turn with one write, at the turn's end
    (outside a running loop: at once). A worker logs a line per call; one ``write`` + ``flush``
    each was a measurable share of its CPU (docs/performance.md). What a SIGKILL can cost is
    the current turn's lines; a normal exit flushes (atexit)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._lines: list[bytes] = []
        self._scheduled = False
        atexit.register(self.flush)

    def msg(self, message: bytes) -> None:
        self._lines.append(message)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg

    def flush(self) -> None:
        self._scheduled = False
        lines, self._lines = self._lines, []
        if lines:
            lines.append(b"")
            self._file.write(b"\n".join(lines))
            self._file.flush()


def _shared(logger: TurnLogger) -> Any:
    return lambda *_: logger


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Set up structlog for the process: JSON unless stderr is a terminal."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_serialize)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=(
            _shared(TurnLogger(sys.stderr.buffer))
            if json
            else structlog.PrintLoggerFactory(file=sys.stderr)
        ),
        cache_logger_on_first_use=True,
    )
    # aiohttp's access log and livekit's own logger go through the stdlib.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")


def get(name: str | None = None) -> Any:
    return structlog.get_logger(name)
