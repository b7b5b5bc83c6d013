"""The first run with nothing configured: ``python -m router serve`` is ready to try at once.

Jupyter's model: with no ``ROUTER_ADMIN_TOKEN`` a token is generated once and kept in the
per-user data directory (``platformdirs``; mode 0600), with no ``REDIS_URL`` and no
``ROUTER_EMBEDDED_DIR`` the embedded Valkey keeps its data there too (so agents and numbers
survive a restart), and a short banner says where everything is: the console URL with the
token in its fragment (which never reaches a server), the admin API, the data directory and
the ``export`` lines the CLI needs. A generated token is for loopback only: the router then
listens on 127.0.0.1, and asking for another address is refused with a message. Anything set
explicitly always wins.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import msgspec
from platformdirs import user_data_dir

from router.config import Config, loopback
from router.errors import ConfigError

APP_NAME = "call-router"
TOKEN_FILE = "admin-token"


class FirstRun(msgspec.Struct, frozen=True):
    data_dir: Path
    generated_token: bool  # the admin token is the one kept in data_dir
    embedded_data: bool  # the embedded Valkey keeps its data in data_dir


def data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


def _token(path: Path) -> str:
    """The token kept at ``path``, created (0600, exclusively) on the first run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token


def prepare(config: Config) -> tuple[Config, FirstRun]:
    """``serve``'s configuration with the first-run defaults filled in where nothing is set."""
    where = data_dir()
    changes: dict[str, object] = {}
    embedded_data = not config.redis_url and not config.embedded_dir
    if embedded_data:
        changes["embedded_dir"] = str(where / "valkey")
    generated = not config.admin_token
    if generated:
        if config.host is not None and not loopback(config.host):
            raise ConfigError(
                "ROUTER_HOST",
                f"{config.host} is beyond loopback, and the admin token is the generated one "
                "(for trying the router on this machine): set ROUTER_ADMIN_TOKEN (32 characters "
                "or more) to listen there",
            )
        changes["admin_token"] = _token(where / TOKEN_FILE)
        changes["host"] = config.host or "127.0.0.1"
    if embedded_data:
        (where / "valkey").mkdir(parents=True, exist_ok=True)
    return msgspec.structs.replace(config, **changes), FirstRun(where, generated, embedded_data)


def banner(config: Config, first: FirstRun, port: int, redis_url: str) -> str:
    host = config.host if config.host and config.host != "0.0.0.0" else "127.0.0.1"
    base = f"http://{host}:{port}"
    lines = ["", f"  call router is listening on {base}"]
    if first.generated_token:
        lines += [
            f"  console:    {base}/console#token={config.admin_token}",
            f"  admin API:  {base}/v1  (Authorization: Bearer <the token above>)",
            f"  token file: {first.data_dir / TOKEN_FILE}",
        ]
    else:
        lines += [f"  console:    {base}/console", f"  admin API:  {base}/v1"]
    if first.embedded_data:
        lines.append(f"  data:       {first.data_dir / 'valkey'} (kept across restarts)")
    lines += ["", "  for the CLI in another shell:", f"    export REDIS_URL={redis_url}"]
    if first.generated_token:
        lines.append(f"    export ROUTER_ADMIN_TOKEN={config.admin_token}")
    return "\n".join([*lines, ""])
