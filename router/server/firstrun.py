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

from router.config import (
    LIVEKIT_SECRET_FILE,
    LOCAL_LIVEKIT_KEY,
    TOKEN_FILE,
    Config,
    LiveKitKeys,
    data_dir,
    loopback,
)
from router.config.runtime import masked
from router.errors import ConfigError

# With no LiveKit configured at all, webhooks are checked with a local key pair kept beside the
# token, so ``python -m router calls simulate`` can sign them on this machine (dry run: nothing
# is dispatched anywhere while LIVEKIT_URL is unset).


class FirstRun(msgspec.Struct, frozen=True):
    data_dir: Path
    generated_token: bool  # the admin token is the one kept in data_dir
    embedded_data: bool  # the embedded Valkey keeps its data in data_dir
    local_livekit_key: bool = False  # LiveKit webhooks are signed with the local key pair


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
    redis, http, keys, token = config.redis, config.http, config.livekit_keys, config.admin_token
    embedded_data = not redis.url and not redis.embedded_dir
    if embedded_data:
        redis = msgspec.structs.replace(redis, embedded_dir=str(where / "valkey"))
    generated = not token
    if generated:
        if http.host is not None and not loopback(http.host):
            raise ConfigError(
                "ROUTER_HOST",
                f"{http.host} is beyond loopback, and the admin token is the generated one "
                "(for trying the router on this machine): set ROUTER_ADMIN_TOKEN (32 characters "
                "or more) to listen there",
            )
        token = _token(where / TOKEN_FILE)
        http = msgspec.structs.replace(http, host=http.host or "127.0.0.1")
    local_key = config.livekit is None and keys is None
    if local_key and generated:  # a machine trying the router: nothing reaches LiveKit
        keys = LiveKitKeys(
            api_key=LOCAL_LIVEKIT_KEY, api_secret=_token(where / LIVEKIT_SECRET_FILE)
        )
    if embedded_data:
        (where / "valkey").mkdir(parents=True, exist_ok=True)
    first = FirstRun(where, generated, embedded_data, local_key and generated)
    settled = msgspec.structs.replace(
        config, redis=redis, http=http, livekit_keys=keys, admin_token=token
    )
    return settled, first


def banner(
    config: Config, first: FirstRun, port: int, redis_url: str, unreachable: str | None = None
) -> str:
    """``unreachable``: why the store did not answer at start (the banner says so first)."""
    host = config.http.host if config.http.host and config.http.host != "0.0.0.0" else "127.0.0.1"
    base = f"http://{host}:{port}"
    lines = ["", f"  call router is listening on {base}"]
    if unreachable is not None:
        lines += [
            f"  STORE UNREACHABLE: {masked(redis_url)} ({unreachable}): webhooks and the admin "
            "API answer 503 and /readyz says not ready until it answers; check REDIS_URL",
        ]
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
    if first.local_livekit_key:
        lines.append(
            "  LiveKit:    dry run (no LIVEKIT_URL): dispatches are recorded, not made; webhooks "
            f"are checked with the local key {LOCAL_LIVEKIT_KEY} (secret in "
            f"{first.data_dir / LIVEKIT_SECRET_FILE})"
        )
    lines += [
        "",
        "  the CLI on this machine finds the router and its token by itself; elsewhere:",
        f"    export ROUTER_URL={base}",
    ]
    if first.generated_token:
        lines.append(f"    export ROUTER_ADMIN_TOKEN={config.admin_token}")
    lines += [
        "  try a call:  python -m router calls simulate --to <a number you imported>",
        f"  routers running here: python -m router status; break-glass maintenance finds "
        f"this store ({masked(redis_url)}) by itself",
    ]
    return "\n".join([*lines, ""])
