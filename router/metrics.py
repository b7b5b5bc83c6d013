"""Prometheus metrics: the counters, gauges and histograms, updated where things happen
(ingress, the call decision, the pre-call webhook, the connection guard). ``/metrics`` itself
is served by ``health`` (stream gauges read from Redis at scrape time)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("router_events_total", "Webhook events received", ["source", "outcome"])
CALLS = Counter("router_calls_total", "Call decisions", ["status", "rule"])
DISPATCH_SECONDS = Histogram(
    "router_dispatch_seconds",
    "From the webhook reaching the router to the dispatch being made",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONNECTIONS_OPEN = Gauge("router_http_connections", "Client connections open (web process)")
EVENT_STREAMS = Gauge("router_event_streams", "Open GET /v1/calls/events streams (web process)")
EVENT_STREAMS_REFUSED = Counter(
    "router_event_streams_refused_total",
    "Event streams refused at a cap: process, organization, key",
    ["scope"],
)
CONNECTIONS_DROPPED = Counter(
    "router_http_connections_dropped_total",
    "Client connections cut off: idle_timeout, header_timeout, evicted_at_cap, "
    "stream_evicted_at_cap, refused_at_cap",
    ["reason"],
)
CORRELATION_REFUSED = Counter(
    "router_correlation_refused_total",
    "Bridged LiveKit legs whose X-Router-Call was not honoured "
    "(forged/expired/future/unprepared/spent)",
    ["why"],
)
PROVISIONING_FAILURES = Counter(
    "router_provisioning_failures_total",
    "LiveKit provisioning requests that failed (the number keeps the issue and is retried)",
    ["step"],
)
PROVISIONING_DRIFT = Counter(
    "router_provisioning_drift_total",
    "Differences a reconcile pass found between the rows and LiveKit",
    ["kind"],
)
PRECALL = Counter("router_precall_total", "Pre-call webhook outcomes", ["status"])
PRECALL_SECONDS = Histogram(
    "router_precall_seconds",
    "Pre-call webhook round trip",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
STREAM_LAG = Gauge("router_stream_lag", "Entries not yet delivered to the worker group")
STREAM_PENDING = Gauge("router_stream_pending", "Entries delivered but not acknowledged")
DLQ_SIZE = Gauge("router_dlq_size", "Entries in the dead-letter stream")
LIVEKIT_CONNECTIONS = Counter(
    "router_livekit_connections_opened_total",
    "Connections opened to LiveKit's server API (few while keep-alive holds)",
)

# Supervision (worker/supervise.py): what follows a dispatch.
TIME_TO_AGENT = Histogram(
    "router_time_to_agent_seconds",
    "From the dispatch to the agent's participant_joined in the call's room",
    buckets=(0.5, 1, 2, 3, 5, 8, 10, 15, 20, 30, 60),
)
NO_SHOWS = Counter("router_agent_no_shows_total", "Dispatched agents that did not join in time")
ABANDONED = Counter(
    "router_calls_abandoned_total", "Calls whose caller left before the dispatch (none was made)"
)
CALLS_ENDED = Counter(
    "router_calls_ended_total", "Dispatched calls that ended, by who ended them", ["ended_by"]
)
OVERFLOWS = Counter(
    "router_calls_over_limit_total",
    "Calls over a maxConcurrentCalls, by the overflow policy that took them",
    ["policy"],
)
LIVE_CALLS = Gauge("router_live_calls", "Dispatched calls not yet ended (all organizations)")
