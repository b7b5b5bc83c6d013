"""The aiohttp application: every long-lived resource is a ``cleanup_ctx`` context.

Redis, the one shared ``ClientSession``, the LiveKit dispatcher and the consumer task are each
set up in an async context manager and torn down in reverse order, so on SIGTERM the consumer
stops reading and drains first, and the clients it uses are closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from router import api, logs
from router.config import Config
from router.config.runtime import masked
from router.ingress import carrier_webhooks, livekit_webhook
from router.ingress.answers import ANSWERS, Answers
from router.outbound.dispatch import Dispatcher, DryRunDispatcher, LiveKitDispatcher
from router.outbound.livekit_numbers import LiveKitNumbers
from router.outbound.livekit_sip import LiveKitSip
from router.outbound.telnyx_api import TelnyxCallControl
from router.outbound.twilio_calls import TwilioCalls
from router.outbound.twirp import TwirpTransport
from router.outbound.urlguard import webhook_session
from router.provisioning.billing import Biller
from router.provisioning.carriers import carriers_of
from router.provisioning.carriers.base import CarrierContext
from router.provisioning.loop import reconcile_loop
from router.provisioning.number_providers import providers_of
from router.provisioning.purchases import Purchaser
from router.provisioning.reconcile import Reconciler
from router.provisioning.service import Provisioner
from router.store.audit import AuditLog
from router.store.batching import Batcher
from router.store.calls import CallStore
from router.store.correlation_key import CorrelationKey
from router.store.enqueue import Ingress
from router.store.integrations import Integrations, cipher
from router.store.kyb import Kyb
from router.store.ledger import Ledger
from router.store.orgs import Organizations
from router.store.provisioning import ProvisioningStates
from router.store.purchases import Purchases
from router.store.ratelimit import RateLimiter
from router.store.redis_client import connect_any
from router.store.registry import Registry
from router.store.registry_cache import RegistryCache
from router.store.sip_connections import SipConnections
from router.web import console, health, openapi, routing, state
from router.web.auth import auth_middleware
from router.web.connections import track_requests
from router.web.httpapi import errors_middleware
from router.worker.consumer import Consumer
from router.worker.entries import Worker
from router.worker.services import Services

log = logs.get(__name__)

# A LiveKit or carrier API call that has not answered in this long is a failure. Customer
# webhooks use their own session (public addresses only) and their own deadlines.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=5, connect=2)


def build_app(
    config: Config, redis_url: str, *, web_routes: bool = True, worker: bool = True
) -> web.Application:
    app = web.Application(
        middlewares=[
            track_requests,
            errors_middleware,
            auth_middleware(config.admin_token),
        ],
        client_max_size=1024 * 1024,
    )
    app[state.CONFIG] = config
    if web_routes:
        _announce_disabled(config)

    async def clients(app: web.Application) -> AsyncIterator[None]:
        # Each resource is torn down in reverse order, also when a later one fails to start.
        async with contextlib.AsyncExitStack() as stack:
            redis = await connect_any(redis_url, config.redis.cluster)
            stack.push_async_callback(redis.aclose)
            session = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
            stack.push_async_callback(session.close)
            hooks = webhook_session(config.webhook_allow_private)
            stack.push_async_callback(hooks.close)
            app[state.REDIS], app[state.HTTP], app[state.WEBHOOK_HTTP] = redis, session, hooks
            app[state.REGISTRY] = Registry(redis)
            app[state.ORGS] = Organizations(redis)
            app[state.AUDIT] = AuditLog(redis)
            limits = config.limits
            app[state.RATES] = RateLimiter(redis, limits.org_rate_per_s, limits.org_burst)
            # Redis may be unreachable at start-up (the worker loop rides that out): the
            # one-time index build of an older registry retries in the background.
            indexing = asyncio.create_task(
                _ensure_indexes(
                    app[state.REGISTRY],
                    app[state.ORGS],
                    ProvisioningStates(redis),
                    masked(redis_url),
                )
            )
            stack.callback(indexing.cancel)
            rows = app[state.ROWS] = RegistryCache(app[state.REGISTRY], redis, app[state.ORGS])
            await rows.start()
            stack.push_async_callback(rows.stop)
            batcher = app[state.BATCH] = Batcher(redis)
            app[state.CALLS] = CallStore(redis, batcher)
            app[state.INGRESS] = Ingress(
                redis, config.redis.stream_shards, batcher, deadline_s=config.redis.deadline_s
            )
            app[state.CORRELATION] = CorrelationKey(redis)
            app[state.DISPATCHER] = stack.enter_context(_dispatcher(config))
            secrets = cipher(config.secrets_key) if config.secrets_key else None
            if secrets is not None:
                app[state.INTEGRATIONS] = Integrations(redis, secrets)
            app[state.SIP_CONNECTIONS] = SipConnections(redis, secrets)
            if config.livekit is not None and config.provisioning is not None:
                provisioning = config.provisioning
                lk = config.livekit
                livekit_sip = LiveKitSip(lk.url, lk.api_key, lk.api_secret)
                stack.push_async_callback(livekit_sip.close)
                numbers = LiveKitNumbers(session, lk.url, lk.api_key, lk.api_secret)
                context = CarrierContext(
                    config, session, app.get(state.INTEGRATIONS), livekit_sip, numbers
                )
                provisioner = app[state.PROVISIONER] = Provisioner(
                    livekit_sip,
                    app[state.REGISTRY],
                    app[state.ORGS],
                    ProvisioningStates(redis),
                    carriers_of(context),
                    app[state.SIP_CONNECTIONS],
                )
                providers = providers_of(config, session, numbers)
                biller = None
                if providers:
                    purchaser = app[state.PURCHASER] = Purchaser(
                        providers, config.managed, provisioner, Purchases(redis),
                        Ledger(redis), Kyb(redis),
                    )  # fmt: skip
                    biller = app[state.BILLER] = Biller(purchaser, config.managed.grace_days)
                reconciler = app[state.RECONCILER] = Reconciler(provisioner, biller)
                if worker:  # the background pass: one at a time across the workers (a lease)
                    loop = asyncio.create_task(
                        reconcile_loop(
                            reconciler, provisioning.reconcile_s, provisioning.reconcile_fix
                        )
                    )
                    stack.callback(loop.cancel)
            yield

    app.cleanup_ctx.append(clients)
    if worker:
        app.cleanup_ctx.append(_consumer_ctx)
    app.add_routes(health.routes)
    if web_routes:
        app[ANSWERS] = Answers()  # templates/ is data, loaded once
        api.install(app)
        app.add_routes(console.routes)
        app.add_routes(livekit_webhook.routes)
        app.add_routes(carrier_webhooks.routes)
        openapi.install(app)
    routing.check(app)  # a route nobody said who may call stops start-up here
    return app


@contextlib.contextmanager
def _dispatcher(config: Config) -> Iterator[Dispatcher]:
    if config.livekit is None:
        log.warning("livekit_dry_run", reason="LIVEKIT_URL/API key not set")
        yield DryRunDispatcher()
        return
    twirp = TwirpTransport(
        config.livekit.url,
        timeout_s=HTTP_TIMEOUT.total or 5.0,
        connect_timeout_s=HTTP_TIMEOUT.connect or 2.0,
    )
    try:
        yield LiveKitDispatcher(twirp, config.livekit.api_key, config.livekit.api_secret)
    finally:
        twirp.close()


async def _ensure_indexes(
    registry: Registry, orgs: Organizations, states: ProvisioningStates, where: str
) -> None:
    """The registry's indexes and the provisioning states of an older router brought up to
    date once, retried in the background while Redis is unreachable."""
    delay = 0.1
    while True:
        try:
            await orgs.ensure_default()  # where rows from before organizations belong
            indexed = await registry.ensure_indexes()
            upgraded = await states.upgrade_all(registry)
        except (RedisError, OSError) as exc:
            log.warning(
                "registry_index_failed", store=where, error=repr(exc)[:200], retry_in_s=delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if indexed >= 0:
            log.info("registry_indexed", rows=indexed)
        if upgraded:
            log.info("provisioning_states_upgraded", states=upgraded)
        return


async def _consumer_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[state.CONFIG]
    telnyx = None
    if config.telnyx.api_key:
        telnyx = TelnyxCallControl(
            app[state.HTTP], config.telnyx.api_key, config.telnyx.api_base_url
        )
    services = Services.build(
        app[state.REDIS],
        app[state.ROWS],
        app[state.CALLS],
        app[state.DISPATCHER],
        config,
        telnyx=telnyx,
        twilio_calls=TwilioCalls(app[state.HTTP], config.twilio.api_base_url),
        integrations=app.get(state.INTEGRATIONS),
        webhook_http=app[state.WEBHOOK_HTTP],
        batcher=app[state.BATCH],
        correlation=app[state.CORRELATION],
    )
    worker = Worker(services)
    shards = config.redis.worker_shards or tuple(range(config.redis.stream_shards))
    # One consumer per stream shard; the first also runs the timers and lifecycle deliveries.
    consumers = [
        Consumer(
            app[state.REDIS],
            worker.handle_entry,
            shard=shard,
            on_tick=None if i else worker.tick,
            batcher=app[state.BATCH],
        )
        for i, shard in enumerate(shards)
    ]
    # The consumer groups exist once the worker says it started (readiness is then true at
    # once); with Redis unreachable the consumers create them when it comes back.
    with contextlib.suppress(RedisError, OSError):
        await asyncio.gather(*(c.ensure_group() for c in consumers))
    stop = asyncio.Event()
    app[state.CONSUMER_TASK] = asyncio.create_task(_run_all(consumers, stop), name="consumers")
    log.info("worker_started", consumer=consumers[0].name, shards=list(shards))
    yield
    stop.set()
    await app[state.CONSUMER_TASK]
    log.info("worker_stopped", processed=sum(c.processed for c in consumers))


async def _run_all(consumers: list[Consumer], stop: asyncio.Event) -> None:
    await asyncio.gather(*(c.run(stop) for c in consumers))


def _announce_disabled(config: Config) -> None:
    """Say at start-up which interfaces refuse requests for want of configuration."""
    if not config.admin_token:
        log.warning("admin_api_disabled", fix="set ROUTER_ADMIN_TOKEN")
    if config.livekit_keys is None:
        log.warning("livekit_webhooks_disabled", fix="set LIVEKIT_API_KEY and LIVEKIT_API_SECRET")
    if not config.livekit_sip_uri:
        log.warning("carrier_bridging_disabled", fix="set LIVEKIT_SIP_URI")
    if not config.twilio.webhooks_enabled:
        log.warning("twilio_webhooks_disabled", fix="set TWILIO_AUTH_TOKEN")
    if config.telnyx.public_key is None:
        log.warning("telnyx_webhooks_disabled", fix="set TELNYX_PUBLIC_KEY")
