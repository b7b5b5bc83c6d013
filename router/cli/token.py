"""Where the CLI finds the router and its token: flags first (``--url``, ``--token``), then
the environment (``ROUTER_URL``, else ``http://127.0.0.1:$PORT``, else the newest router
running on this machine by its runtime file (``config.runtime``), else port 8080;
``ROUTER_ADMIN_TOKEN``), then on the machine of a first run the token the router generated
(``config.TOKEN_FILE`` in its data directory), so the CLI works there with no exports."""

from __future__ import annotations

from typing import NamedTuple

from router.config import TOKEN_FILE, ClientConfig, data_dir, kept
from router.config.runtime import running


class Target(NamedTuple):
    url: str
    token: str | None
    url_source: str  # "--url", "ROUTER_URL", "PORT", "the runtime file of pid N", "the default"
    token_source: str | None  # "--token", "ROUTER_ADMIN_TOKEN", "the token file <path>"


def target(url: str | None, token: str | None, settings: ClientConfig) -> Target:
    """The router's base URL and the admin token, and where each came from."""
    if url:
        base, url_source = url, "--url"
    elif settings.url:
        base, url_source = settings.url, "ROUTER_URL"
    elif settings.port is not None:
        base, url_source = f"http://127.0.0.1:{settings.port}", "PORT"
    else:  # the router running here, if one is
        found = running()
        if found:
            base, url_source = found[0].url, f"the runtime file of pid {found[0].pid}"
        else:
            base, url_source = "http://127.0.0.1:8080", "the default (no router runs here)"
    secret: str | None
    token_source: str | None
    if token:
        secret, token_source = token, "--token"
    elif settings.admin_token:
        secret, token_source = settings.admin_token, "ROUTER_ADMIN_TOKEN"
    else:
        secret = kept(TOKEN_FILE)
        token_source = f"the token file {data_dir() / TOKEN_FILE}" if secret else None
    return Target(base.rstrip("/"), secret, url_source, token_source if secret else None)
