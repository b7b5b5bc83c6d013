"""Several web processes on one port: ``python -m router web`` with ``ROUTER_WEB_PROCESSES``
(or ``--processes``) above 1 runs that many copies of the one-process ``web`` as children, each
listening on ``PORT`` with ``SO_REUSEPORT`` (the kernel spreads new connections over them), and
looks after them:

- SIGTERM / SIGINT go to every child; each drains as a lone web process does (it stops
  accepting, finishes its requests); a child still running after ``grace_s`` is killed.
- A child that dies is started again, after a pause that doubles (0.5 s up to 10 s) while
  children keep dying within ``YOUNG_S`` of their start; the others serve meanwhile.
- A child whose supervisor is gone (killed with SIGKILL, say) notices within a second and
  stops as on SIGTERM, so no orphan keeps serving old code on the port.
- A child that cannot start at all — its configuration refused or its port taken (exit 2,
  which no restart can mend) — stops the set, and the command exits 2 with the child's message
  already on stderr.

Why a second process: one Python process checks a webhook's JWT, reads it and queues it in
about three times the time aiohttp needs to answer a bare request; on a machine with two
cores a second process serves what the first cannot (docs/performance.md). Each child is a
whole web process: its own Redis connections and row cache (the registry's version channel
keeps every cache current), the same organization rate limits (kept in Redis). The set's own
process is ``python -m router.server.processes`` (``web`` execs it once the configuration is
checked, keeping its PID): a supervisor that imports none of the server (~30 MB, not ~75).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from router import config as config_module
from router import logs

log = logs.get(__name__)

YOUNG_S = 5.0  # a child that dies sooner than this after its start makes the next pause longer
CANNOT_START = 2  # __main__'s exit status for a refused configuration or a taken port
SUPERVISOR_PID = "ROUTER_SUPERVISOR_PID"  # set for the children: whose they are


async def supervise(processes: int, log_level: str, *, grace_s: float = 10.0) -> int:
    """Run ``processes`` web children until SIGTERM/SIGINT; the exit status of the set."""
    env = {
        **config_module.environment(),
        "ROUTER_WEB_PROCESSES": "1",
        "ROUTER_REUSE_PORT": "1",
        SUPERVISOR_PID: str(os.getpid()),
    }
    command = (sys.executable, "-m", "router", "--log-level", log_level, "web")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    children: dict[int, asyncio.subprocess.Process] = {}
    failed: list[int] = []

    async def keep(slot: int) -> None:
        pause = 0.5
        while not stop.is_set():
            started = loop.time()
            try:
                child = await asyncio.create_subprocess_exec(*command, env=env)
            except OSError as exc:
                log.error("web_process_cannot_start", slot=slot, error=repr(exc))
                failed.append(1)
                stop.set()
                return
            children[slot] = child
            log.info("web_process_started", slot=slot, pid=child.pid)
            if stop.is_set():  # the signal came while this one was starting
                child.send_signal(signal.SIGTERM)
            status = await child.wait()
            if stop.is_set():
                return
            if status == CANNOT_START:
                log.error("web_process_cannot_start", slot=slot, pid=child.pid, status=status)
                failed.append(status)
                stop.set()
                return
            young = loop.time() - started < YOUNG_S
            pause = min(pause * 2, 10.0) if young else 0.5
            log.warning(
                "web_process_exited", slot=slot, pid=child.pid, status=status, restart_in_s=pause
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    keepers = [asyncio.create_task(keep(slot)) for slot in range(processes)]
    log.info("web_processes", processes=processes)
    await stop.wait()
    for child in children.values():
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
    _, late = await asyncio.wait(keepers, timeout=grace_s)
    if late:
        for child in children.values():
            if child.returncode is None:
                log.warning("web_process_killed", pid=child.pid, after_s=grace_s)
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
        await asyncio.wait(late)
    return failed[0] if failed else 0


def watch_supervisor(
    stop: asyncio.Event, expected: int | None, every_s: float = 1.0
) -> asyncio.Task[None] | None:
    """In a child of a set (``expected``: its supervisor's pid, ``ROUTER_SUPERVISOR_PID``):
    set ``stop`` once the supervisor that started it is gone (the child is then another
    process's, init's or a subreaper's). None outside a set."""
    if expected is None:
        return None

    async def watch() -> None:
        while os.getppid() == expected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            if stop.is_set():
                return
        log.warning("web_supervisor_gone", supervisor_pid=expected)
        stop.set()

    return asyncio.create_task(watch())


def main(argv: list[str]) -> int:
    """``python -m router.server.processes N LOG_LEVEL``: what ``python -m router web`` execs."""
    processes, log_level = int(argv[0]), argv[1]
    logs.configure(log_level)
    return asyncio.run(supervise(processes, log_level))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
