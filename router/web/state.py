"""Typed keys for what the aiohttp application holds (aiohttp's ``web.AppKey``)."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from router.config import Config
from router.errors import NotImplementedHere
from router.outbound.dispatch import Dispatcher
from router.provisioning.billing import Biller
from router.provisioning.purchases import Purchaser
from router.provisioning.reconcile import Reconciler
from router.provisioning.service import Provisioner
from router.store.audit import AuditLog
from router.store.batching import Batcher
from router.store.callfeed import CallFeed
from router.store.calls import CallStore
from router.store.correlation_key import CorrelationKey
from router.store.enqueue import Ingress
from router.store.integrations import Integrations
from router.store.orgs import Organizations
from router.store.ratelimit import RateLimiter
from router.store.registry import Registry
from router.store.registry_cache import RegistryCache
from router.store.sip_connections import SipConnections

CONFIG = web.AppKey("config", Config)
REDIS = web.AppKey("redis", Redis)
BATCH = web.AppKey("batch", Batcher)  # the hot paths' auto-pipelined commands
REGISTRY = web.AppKey("registry", Registry)  # writes and admin reads: always fresh
ORGS = web.AppKey("orgs", Organizations)  # organizations and their API keys
RATES = web.AppKey("rates", RateLimiter)  # each organization's admin API budget
AUDIT = web.AppKey("audit", AuditLog)  # each organization's writes
INTEGRATIONS = web.AppKey("integrations", Integrations)  # carrier credentials (if a key is set)
ROWS = web.AppKey("rows", RegistryCache)  # the hot path's cached reads
CALLS = web.AppKey("calls", CallStore)
HTTP = web.AppKey("http", aiohttp.ClientSession)  # trusted: LiveKit, Telnyx
WEBHOOK_HTTP = web.AppKey("webhook_http", aiohttp.ClientSession)  # customer URLs
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
INGRESS = web.AppKey("ingress", Ingress)
CORRELATION = web.AppKey("correlation", CorrelationKey)  # the HMAC key of X-Router-Call ids
SIP_CONNECTIONS = web.AppKey("sip_connections", SipConnections)  # customers' own SIP trunks
FEED = web.AppKey("call_feed", CallFeed)  # the process's one subscription to decided calls
CONSUMER_TASK = web.AppKey("consumer_task", asyncio.Task[None])  # a worker's consumers
# Present when the router provisions LiveKit (its server API configured, provisioning on).
PROVISIONER = web.AppKey("provisioner", Provisioner)
PURCHASER = web.AppKey("purchaser", Purchaser)  # managed numbers (with providers configured)
BILLER = web.AppKey("biller", Biller)  # their monthly charges and release
RECONCILER = web.AppKey("reconciler", Reconciler)


T = TypeVar("T")


def required(request: web.Request, key: web.AppKey[T], missing: str) -> T:
    """What the application holds under ``key``; a 501 saying ``missing`` (what to configure)
    when this router runs without it."""
    found = request.app.get(key)
    if found is None:
        raise NotImplementedHere(missing)
    return found
