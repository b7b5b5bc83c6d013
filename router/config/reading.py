"""``load``: the environment read once into a ``Config``, the variables' relations checked
(the LiveKit key pair goes together, a short admin token is for loopback only, …)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from router.config.sections import (
    Config,
    Http,
    Limits,
    LiveKit,
    LiveKitKeys,
    Managed,
    Outbound,
    Provisioning,
    RedisConfig,
    Telnyx,
    Timings,
    Twilio,
)
from router.config.variables import MAX_WEB_PROCESSES, VARIABLES
from router.errors import ConfigError

MIN_ADMIN_TOKEN = 32  # characters, unless the router listens on loopback only


def loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shards(count: int, subset_text: str | None) -> tuple[int, ...] | None:
    if subset_text is None:
        return None
    parts = [p.strip() for p in subset_text.split(",") if p.strip()]
    if not parts or not all(p.isascii() and p.isdigit() and int(p) < count for p in parts):
        raise ConfigError(
            "ROUTER_WORKER_SHARDS", f"must list shard numbers below {count}, got {subset_text!r}"
        )
    return tuple(sorted({int(p) for p in parts}))


def load(env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the configuration; raise ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    v = {var.name: var.reader.read(env, var.name) for var in VARIABLES}
    livekit_url = v["LIVEKIT_URL"]
    if livekit_url is not None and not urlsplit(livekit_url).hostname:
        raise ConfigError("LIVEKIT_URL", f"must name a host, got {livekit_url!r}")
    key, secret = v["LIVEKIT_API_KEY"], v["LIVEKIT_API_SECRET"]
    if bool(key) != bool(secret):
        missing = "LIVEKIT_API_SECRET" if key else "LIVEKIT_API_KEY"
        raise ConfigError(missing, "LIVEKIT_API_KEY and LIVEKIT_API_SECRET go together")
    if livekit_url and not key:
        raise ConfigError("LIVEKIT_API_KEY", "LIVEKIT_URL is set, so the API key pair is needed")
    host, token = v["ROUTER_HOST"], v["ROUTER_ADMIN_TOKEN"]
    if token is not None and len(token) < MIN_ADMIN_TOKEN and not loopback(host):
        raise ConfigError(
            "ROUTER_ADMIN_TOKEN",
            f"must be at least {MIN_ADMIN_TOKEN} characters when the router listens beyond "
            "loopback (a short token is for ROUTER_HOST=127.0.0.1 only); "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    if v["ROUTER_LEASE_RENEW_S"] >= v["ROUTER_LEASE_S"]:
        raise ConfigError("ROUTER_LEASE_RENEW_S", "must be below ROUTER_LEASE_S")
    livekit = LiveKit(url=livekit_url, api_key=key, api_secret=secret) if livekit_url else None
    return Config(
        livekit=livekit,
        livekit_keys=LiveKitKeys(api_key=key, api_secret=secret) if key else None,
        livekit_sip_uri=v["LIVEKIT_SIP_URI"],
        twilio=Twilio(
            api_base_url=v["TWILIO_API_BASE_URL"],
            trunking_base_url=v["TWILIO_TRUNKING_BASE_URL"],
            auth_token=v["TWILIO_AUTH_TOKEN"],
            account_sid=v["TWILIO_ACCOUNT_SID"],
            webhook_shared_key=v["TWILIO_WEBHOOK_SHARED_KEY"],
        ),
        telnyx=Telnyx(
            api_base_url=v["TELNYX_API_BASE_URL"],
            public_key=v["TELNYX_PUBLIC_KEY"],
            api_key=v["TELNYX_API_KEY"],
            connection_id=v["TELNYX_CONNECTION_ID"],
        ),
        http=Http(
            host=host,
            port=v["PORT"],
            public_url=v["ROUTER_PUBLIC_URL"],
            header_timeout_s=v["ROUTER_HEADER_TIMEOUT_S"],
            body_timeout_s=v["ROUTER_BODY_TIMEOUT_S"],
            keepalive_timeout_s=v["ROUTER_KEEPALIVE_TIMEOUT_S"],
            max_connections=v["ROUTER_MAX_CONNECTIONS"],
            reuse_port=v["ROUTER_REUSE_PORT"],
            web_processes=v["ROUTER_WEB_PROCESSES"],
        ),
        redis=RedisConfig(
            url=v["REDIS_URL"],
            cluster=v["ROUTER_REDIS_CLUSTER"],
            deadline_s=v["ROUTER_REDIS_DEADLINE_S"],
            stream_shards=v["ROUTER_STREAM_SHARDS"],
            worker_shards=_shards(v["ROUTER_STREAM_SHARDS"], v["ROUTER_WORKER_SHARDS"]),
            embedded_dir=v["ROUTER_EMBEDDED_DIR"],
        ),
        limits=Limits(
            org_rate_per_s=v["ROUTER_ORG_RATE_PER_S"],
            org_burst=v["ROUTER_ORG_BURST"],
            max_streams=v["ROUTER_MAX_STREAMS"],
            max_streams_per_org=v["ROUTER_MAX_STREAMS_PER_ORG"],
            max_streams_per_key=v["ROUTER_MAX_STREAMS_PER_KEY"],
        ),
        outbound=Outbound(
            countries=v["ROUTER_OUTBOUND_COUNTRIES"], per_minute=v["ROUTER_OUTBOUND_PER_MINUTE"]
        ),
        timings=Timings(
            bridge_timeout_s=v["ROUTER_BRIDGE_TIMEOUT_S"],
            join_wait_s=v["ROUTER_JOIN_WAIT_S"],
            lease_s=v["ROUTER_LEASE_S"],
            lease_renew_s=v["ROUTER_LEASE_RENEW_S"],
        ),
        provisioning=(
            Provisioning(
                reconcile_s=v["ROUTER_RECONCILE_S"], reconcile_fix=v["ROUTER_RECONCILE_FIX"]
            )
            if v["ROUTER_PROVISIONING"] and livekit is not None
            else None
        ),
        admin_token=token,
        secrets_key=v["ROUTER_SECRETS_KEY"],
        default_region=v["ROUTER_DEFAULT_REGION"],
        default_agent_name=v["ROUTER_DEFAULT_AGENT_NAME"],
        webhook_allow_private=v["ROUTER_WEBHOOK_ALLOW_PRIVATE"],
        supervisor_pid=v["ROUTER_SUPERVISOR_PID"],
        slack_webhook_url=v["ROUTER_SLACK_WEBHOOK_URL"],
        managed=Managed(
            providers=v["ROUTER_MANAGED_PROVIDERS"],
            prices=v["ROUTER_NUMBER_PRICES"],
            purchase_limit=v["ROUTER_PURCHASE_LIMIT"],
            grace_days=v["ROUTER_SUSPENSION_GRACE_DAYS"],
        ),
    )


def check_web_processes(processes: int, config: Config) -> None:
    """Several web processes share one port the kernel spreads connections over: it must be a
    fixed one (``PORT=0`` would give each its own)."""
    if not 1 <= processes <= MAX_WEB_PROCESSES:
        raise ConfigError(
            "ROUTER_WEB_PROCESSES", f"must be from 1 to {MAX_WEB_PROCESSES}, got {processes}"
        )
    if processes > 1 and config.http.port == 0:
        raise ConfigError(
            "PORT", f"{processes} web processes share one port: set PORT (0 gives each its own)"
        )
