"""Every Redis key and stream name, in one place, under the ``router:`` prefix.

Redis Cluster puts a key in the slot of its ``{hash tag}``. The layout:

- ``router:{registry}:*`` — number and agent rows and their indexes share one slot, so a write
  checks uniqueness and references atomically in one Lua script. The registry is small and
  read-mostly; workers cache it in process.
- ``router:{calls:N}:stream`` — inbound-call stream shard N, with its ingress dedup keys and its
  dead-letter stream in the same slot, so "seen? then XADD" is one atomic script.
- ``router:{call:ID}:*`` — one call's record and its dispatch lease share a slot.
- ``router:alias:ID`` — another id of a call (bridged SIP leg, correlation id) → its record id.
- ``router:{call:CORRELATION}:ready`` — a list the carrier-call worker pushes to once the
  decision is prepared; the bridged leg's worker waits on it with BLPOP (no polling).
- ``router:correlation-key`` — the HMAC key of carrier correlation ids (``correlation``).
- ``router:{timers}`` — a sorted set of due actions (bridge timeouts), scored by due time.
- ``router:{lifecycle}:*`` — lifecycle webhook deliveries (hash), their due set, a dead list.
"""

from __future__ import annotations

PREFIX = "router"
GROUP = "router-workers"

REGISTRY = f"{PREFIX}:{{registry}}"
NUMBERS = f"{REGISTRY}:numbers"  # hash: number id -> PhoneNumber JSON
E164_INDEX = f"{REGISTRY}:e164"  # hash: e164 -> number id
AGENTS = f"{REGISTRY}:agents"  # hash: agent id -> Agent JSON
AGENT_LINKS = f"{REGISTRY}:agent-links"  # hash: agent id -> count of numbers linked to it
NUMBER_ORDER = f"{REGISTRY}:numbers:order"  # zset: number id by creation sequence (list order)
AGENT_ORDER = f"{REGISTRY}:agents:order"  # zset: agent id by creation sequence (list order)
ORDER_SEQUENCE = f"{REGISTRY}:order-seq"  # counter: the next creation's place
PROVISIONING = f"{REGISTRY}:provisioning"  # hash: number id -> Provisioning JSON (LiveKit's side)
RECONCILE_LEASE = f"{REGISTRY}:reconcile-lease"  # one reconcile pass at a time
# hash: "<org>:<carrier>" (and "<org>:twilio-termination") -> Fernet token
INTEGRATIONS = f"{REGISTRY}:integrations"
KYB = f"{REGISTRY}:kyb"  # hash: "<org>" -> its business verification, "<org>:slack" -> notified
ORGS = f"{REGISTRY}:orgs"  # hash: organization id -> Organization JSON
API_KEYS = f"{REGISTRY}:api-keys"  # hash: sha256 of a key -> ApiKey JSON
API_KEY_IDS = f"{REGISTRY}:api-key-ids"  # hash: key id -> sha256 of the key
# hash: Twilio AccountSid -> the organization whose integration it is (not a secret): which
# auth token checks a webhook Twilio signed for that account
TWILIO_ACCOUNTS = f"{REGISTRY}:twilio-accounts"
# hash: Telnyx connection (TeXML / Call Control application) id -> the organization whose
# integration it is: which account's public key checks that connection's webhooks
TELNYX_CONNECTIONS = f"{REGISTRY}:telnyx-connections"

SIP_CONNECTIONS = f"{REGISTRY}:sip-connections"  # hash: connection id -> SipConnection JSON
# hash: connection id -> its passwords and PIN, Fernet-encrypted (never in the row)
SIP_CONNECTION_SECRETS = f"{REGISTRY}:sip-connection-secrets"


def org_sip_connections(org: str) -> str:
    """set: the organization's SIP connection ids."""
    return f"{REGISTRY}:org-sip-connections:{org}"


def org_numbers(org: str) -> str:
    """zset: the organization's number ids by creation sequence (its list order and count)."""
    return f"{REGISTRY}:org-numbers:{org}"


def org_agents(org: str) -> str:
    return f"{REGISTRY}:org-agents:{org}"


def org_keys(org: str) -> str:
    """set: the organization's API key ids."""
    return f"{REGISTRY}:org-keys:{org}"


LIVE = f"{PREFIX}:{{live}}"  # supervision's keys share a slot: a dispatch's checks are one script
WATCHDOGS = f"{LIVE}:watchdogs"  # zset: "agent:<call id>" -> when its agent must have joined


def live_calls(scope: str) -> str:
    """zset: the live calls (call id -> when its count lapses) of ``org:<id>``, ``agent:<id>``
    or ``all``."""
    return f"{LIVE}:calls:{scope}"


def room_call(room: str) -> str:
    """string: the call dispatched into ``room`` (how LiveKit's room events find their call)."""
    return f"{LIVE}:room:{room}"


def trunk_mutex(org: str) -> str:
    """string: who is changing the organization's LiveKit trunk now (``store.mutex``)."""
    return f"{REGISTRY}:trunk-mutex:{org}"


LANDING_INDEX = f"{REGISTRY}:landing"  # set: ids of shared landing numbers
TRUNK_INDEX_PREFIX = f"{REGISTRY}:by-trunk:"  # + trunk id -> set: ids of numbers on that trunk
# hash: LiveKit trunk id -> the organization that owns it (its managed trunk, claimed when
# provisioning makes or finds it). A trunk on rows belongs to the organization of its numbers:
# the numbers of one trunk index are always one organization's (SAVE_NUMBER refuses others).
TRUNK_OWNERS = f"{REGISTRY}:trunk-owners"
INDEX_VERSION = f"{REGISTRY}:index-version"  # which indexes exist (built once on upgrade)
REGISTRY_VERSION = f"{REGISTRY}:version"  # counter bumped on every write
REGISTRY_CHANNEL = f"{REGISTRY}:changed"  # pub/sub: the new version after each write

CALL_RECORD_TTL_S = 7 * 24 * 3600
EVENT_DEDUP_TTL_S = 24 * 3600


def trunk_index(trunk_id: str) -> str:
    return f"{TRUNK_INDEX_PREFIX}{trunk_id}"


def stream(shard: int = 0) -> str:
    return f"{PREFIX}:{{calls:{shard}}}:stream"


def dead_letters(shard: int = 0) -> str:
    return f"{PREFIX}:{{calls:{shard}}}:dead"


def seen_event(event_id: str, shard: int = 0) -> str:
    return f"{PREFIX}:{{calls:{shard}}}:seen:{event_id}"


def call_record(call_id: str) -> str:
    return f"{PREFIX}:{{call:{call_id}}}:record"


def dispatch_lease(call_id: str) -> str:
    return f"{PREFIX}:{{call:{call_id}}}:lease"


def call_alias(alias_id: str) -> str:
    return f"{PREFIX}:alias:{alias_id}"


def caller_gone(room: str) -> str:
    """string: when the caller left ``room`` (ms), seen before any dispatch into it."""
    return f"{LIVE}:caller-gone:{room}"


CALLER_GONE_TTL_S = 3600


def prepared_signal(correlation_id: str) -> str:
    return f"{PREFIX}:{{call:{correlation_id}}}:ready"


TIMERS = f"{PREFIX}:{{timers}}"
CORRELATION_KEY = f"{PREFIX}:correlation-key"  # the HMAC key of carrier correlation ids
RECENT_CALLS = f"{PREFIX}:{{recent}}:calls"  # capped stream of decided call ids (console)
RECENT_CALLS_MAX = 100_000  # entries (each one or more calls): the pageable history
CALLS_CHANNEL = f"{PREFIX}:calls:decided"  # pub/sub: each record as it is written (calls tail)
LIFECYCLE_ITEMS = f"{PREFIX}:{{lifecycle}}:items"
LIFECYCLE_DUE = f"{PREFIX}:{{lifecycle}}:due"
LIFECYCLE_DEAD = f"{PREFIX}:{{lifecycle}}:dead"
NOTIFY_ITEMS = f"{PREFIX}:{{notify}}:items"  # the operations team's notifications (Slack)
NOTIFY_DUE = f"{PREFIX}:{{notify}}:due"
NOTIFY_DEAD = f"{PREFIX}:{{notify}}:dead"


def rate_bucket(organization: str) -> str:
    """The organization's admin API budget (a token bucket, ``store.ratelimit``)."""
    return f"{PREFIX}:{{rate:{organization}}}"


PURCHASE_ORDERS = f"{PREFIX}:{{purchases}}:orders"  # hash: "<org>:<idempotency key>" -> order
PURCHASE_OPEN = f"{PREFIX}:{{purchases}}:open"  # set: the orders not final yet
PURCHASE_CLAIMS = f"{PREFIX}:{{purchases}}:claims"  # hash: e164 -> the open order buying it
PURCHASE_BILLING = f"{PREFIX}:{{purchases}}:billing"  # hash: number id -> its monthly billing


def purchase_offers(organization: str) -> str:
    """The organization's recent search results (``store.purchases``), by E.164."""
    return f"{PREFIX}:{{purchases}}:offers:{organization}"


def purchase_mutex(order: str) -> str:
    return f"{PREFIX}:{{purchases}}:moving:{order}"


def ledger_entries(organization: str) -> str:
    """The organization's credits ledger (a stream, kept whole: ``store.ledger``)."""
    return f"{PREFIX}:{{ledger:{organization}}}:entries"


def ledger_balance(organization: str) -> str:
    return f"{PREFIX}:{{ledger:{organization}}}:balance"


def ledger_keys(organization: str) -> str:
    return f"{PREFIX}:{{ledger:{organization}}}:keys"


def audit_log(organization: str) -> str:
    """The organization's audit log (a capped stream, ``store.audit``)."""
    return f"{PREFIX}:{{audit:{organization}}}"


def precall_last_answer(number_id: str, agent_id: str) -> str:
    """The last good pre-call answer for a number and agent (reused on failure, if enabled)."""
    return f"{PREFIX}:precall-last:{number_id}:{agent_id}"
