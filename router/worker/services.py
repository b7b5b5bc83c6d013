"""The services a call flow needs, as one small frozen value built once per worker.

Both flows (``direct``, ``bridged``) and the shared steps (``deciding``) take it as their
first argument; nothing in it changes after start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from redis.asyncio import Redis

from router.config import Config
from router.core.matching import Rows
from router.outbound.dispatch import Dispatcher
from router.outbound.telnyx_api import TelnyxCallControl
from router.outbound.twilio_calls import TwilioCalls
from router.store.batching import Batcher
from router.store.calls import CallStore
from router.store.correlation_key import CorrelationKey
from router.store.integrations import Integrations
from router.store.lease import Leases
from router.store.livecalls import LiveCalls


@dataclass(frozen=True, kw_only=True)
class Services:
    redis: Redis
    rows: Rows  # the registry cache on the hot path
    calls: CallStore
    dispatcher: Dispatcher
    config: Config
    batcher: Batcher
    leases: Leases
    correlation: CorrelationKey
    live: LiveCalls  # live calls per organization and agent (maxConcurrentCalls)
    telnyx: TelnyxCallControl | None = None
    twilio_calls: TwilioCalls | None = None  # a no-show's transfer of a Twilio webhook call
    integrations: Integrations | None = None  # organizations' carrier credentials
    webhook_http: aiohttp.ClientSession | None = None  # customer webhooks (the SSRF guard)
    bridge_timeout_s: float  # a carrier bridge with no LiveKit leg by then: timed out
    join_wait_s: float  # how long a bridged leg waits for its carrier call's decision

    @classmethod
    def build(
        cls,
        redis: Redis,
        rows: Rows,
        calls: CallStore,
        dispatcher: Dispatcher,
        config: Config,
        *,
        batcher: Batcher | None = None,
        correlation: CorrelationKey | None = None,
        telnyx: TelnyxCallControl | None = None,
        twilio_calls: TwilioCalls | None = None,
        integrations: Integrations | None = None,
        webhook_http: aiohttp.ClientSession | None = None,
    ) -> Services:
        """The worker's services; its clocks are the configuration's (``config.Timings``)."""
        batcher = batcher or Batcher(redis)
        return cls(
            redis=redis,
            rows=rows,
            calls=calls,
            dispatcher=dispatcher,
            config=config,
            batcher=batcher,
            leases=Leases(
                redis,
                batcher,
                lease_ms=int(config.timings.lease_s * 1000),
                renew_s=config.timings.lease_renew_s,
            ),
            correlation=correlation or CorrelationKey(redis),
            live=LiveCalls(redis, batcher),
            telnyx=telnyx,
            twilio_calls=twilio_calls,
            integrations=integrations,
            webhook_http=webhook_http,
            bridge_timeout_s=config.timings.bridge_timeout_s,
            join_wait_s=config.timings.join_wait_s,
        )
