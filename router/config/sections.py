"""The configuration, in sections: a section that is configured or not (LiveKit's server
API, provisioning) is present or None, so the code holding one never asks whether its fields
are set. Every default is written once, in ``config.variables``."""

from __future__ import annotations

import msgspec


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


class Outbound(msgspec.Struct, frozen=True, kw_only=True):
    """Where an organization's numbers may call, and how often (``POST /v1/calls/outbound``)."""

    countries: tuple[str, ...] | None  # ISO 3166 regions; None: each number's own country
    per_minute: int  # calls each organization may place in a minute (a token bucket)


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


class Managed(msgspec.Struct, frozen=True, kw_only=True):
    """Numbers bought for organizations (``core.managed``)."""

    providers: tuple[str, ...]  # empty: none are sold
    prices: dict[str, tuple[int, int]]  # "provider:type" -> (monthly, upfront) cents
    purchase_limit: int  # numbers each organization may buy
    grace_days: int = 14  # suspended this long: released

    def price(self, provider: str, number_type: str) -> tuple[int, int] | None:
        return self.prices.get(f"{provider}:{number_type}")


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    livekit: LiveKit | None  # None: dry run (dispatches go to the log and the record only)
    livekit_keys: LiveKitKeys | None  # None: LiveKit webhooks are refused
    livekit_sip_uri: str | None  # where carriers bridge calls to (LiveKit's SIP host)
    twilio: Twilio
    telnyx: Telnyx
    http: Http
    redis: RedisConfig
    limits: Limits
    outbound: Outbound
    timings: Timings
    provisioning: Provisioning | None
    admin_token: str | None
    secrets_key: str | None  # Fernet key(s) for carrier credentials at rest
    default_region: str
    default_agent_name: str | None
    webhook_allow_private: bool
    supervisor_pid: int | None  # a child of `web --processes N`: its supervisor
    slack_webhook_url: str | None = None  # the operations team's channel (a secret)
    managed: Managed = Managed(providers=(), prices={}, purchase_limit=0)

    @property
    def dry_run(self) -> bool:
        """No LiveKit server API configured: dispatches go to the log and the call record only."""
        return self.livekit is None

    def __repr__(self) -> str:  # secrets never reach a log line through a repr
        return f"Config(redis={'set' if self.redis.url else 'embedded'}, port={self.http.port})"
