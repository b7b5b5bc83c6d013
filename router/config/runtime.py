"""Where running routers say they are, as Jupyter's runtime files do: ``serve`` writes
``<data dir>/runtime/router-<pid>.json`` (its URL, pid, data directory, the store's address
with any password masked, when it started) once it listens, and removes it when it stops; the
CLI finds the router there when neither ``--url`` nor ``ROUTER_URL`` says (the newest one
running), ``status`` lists them, and break-glass maintenance reads the store's address from
them. A file whose process is gone (a ``kill -9``) is ignored and removed by its readers."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec

from router.config.files import data_dir

RUNTIME_DIR = "runtime"


class Runtime(msgspec.Struct, rename="camel", kw_only=True):
    url: str
    pid: int
    data_dir: str | None  # the embedded store's data, when it has one
    store: str  # the store's address, a password masked
    started_at: str
    version: str = ""

    @property
    def store_usable(self) -> bool:
        """The address can be connected to as written (no password was masked out)."""
        return "***" not in self.store


def runtime_dir() -> Path:
    return data_dir() / RUNTIME_DIR


def masked(url: str) -> str:
    """The address with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def write(runtime: Runtime) -> Path:
    """This process's runtime file (0600, written whole: a reader never sees half)."""
    folder = runtime_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"router-{runtime.pid}.json"
    partial = path.with_suffix(".tmp")
    partial.write_bytes(msgspec.json.encode(runtime))
    partial.chmod(0o600)
    partial.replace(path)
    return path


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: running
        return True
    return True


def running() -> list[Runtime]:
    """The routers running on this machine, newest first (stale files removed)."""
    found = []
    folder = runtime_dir()
    for path in sorted(folder.glob("router-*.json")) if folder.is_dir() else []:
        try:
            runtime = msgspec.json.decode(path.read_bytes(), type=Runtime)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            continue
        if _alive(runtime.pid):
            found.append(runtime)
        else:
            remove(path)
    return sorted(found, key=lambda r: r.started_at, reverse=True)
