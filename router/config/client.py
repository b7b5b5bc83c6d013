"""What the operator CLI reads from the environment (the router's own variable names), and
the environment a child process of the router inherits."""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from router.config.readers import value_of


class ClientConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the operator CLI reads from the environment: the router's own variable names."""

    url: str | None = None  # ROUTER_URL
    port: str | None = None  # PORT, for the default URL on this machine
    admin_token: str | None = None  # ROUTER_ADMIN_TOKEN
    # What ``calls simulate`` signs its webhooks with, as the router checks them.
    livekit_api_key: str | None = None
    livekit_api_secret: str | None = None
    twilio_auth_token: str | None = None

    def __repr__(self) -> str:
        return f"ClientConfig(url={self.url!r})"


def load_client(env: Mapping[str, str] | None = None) -> ClientConfig:
    env = os.environ if env is None else env
    return ClientConfig(
        url=value_of(env, "ROUTER_URL"),
        port=value_of(env, "PORT"),
        admin_token=value_of(env, "ROUTER_ADMIN_TOKEN"),
        livekit_api_key=value_of(env, "LIVEKIT_API_KEY"),
        livekit_api_secret=value_of(env, "LIVEKIT_API_SECRET"),
        twilio_auth_token=value_of(env, "TWILIO_AUTH_TOKEN"),
    )


def environment() -> dict[str, str]:
    """The environment as a child process of the router inherits it (``server.processes``)."""
    return dict(os.environ)
