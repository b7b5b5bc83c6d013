"""Every variable the router reads: its reader (with the default), its section in the
reference, and what it is for. ``docs/configuration.md`` is generated from this table
(``reference``; ``tests/test_config.py`` checks they match)."""

from __future__ import annotations

from router.config.readers import (
    Choice,
    Count,
    Ed25519Key,
    FernetKeys,
    Host,
    Names,
    Pid,
    Port,
    PriceTable,
    Region,
    Regions,
    Seconds,
    Shards,
    Switch,
    Text,
    Url,
    Variable,
)

MAX_WEB_PROCESSES = 64  # ROUTER_WEB_PROCESSES and `web --processes` alike
_REDIS_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")
_HTTP = ("http", "https")
_PROVIDERS = ("livekit", "twilio", "telnyx")  # core.managed.PROVIDERS
_PRICES = (
    "livekit:local=1.00+0,livekit:toll_free=2.00+0,twilio:local=1.15+0,twilio:toll_free=2.15+0,"
    "telnyx:local=1.00+1.00,telnyx:toll_free=2.00+1.00"
)

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
        "Fernet key(s) for carrier credentials and SIP connection passwords at rest "
        "(comma-separated; the first encrypts)",
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
        "ROUTER_OUTBOUND_COUNTRIES", Regions(), "Outbound calls",
        "the countries outbound calls may go to (comma-separated); unset: each number's own",
    ),
    Variable(
        "ROUTER_OUTBOUND_PER_MINUTE", Count(60, 1, 100_000), "Outbound calls",
        "outbound calls each organization may place in a minute",
    ),
    Variable(
        "ROUTER_MANAGED_PROVIDERS", Names(_PROVIDERS), "Managed numbers",
        "where numbers are bought for organizations (comma-separated: livekit = LiveKit Phone "
        "Numbers on LIVEKIT_URL's project, twilio = the platform's account TWILIO_ACCOUNT_SID "
        "/ TWILIO_AUTH_TOKEN, telnyx = the platform's account TELNYX_API_KEY, its numbers on "
        "TELNYX_CONNECTION_ID); unset: numbers are imported, not bought",
    ),
    Variable(
        "ROUTER_NUMBER_PRICES", PriceTable(_PROVIDERS, _PRICES), "Managed numbers",
        "what a bought number costs the organization, monthly+upfront in dollars per "
        "provider:type (local, toll_free), comma-separated",
    ),
    Variable(
        "ROUTER_PURCHASE_LIMIT", Count(5, 0, 100_000), "Managed numbers",
        "numbers each organization may buy (apart from its overall number limit)",
    ),
    Variable(
        "ROUTER_SUSPENSION_GRACE_DAYS", Count(14, 0, 3650), "Managed numbers",
        "a bought number suspended for lack of credits this many days is released",
    ),
    Variable(
        "ROUTER_SLACK_WEBHOOK_URL", Url(_HTTP), "Managed numbers",
        "a Slack incoming webhook the operations team is told on (a business verification "
        "submitted); a secret, never logged; unset: nobody is told",
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
