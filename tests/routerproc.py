"""The one way the tests start ``python -m router``: a real process whose environment is a
clean base (none of this machine's router variables leak in) plus what the test gives, whose
log and output are read as they come (a full pipe never blocks it), waited for until it says
it is ready — and, for a command that runs to its end (the CLI, a refused start), its exit
status and output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from router import config
from tests.livekit_helpers import API_KEY, API_SECRET

# What the router reads, besides config.VARIABLES: the CLI's and the first run's.
_ROUTER_VARIABLES = config.NAMES | {"ROUTER_URL", "XDG_DATA_HOME"}


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any router variable, then ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in _ROUTER_VARIABLES}
    return {**base, **(env or {})}


class RouterProcess:
    """A running ``python -m router``: its log (stderr, JSON lines where they are JSON) and
    its output (stdout lines), gathered as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[dict[str, Any]] = []  # stderr lines that are JSON log entries
        self.errors: list[str] = []  # stderr lines that are not (a refusal, a traceback)
        self.output: list[str] = []  # stdout lines (the first run's banner, CLI output)
        self._news = asyncio.Condition()
        self._ended = 0
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(proc.stderr, self._log_line)),
            asyncio.create_task(self._read(proc.stdout, self.output.append)),
        ]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _log_line(self, text: str) -> None:
        try:
            entry = json.loads(text)
        except ValueError:
            entry = None
        if isinstance(entry, dict) and "event" in entry:
            self.log.append(entry)
        else:
            self.errors.append(text)

    async def _read(self, stream: asyncio.StreamReader, keep: Callable[[str], None]) -> None:
        while line := await stream.readline():
            keep(line.decode(errors="replace").rstrip("\n"))
            async with self._news:
                self._news.notify_all()
        async with self._news:
            self._ended += 1
            self._news.notify_all()

    async def _until(self, found: Callable[[], Any], what: str, timeout_s: float) -> Any:
        async with asyncio.timeout(timeout_s), self._news:
            while not (result := found()):
                if self._ended == len(self._readers):
                    raise AssertionError(
                        f"the process ended before {what}: {self.errors[-5:]} {self.log[-5:]}"
                    )
                await self._news.wait()
            return result

    async def until(
        self, event: str, count: int = 1, timeout_s: float = 30
    ) -> list[dict[str, Any]]:
        """The log entries named ``event``, once there are ``count`` of them."""

        def found() -> list[dict[str, Any]] | None:
            seen = [e for e in self.log if e["event"] == event]
            return seen if len(seen) >= count else None

        result: list[dict[str, Any]] = await self._until(found, f"logging {event!r}", timeout_s)
        return result

    async def line(self, starts: str, timeout_s: float = 60) -> str:
        """The first output line that starts with ``starts`` (spaces aside)."""

        def found() -> str | None:
            return next((t for t in self.output if t.strip().startswith(starts)), None)

        result: str = await self._until(found, f"printing {starts!r}", timeout_s)
        return result

    async def said(self, words: str, timeout_s: float = 30) -> str:
        """The first line it wrote to stderr that is not a log entry and holds ``words``."""

        def found() -> str | None:
            return next((t for t in self.errors if words in t), None)

        result: str = await self._until(found, f"saying {words!r}", timeout_s)
        return result

    async def port(self) -> int:
        """The port it listens on (its ``listening`` line)."""
        return int((await self.until("listening"))[0]["port"])

    async def url(self) -> str:
        return f"http://127.0.0.1:{await self.port()}"

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        """Signal it and wait for it (and its output) to end: its exit status."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        return await self.wait(timeout_s)

    async def wait(self, timeout_s: float = 30) -> int:
        """Its exit status, once it and every writer of its pipes (children it started) are
        done."""
        async with asyncio.timeout(timeout_s):
            code = await self.proc.wait()
            await self.closed()
        return code

    async def closed(self) -> None:
        """Until its pipes close: every process that writes to them has exited."""
        await asyncio.gather(*self._readers)


async def start(
    *args: str,
    env: Mapping[str, str] | None = None,
    ready: str | None = "listening",
    preexec_fn: Callable[[], None] | None = None,
    timeout_s: float = 30,
) -> RouterProcess:
    """``python -m router ARGS`` with ``environment(env)``, once it logged ``ready`` (None:
    at once)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", *args, env=environment(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL, preexec_fn=preexec_fn,
    )  # fmt: skip
    process = RouterProcess(proc)
    if ready is not None:
        try:
            await process.until(ready, timeout_s=timeout_s)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
    return process


class Finished(NamedTuple):
    code: int
    out: str
    err: str


async def run(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout_s: float = 60,
) -> Finished:
    """``python -m router ARGS`` run to its end (a CLI command, a refused start)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", *args, env=environment(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(timeout_s):
        out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def over_http(router: Any, token: str) -> dict[str, str]:
    """The CLI's environment for a test router (an aiohttp ``TestClient``): its URL and
    token, and no first run's files to fall back on."""
    return {
        "ROUTER_URL": str(router.make_url("")).rstrip("/"),
        "ROUTER_ADMIN_TOKEN": token,
        "XDG_DATA_HOME": "/nonexistent",
    }


async def worker(redis_url: str, livekit_url: str, **env: str) -> RouterProcess:
    """A ``worker`` as the Procfile starts it, on ``redis_url`` with LiveKit at
    ``livekit_url``, once its consumers have started."""
    return await start(
        "worker",
        env={
            "REDIS_URL": redis_url, "LIVEKIT_URL": livekit_url, "LIVEKIT_API_KEY": API_KEY,
            "LIVEKIT_API_SECRET": API_SECRET, "ROUTER_WEBHOOK_ALLOW_PRIVATE": "1",
            "PORT": "0",  # each worker serves /metrics and /readyz on a port of its own
            **env,
        },
        ready="worker_started",
    )  # fmt: skip
