"""Configuration: read the environment once into a frozen Struct.

Nothing else in the router reads ``os.environ`` (the CLI's own variables: ``load_client``). A
missing or malformed value stops start-up with a ``ConfigError`` that names the variable. Every
variable, its default and what it does are in ``VARIABLES``, from which
``docs/configuration.md`` is generated.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec
import phonenumbers
from platformdirs import user_data_dir

from router.errors import ConfigError

# The data the router reads at run time (carrier answers, the console page): the repository's
# top-level templates/, which the build maps into the package as router.templates (setup.py),
# read through importlib.resources so that a wheel and an editable install both find it.
TEMPLATES_DIR: Traversable = resources.files("router.templates")


# ---- the configuration, in sections ----------------------------------------------------------
# A section that is configured or not (LiveKit's server API, provisioning) is present or None,
# so the code holding one never asks whether its fields are set. Every default is written once,
# in VARIABLES below.


class LiveKitKeys(msgspec.Struct, frozen=True, kw_only=True):
    """The API key pair LiveKit signs its webhooks with (``LIVEKIT_API_KEY`` / ``_SECRET``)."""

    api_key: str
    api_secret: str


class LiveKit(msgspec.Struct, frozen=True, kw_only=True):
    """LiveKit's server API (``LIVEKIT_URL`` with the key pair): dispatch and provisioning."""

    url: str
    api_key: str
    api_secret: str


class Twilio(msgspec.Struct, frozen=True, kw_only=True):
    api_base_url: str
    trunking_base_url: str
    auth_token: str | None  # the platform account's webhooks (HMAC-SHA1)
    # The platform's own Twilio account: with it set, a webhook of an account that is neither
    # this one nor an organization's integration is refused.
    account_sid: str | None
    webhook_shared_key: str | None  # a webhook SharedKey's secret (HMAC-SHA256)

    @property
    def webhooks_enabled(self) -> bool:
        return bool(self.auth_token or self.webhook_shared_key)


class Telnyx(msgspec.Struct, frozen=True, kw_only=True):
    api_base_url: str
    public_key: bytes | None  # the platform account's webhooks (ed25519)
    api_key: str | None  # the platform's Call Control (transfers, hang-ups)
    connection_id: str | None  # the router's TeXML / Call Control application


class Http(msgspec.Struct, frozen=True, kw_only=True):
    """Listening, and what slow or idle clients are allowed (``web.connections``)."""

    host: str | None  # the address to listen on; None: every interface
    port: int
    public_url: str | None  # the router's address as carriers must call it
    header_timeout_s: float
    body_timeout_s: float
    keepalive_timeout_s: float
    max_connections: int
    reuse_port: bool  # SO_REUSEPORT: several web processes share PORT (the kernel spreads)
    web_processes: int  # `web` runs this many processes on PORT (server.processes)


class RedisConfig(msgspec.Struct, frozen=True, kw_only=True):
    url: str | None  # None: `serve` starts the embedded Valkey
    cluster: str  # "auto" (ask the server), "1" or "0"
    deadline_s: float  # a hung Redis: ingress and admin API answer 503 by then
    stream_shards: int
    worker_shards: tuple[int, ...] | None  # None: all shards
    embedded_dir: str | None


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Each organization's admin API budget (a token bucket in Redis, shared by web processes)
    and the open ``GET /v1/calls/events`` streams a web process holds."""

    org_rate_per_s: float
    org_burst: int
    max_streams: int
    max_streams_per_org: int
    max_streams_per_key: int


class Timings(msgspec.Struct, frozen=True, kw_only=True):
    """The worker's clocks (``worker.services``, ``store.lease``)."""

    bridge_timeout_s: float  # a carrier bridge with no LiveKit leg by then: timed out
    join_wait_s: float  # how long a bridged leg waits for its carrier call's decision
    lease_s: float  # a call's lease lives this long unless renewed
    lease_renew_s: float  # renewed this often while its holder works


class Provisioning(msgspec.Struct, frozen=True, kw_only=True):
    """The router wires numbers into LiveKit itself (managed inbound trunks): with LiveKit's
    server API configured, unless ``ROUTER_PROVISIONING=off``."""

    reconcile_s: float
    reconcile_fix: bool


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    livekit: LiveKit | None  # None: dry run (dispatches go to the log and the record only)
    livekit_keys: LiveKitKeys | None  # None: LiveKit webhooks are refused
    livekit_sip_uri: str | None  # where carriers bridge calls to (LiveKit's SIP host)
    twilio: Twilio
    telnyx: Telnyx
    http: Http
    redis: RedisConfig
    limits: Limits
    timings: Timings
    provisioning: Provisioning | None
    admin_token: str | None
    secrets_key: str | None  # Fernet key(s) for carrier credentials at rest
    default_region: str
    default_agent_name: str | None
    webhook_allow_private: bool
    supervisor_pid: int | None  # a child of `web --processes N`: its supervisor

    @property
    def dry_run(self) -> bool:
        """No LiveKit server API configured: dispatches go to the log and the call record only."""
        return self.livekit is None

    def __repr__(self) -> str:  # secrets never reach a log line through a repr
        return f"Config(redis={'set' if self.redis.url else 'embedded'}, port={self.http.port})"


# ---- reading one variable ------------------------------------------------------------------


class Reader(Protocol):
    @property
    def default(self) -> str:
        """As the configuration reference shows it ("": unset)."""
        ...

    def read(self, env: Mapping[str, str], name: str) -> Any: ...


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Text:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        return _text(env, name) or self.default or None


@dataclass(frozen=True)
class Url:
    schemes: tuple[str, ...]
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        value = _text(env, name)
        if value is None:
            return self.default or None
        parts = urlsplit(value)
        if parts.scheme not in self.schemes or not (parts.netloc or parts.path):
            raise ConfigError(
                name, f"must be a URL with scheme {' or '.join(self.schemes)}, got {value!r}"
            )
        return value.rstrip("/")


@dataclass(frozen=True)
class Switch:
    """1/0 (and true/false, yes/no, on/off)."""

    on: bool = False

    @property
    def default(self) -> str:
        return "on" if self.on else "off"

    def read(self, env: Mapping[str, str], name: str) -> bool:
        value = (_text(env, name) or "").lower()
        if not value:
            return self.on
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"must be on or off (1 or 0), got {value!r}")


@dataclass(frozen=True)
class Seconds:
    value: float
    upper: float

    @property
    def default(self) -> str:
        return f"{self.value:g}"

    def read(self, env: Mapping[str, str], name: str) -> float:
        value = _text(env, name)
        if value is None:
            return self.value
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds <= self.upper:
            raise ConfigError(
                name, f"must be a number of seconds above 0, at most {self.upper:g}, got {value!r}"
            )
        return seconds


@dataclass(frozen=True)
class Count:
    value: int
    lower: int
    upper: int

    @property
    def default(self) -> str:
        return str(self.value)

    def read(self, env: Mapping[str, str], name: str) -> int:
        value = _text(env, name)
        if value is None:
            return self.value
        if not (value.isascii() and value.isdigit()) or not self.lower <= int(value) <= self.upper:
            raise ConfigError(
                name, f"must be a whole number from {self.lower} to {self.upper}, got {value!r}"
            )
        return int(value)


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.choices[0]

    def read(self, env: Mapping[str, str], name: str) -> str:
        value = (_text(env, name) or self.default).lower()
        if value not in self.choices:
            raise ConfigError(name, f"must be {', '.join(self.choices)}, got {value!r}")
        return value


@dataclass(frozen=True)
class Port:
    default: str = "8080"

    def read(self, env: Mapping[str, str], name: str) -> int:
        value = _text(env, name) or self.default
        if not (value.isascii() and value.isdigit()) or not 0 <= int(value) < 65536:
            raise ConfigError(name, f"must be a TCP port number (0: any free one), got {value!r}")
        return int(value)


@dataclass(frozen=True)
class Host:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        value = _text(env, name)
        if value is None or value == "localhost":
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ConfigError(name, f"must be an IP address or localhost, got {value!r}") from exc
        return value


@dataclass(frozen=True)
class Region:
    default: str = "US"

    def read(self, env: Mapping[str, str], name: str) -> str:
        value = (_text(env, name) or self.default).upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(name, f"must be an ISO 3166 region phonenumbers knows, got {value!r}")
        return value


@dataclass(frozen=True)
class Ed25519Key:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> bytes | None:
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


@dataclass(frozen=True)
class FernetKeys:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
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


@dataclass(frozen=True)
class Shards:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        return _text(env, name)  # checked against ROUTER_STREAM_SHARDS in load()


@dataclass(frozen=True)
class Pid:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> int | None:
        value = _text(env, name)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()):
            raise ConfigError(name, f"must be a process id, got {value!r}")
        return int(value)


@dataclass(frozen=True)
class Variable:
    name: str
    reader: Reader
    section: str  # the reference's grouping (docs/configuration.md)
    doc: str


MAX_WEB_PROCESSES = 64  # ROUTER_WEB_PROCESSES and `web --processes` alike
_REDIS_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")
_HTTP = ("http", "https")

# Every variable the router reads: its reader (with the default, written here once), and what
# it is for. docs/configuration.md is generated from this table (tests/test_config.py checks).
VARIABLES: tuple[Variable, ...] = (
    Variable(
        "REDIS_URL", Url(_REDIS_SCHEMES), "Redis",
        "the shared Redis/Valkey; unset: `serve` starts an embedded Valkey",
    ),
    Variable(
        "ROUTER_REDIS_CLUSTER", Choice(("auto", "1", "0")), "Redis",
        "Redis Cluster: ask the server (auto), or say so",
    ),
    Variable(
        "ROUTER_REDIS_DEADLINE_S", Seconds(3.0, 14.0), "Redis",
        "a Redis that has not answered by then is down: webhooks and the admin API answer 503",
    ),
    Variable(
        "ROUTER_STREAM_SHARDS", Count(1, 1, 256), "Redis",
        "call stream shards",
    ),
    Variable(
        "ROUTER_WORKER_SHARDS", Shards(), "Redis",
        "the shards this worker reads (comma-separated); unset: all",
    ),
    Variable(
        "ROUTER_EMBEDDED_DIR", Text(), "Redis",
        "where the embedded Valkey keeps its data; unset: the per-user data directory on a "
        "first run",
    ),
    Variable(
        "LIVEKIT_URL", Url(("http", "https", "ws", "wss")), "LiveKit",
        "LiveKit's server API; unset: dry run (dispatches recorded, not made)",
    ),
    Variable(
        "LIVEKIT_API_KEY", Text(), "LiveKit",
        "the API key pair: webhook signatures, server API tokens",
    ),
    Variable(
        "LIVEKIT_API_SECRET", Text(), "LiveKit",
        "the API key pair's secret",
    ),
    Variable(
        "LIVEKIT_SIP_URI", Url(("sip", "sips")), "LiveKit",
        "LiveKit's SIP host, where carriers bridge calls to",
    ),
    Variable(
        "ROUTER_PROVISIONING", Switch(on=True), "LiveKit",
        "the router keeps each organization's LiveKit inbound trunk and dispatch rule",
    ),
    Variable(
        "ROUTER_RECONCILE_S", Seconds(300.0, 86_400.0), "LiveKit",
        "how often a worker compares numbers with LiveKit and the carriers",
    ),
    Variable(
        "ROUTER_RECONCILE_FIX", Switch(on=True), "LiveKit",
        "the background reconcile repairs what it finds",
    ),
    Variable(
        "TWILIO_AUTH_TOKEN", Text(), "Twilio",
        "the platform account's auth token (webhook signatures)",
    ),
    Variable(
        "TWILIO_ACCOUNT_SID", Text(), "Twilio",
        "the platform's own account: webhooks of other accounts need an organization's "
        "integration",
    ),
    Variable(
        "TWILIO_WEBHOOK_SHARED_KEY", Text(), "Twilio",
        "a webhook SharedKey secret (HMAC-SHA256 signatures)",
    ),
    Variable(
        "TWILIO_API_BASE_URL", Url(_HTTP, "https://api.twilio.com/2010-04-01"), "Twilio",
        "Twilio's REST API",
    ),
    Variable(
        "TWILIO_TRUNKING_BASE_URL", Url(_HTTP, "https://trunking.twilio.com/v1"), "Twilio",
        "Twilio's Elastic SIP Trunking API",
    ),
    Variable(
        "TELNYX_PUBLIC_KEY", Ed25519Key(), "Telnyx",
        "the platform account's webhook public key (base64 ed25519)",
    ),
    Variable(
        "TELNYX_API_KEY", Text(), "Telnyx",
        "the platform account's API key (Call Control)",
    ),
    Variable(
        "TELNYX_CONNECTION_ID", Text(), "Telnyx",
        "the router's TeXML or Call Control application on the platform account",
    ),
    Variable(
        "TELNYX_API_BASE_URL", Url(_HTTP, "https://api.telnyx.com/v2"), "Telnyx",
        "Telnyx's API",
    ),
    Variable(
        "PORT", Port(), "HTTP",
        "the port to listen on (0: any free one)",
    ),
    Variable(
        "ROUTER_HOST", Host(), "HTTP",
        "the address to listen on (an IP or localhost); unset: every interface (127.0.0.1 on a "
        "first run)",
    ),
    Variable(
        "ROUTER_PUBLIC_URL", Url(("http", "https")), "HTTP",
        "the router as carriers must call it (provisioning points numbers there)",
    ),
    Variable(
        "ROUTER_HEADER_TIMEOUT_S", Seconds(10.0, 300.0), "HTTP",
        "a client's request headers must arrive by then",
    ),
    Variable(
        "ROUTER_BODY_TIMEOUT_S", Seconds(10.0, 300.0), "HTTP",
        "a request body must arrive by then (408)",
    ),
    Variable(
        "ROUTER_KEEPALIVE_TIMEOUT_S", Seconds(15.0, 3600.0), "HTTP",
        "an idle keep-alive connection is closed after",
    ),
    Variable(
        "ROUTER_MAX_CONNECTIONS", Count(1000, 16, 1_000_000), "HTTP",
        "open connections a web process holds",
    ),
    Variable(
        "ROUTER_REUSE_PORT", Switch(), "HTTP",
        "SO_REUSEPORT: several processes share PORT",
    ),
    Variable(
        "ROUTER_WEB_PROCESSES", Count(1, 1, MAX_WEB_PROCESSES), "HTTP",
        "`web` runs this many processes on PORT",
    ),
    Variable(
        "ROUTER_SUPERVISOR_PID", Pid(), "HTTP",
        "set by `web` for its children (they stop when it is gone); not for operators",
    ),
    Variable(
        "ROUTER_ADMIN_TOKEN", Text(), "Security",
        "the operator's bearer token (32+ characters beyond loopback); unset on a first run: "
        "generated",
    ),
    Variable(
        "ROUTER_SECRETS_KEY", FernetKeys(), "Security",
        "Fernet key(s) for carrier credentials at rest (comma-separated; the first encrypts)",
    ),
    Variable(
        "ROUTER_WEBHOOK_ALLOW_PRIVATE", Switch(), "Security",
        "customer webhooks may reach private addresses (tests, labs)",
    ),
    Variable(
        "ROUTER_DEFAULT_REGION", Region(), "Routing",
        "the country national numbers are read in",
    ),
    Variable(
        "ROUTER_DEFAULT_AGENT_NAME", Text(), "Routing",
        "the agent dispatched when a number names none",
    ),
    Variable(
        "ROUTER_ORG_RATE_PER_S", Seconds(20.0, 100_000.0), "Limits",
        "each organization's admin API requests per second",
    ),
    Variable(
        "ROUTER_ORG_BURST", Count(100, 1, 1_000_000), "Limits",
        "each organization's admin API burst",
    ),
    Variable(
        "ROUTER_MAX_STREAMS", Count(200, 1, 100_000), "Limits",
        "open call event streams per web process",
    ),
    Variable(
        "ROUTER_MAX_STREAMS_PER_ORG", Count(20, 1, 100_000), "Limits",
        "... per organization",
    ),
    Variable(
        "ROUTER_MAX_STREAMS_PER_KEY", Count(5, 1, 100_000), "Limits",
        "... per API key",
    ),
    Variable(
        "ROUTER_BRIDGE_TIMEOUT_S", Seconds(60.0, 600.0), "Worker",
        "a carrier call bridged to LiveKit with no LiveKit leg by then is timed out",
    ),
    Variable(
        "ROUTER_JOIN_WAIT_S", Seconds(8.0, 60.0), "Worker",
        "how long a bridged LiveKit leg waits for its carrier call's decision",
    ),
    Variable(
        "ROUTER_LEASE_S", Seconds(5.0, 60.0), "Worker",
        "a call's lease lives this long unless its holder renews it",
    ),
    Variable(
        "ROUTER_LEASE_RENEW_S", Seconds(1.5, 30.0), "Worker",
        "the holder renews its leases this often (below ROUTER_LEASE_S)",
    ),
)  # fmt: skip
NAMES = frozenset(v.name for v in VARIABLES)


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
    )


def reference() -> str:
    """The configuration reference (docs/configuration.md's table), from ``VARIABLES``."""
    lines: list[str] = []
    section = ""
    for var in VARIABLES:
        if var.section != section:
            section = var.section
            lines += [
                "",
                f"### {section}",
                "",
                "| variable | default | what it does |",
                "|---|---|---|",
            ]
        default = f"`{var.reader.default}`" if var.reader.default else "unset"
        lines.append(f"| `{var.name}` | {default} | {var.doc} |")
    return "\n".join(lines).lstrip("\n") + "\n"


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


# ---- the operator CLI ---------------------------------------------------------------------


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
        url=_text(env, "ROUTER_URL"),
        port=_text(env, "PORT"),
        admin_token=_text(env, "ROUTER_ADMIN_TOKEN"),
        livekit_api_key=_text(env, "LIVEKIT_API_KEY"),
        livekit_api_secret=_text(env, "LIVEKIT_API_SECRET"),
        twilio_auth_token=_text(env, "TWILIO_AUTH_TOKEN"),
    )


def environment() -> dict[str, str]:
    """The environment as a child process of the router inherits it (``server.processes``)."""
    return dict(os.environ)


# ---- the first run's files -----------------------------------------------------------------
# ``serve`` with nothing set keeps a generated admin token (and, with no LiveKit, a local
# webhook secret) in the per-user data directory (``server.firstrun``); the CLI on the same
# machine reads them from there (``cli.token``).

APP_NAME = "call-router"
TOKEN_FILE = "admin-token"
LIVEKIT_SECRET_FILE = "livekit-api-secret"
LOCAL_LIVEKIT_KEY = "APIlocaldev"


def data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


def kept(name: str) -> str | None:
    """A first run's file on this machine (``TOKEN_FILE``, ``LIVEKIT_SECRET_FILE``), if any."""
    path = data_dir() / name
    return (path.read_text().strip() or None) if path.is_file() else None
