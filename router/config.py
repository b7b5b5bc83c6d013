"""Configuration: read the environment once into a frozen Struct.

Nothing else in the router reads ``os.environ``. A missing or malformed value stops start-up
with a ``ConfigError`` that names the variable (see DESIGN.md, "Configuration").
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import urlsplit

import msgspec
import phonenumbers

from router.errors import ConfigError

# The data the router reads at run time (carrier answers, the console page): the repository's
# top-level templates/, which the build maps into the package as router.templates (setup.py),
# read through importlib.resources so that a wheel and an editable install both find it.
TEMPLATES_DIR: Traversable = resources.files("router.templates")


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    redis_url: str | None = None
    livekit_url: str | None = None
    livekit_api_key: str | None = None
    livekit_api_secret: str | None = None
    livekit_sip_uri: str | None = None
    twilio_auth_token: str | None = None
    # The platform's own Twilio account: with it set, a webhook of an account that is neither
    # this one nor an organization's integration is refused.
    twilio_account_sid: str | None = None
    twilio_webhook_shared_key: str | None = None  # a webhook SharedKey's secret (HMAC-SHA256)
    telnyx_public_key: bytes | None = None
    telnyx_api_key: str | None = None
    telnyx_api_base_url: str = "https://api.telnyx.com/v2"
    telnyx_connection_id: str | None = None  # the router's TeXML / Call Control application
    twilio_api_base_url: str = "https://api.twilio.com/2010-04-01"
    twilio_trunking_base_url: str = "https://trunking.twilio.com/v1"
    secrets_key: str | None = None  # Fernet key(s) for carrier credentials at rest
    admin_token: str | None = None
    public_url: str | None = None
    default_region: str = "US"
    default_agent_name: str | None = None
    webhook_allow_private: bool = False
    embedded_dir: str | None = None
    redis_cluster: str = "auto"  # "auto" (ask the server), "1" or "0"
    stream_shards: int = 1
    worker_shards: tuple[int, ...] | None = None  # None: all shards
    port: int = 8080
    host: str | None = None  # the address to listen on; None: every interface
    # Slow or idle clients (router/connections.py) and a hung Redis (ingress, admin API).
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0
    max_connections: int = 1000
    # The router wires numbers into LiveKit itself (managed inbound trunks) when LiveKit is
    # configured; ROUTER_PROVISIONING=off leaves LiveKit's SIP setup to the operator.
    provisioning: bool = True
    reconcile_s: float = 300.0
    reconcile_fix: bool = True
    reuse_port: bool = False  # SO_REUSEPORT: several web processes share PORT (the kernel spreads)
    web_processes: int = 1  # `web` runs this many processes on PORT (router/web/processes.py)
    redis_deadline_s: float = 3.0
    # Each organization's admin API budget (a token bucket in Redis, shared by web processes).
    org_rate_per_s: float = 20.0
    org_burst: int = 100
    # Open GET /v1/calls/events streams a web process holds: in all, per organization, per key.
    max_streams: int = 200
    max_streams_per_org: int = 20
    max_streams_per_key: int = 5

    @property
    def livekit_webhooks_enabled(self) -> bool:
        """Webhook verification needs the API key pair, not the server URL."""
        return bool(self.livekit_api_key and self.livekit_api_secret)

    @property
    def twilio_webhooks_enabled(self) -> bool:
        return bool(self.twilio_auth_token or self.twilio_webhook_shared_key)

    @property
    def provisions_livekit(self) -> bool:
        """The router keeps each organization's LiveKit inbound trunk and dispatch rule."""
        return self.provisioning and not self.dry_run

    @property
    def dry_run(self) -> bool:
        """No LiveKit server API configured: dispatches go to the log and the call record only."""
        return not (self.livekit_url and self.livekit_webhooks_enabled)

    def __repr__(self) -> str:  # secrets never reach a log line through a repr
        return f"Config(redis={'set' if self.redis_url else 'embedded'}, port={self.port})"


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = _text(env, name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ConfigError(name, f"must be a URL with scheme {' or '.join(schemes)}, got {value!r}")
    return value.rstrip("/")


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (_text(env, name) or "0").lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be 1 or 0, got {value!r}")


def _port(env: Mapping[str, str], name: str) -> int:
    value = _text(env, name) or "8080"
    if not (value.isascii() and value.isdigit()) or not 0 <= int(value) < 65536:
        raise ConfigError(name, f"must be a TCP port number (0: any free one), got {value!r}")
    return int(value)


def _seconds(env: Mapping[str, str], name: str, default: float, upper: float) -> float:
    value = _text(env, name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= upper:
        raise ConfigError(
            name, f"must be a number of seconds above 0, at most {upper:g}, got {value!r}"
        )
    return seconds


def _count(env: Mapping[str, str], name: str, default: int, lower: int, upper: int) -> int:
    value = _text(env, name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not lower <= int(value) <= upper:
        raise ConfigError(name, f"must be a whole number from {lower} to {upper}, got {value!r}")
    return int(value)


def _secrets_key(env: Mapping[str, str], name: str) -> str | None:
    value = _text(env, name)
    if value is None:
        return None
    try:
        from cryptography.fernet import Fernet

        for key in value.split(","):
            Fernet(key.strip())
    except ValueError as exc:
        raise ConfigError(
            name,
            "must be Fernet keys (comma-separated; the first encrypts): python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
        ) from exc
    return value


def _on_off(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = (_text(env, name) or "").lower()
    if not value:
        return default
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    raise ConfigError(name, f"must be on or off, got {value!r}")


def _region(env: Mapping[str, str], name: str) -> str:
    value = (_text(env, name) or "US").upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(name, f"must be an ISO 3166 region phonenumbers knows, got {value!r}")
    return value


def _shards(env: Mapping[str, str]) -> tuple[int, tuple[int, ...] | None]:
    count_text = _text(env, "ROUTER_STREAM_SHARDS") or "1"
    if not (count_text.isascii() and count_text.isdigit()) or not 1 <= int(count_text) <= 256:
        raise ConfigError("ROUTER_STREAM_SHARDS", f"must be 1 to 256, got {count_text!r}")
    count = int(count_text)
    subset_text = _text(env, "ROUTER_WORKER_SHARDS")
    if subset_text is None:
        return count, None
    parts = [p.strip() for p in subset_text.split(",") if p.strip()]
    if not parts or not all(p.isascii() and p.isdigit() and int(p) < count for p in parts):
        raise ConfigError(
            "ROUTER_WORKER_SHARDS", f"must list shard numbers below {count}, got {subset_text!r}"
        )
    return count, tuple(sorted({int(p) for p in parts}))


def _ed25519_key(env: Mapping[str, str], name: str) -> bytes | None:
    value = _text(env, name)
    if value is None:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(name, "must be base64") from exc
    if len(raw) != 32:
        raise ConfigError(name, f"must be a 32-byte ed25519 public key, got {len(raw)} bytes")
    return raw


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


def _host(env: Mapping[str, str], name: str) -> str | None:
    value = _text(env, name)
    if value is None or value == "localhost":
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ConfigError(name, f"must be an IP address or localhost, got {value!r}") from exc
    return value


def _admin_token(env: Mapping[str, str], host: str | None) -> str | None:
    token = _text(env, "ROUTER_ADMIN_TOKEN")
    if token is not None and len(token) < MIN_ADMIN_TOKEN and not loopback(host):
        raise ConfigError(
            "ROUTER_ADMIN_TOKEN",
            f"must be at least {MIN_ADMIN_TOKEN} characters when the router listens beyond "
            "loopback (a short token is for ROUTER_HOST=127.0.0.1 only); "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return token


def load(env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the configuration; raise ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    livekit_url = _url(env, "LIVEKIT_URL", ("http", "https", "ws", "wss"))
    if livekit_url is not None and not urlsplit(livekit_url).hostname:
        raise ConfigError("LIVEKIT_URL", f"must name a host, got {livekit_url!r}")
    key, secret = _text(env, "LIVEKIT_API_KEY"), _text(env, "LIVEKIT_API_SECRET")
    if bool(key) != bool(secret):
        missing = "LIVEKIT_API_SECRET" if key else "LIVEKIT_API_KEY"
        raise ConfigError(missing, "LIVEKIT_API_KEY and LIVEKIT_API_SECRET go together")
    if livekit_url and not key:
        raise ConfigError("LIVEKIT_API_KEY", "LIVEKIT_URL is set, so the API key pair is needed")
    cluster = (_text(env, "ROUTER_REDIS_CLUSTER") or "auto").lower()
    if cluster not in ("auto", "1", "0"):
        raise ConfigError("ROUTER_REDIS_CLUSTER", f"must be auto, 1 or 0, got {cluster!r}")
    shards, worker_shards = _shards(env)
    host = _host(env, "ROUTER_HOST")
    return Config(
        host=host,
        redis_cluster=cluster,
        stream_shards=shards,
        worker_shards=worker_shards,
        redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix", "valkey", "valkeys")),
        livekit_url=livekit_url,
        livekit_api_key=key,
        livekit_api_secret=secret,
        livekit_sip_uri=_url(env, "LIVEKIT_SIP_URI", ("sip", "sips")),
        twilio_auth_token=_text(env, "TWILIO_AUTH_TOKEN"),
        twilio_account_sid=_text(env, "TWILIO_ACCOUNT_SID"),
        twilio_webhook_shared_key=_text(env, "TWILIO_WEBHOOK_SHARED_KEY"),
        telnyx_public_key=_ed25519_key(env, "TELNYX_PUBLIC_KEY"),
        telnyx_api_key=_text(env, "TELNYX_API_KEY"),
        telnyx_connection_id=_text(env, "TELNYX_CONNECTION_ID"),
        twilio_api_base_url=_url(env, "TWILIO_API_BASE_URL", ("http", "https"))
        or "https://api.twilio.com/2010-04-01",
        twilio_trunking_base_url=_url(env, "TWILIO_TRUNKING_BASE_URL", ("http", "https"))
        or "https://trunking.twilio.com/v1",
        secrets_key=_secrets_key(env, "ROUTER_SECRETS_KEY"),
        telnyx_api_base_url=_url(env, "TELNYX_API_BASE_URL", ("http", "https"))
        or "https://api.telnyx.com/v2",
        admin_token=_admin_token(env, host),
        public_url=_url(env, "ROUTER_PUBLIC_URL", ("http", "https")),
        default_region=_region(env, "ROUTER_DEFAULT_REGION"),
        default_agent_name=_text(env, "ROUTER_DEFAULT_AGENT_NAME"),
        webhook_allow_private=_flag(env, "ROUTER_WEBHOOK_ALLOW_PRIVATE"),
        embedded_dir=_text(env, "ROUTER_EMBEDDED_DIR"),
        port=_port(env, "PORT"),
        header_timeout_s=_seconds(env, "ROUTER_HEADER_TIMEOUT_S", 10.0, 300.0),
        body_timeout_s=_seconds(env, "ROUTER_BODY_TIMEOUT_S", 10.0, 300.0),
        keepalive_timeout_s=_seconds(env, "ROUTER_KEEPALIVE_TIMEOUT_S", 15.0, 3600.0),
        max_connections=_count(env, "ROUTER_MAX_CONNECTIONS", 1000, 16, 1_000_000),
        reuse_port=_flag(env, "ROUTER_REUSE_PORT"),
        web_processes=_count(env, "ROUTER_WEB_PROCESSES", 1, 1, MAX_WEB_PROCESSES),
        provisioning=_on_off(env, "ROUTER_PROVISIONING", default=True),
        reconcile_s=_seconds(env, "ROUTER_RECONCILE_S", 300.0, 86_400.0),
        reconcile_fix=_on_off(env, "ROUTER_RECONCILE_FIX", default=True),
        redis_deadline_s=_seconds(env, "ROUTER_REDIS_DEADLINE_S", 3.0, 14.0),
        org_rate_per_s=_seconds(env, "ROUTER_ORG_RATE_PER_S", 20.0, 100_000.0),
        org_burst=_count(env, "ROUTER_ORG_BURST", 100, 1, 1_000_000),
        max_streams=_count(env, "ROUTER_MAX_STREAMS", 200, 1, 100_000),
        max_streams_per_org=_count(env, "ROUTER_MAX_STREAMS_PER_ORG", 20, 1, 100_000),
        max_streams_per_key=_count(env, "ROUTER_MAX_STREAMS_PER_KEY", 5, 1, 100_000),
    )


MAX_WEB_PROCESSES = 64  # ROUTER_WEB_PROCESSES and `web --processes` alike


def check_web_processes(processes: int, config: Config) -> None:
    """Several web processes share one port the kernel spreads connections over: it must be a
    fixed one (``PORT=0`` would give each its own)."""
    if not 1 <= processes <= MAX_WEB_PROCESSES:
        raise ConfigError(
            "ROUTER_WEB_PROCESSES", f"must be from 1 to {MAX_WEB_PROCESSES}, got {processes}"
        )
    if processes > 1 and config.port == 0:
        raise ConfigError(
            "PORT", f"{processes} web processes share one port: set PORT (0 gives each its own)"
        )
