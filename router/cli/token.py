"""Where the CLI finds the router and its token: flags first (``--url``, ``--token``), then
the environment (``ROUTER_URL``, else ``http://127.0.0.1:$PORT`` or 8080;
``ROUTER_ADMIN_TOKEN``), then on the machine of a first run the token the router generated
(``config.TOKEN_FILE`` in its data directory), so the CLI works there with no exports."""

from __future__ import annotations

from router.config import TOKEN_FILE, ClientConfig, kept


def target(url: str | None, token: str | None, settings: ClientConfig) -> tuple[str, str | None]:
    """The router's base URL and the admin token."""
    base = url or settings.url or f"http://127.0.0.1:{settings.port or 8080}"
    secret = token or settings.admin_token or kept(TOKEN_FILE)
    return base.rstrip("/"), secret
