"""Telnyx's ``number_order.complete`` webhook (verified with the rest of Telnyx's webhooks by
``ingress.carrier_webhooks``): a number order the router placed for a purchase is done, and
the purchase is carried on at once (``provisioning.purchases``)."""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from router import logs
from router.web import state
from router.web.httpapi import decode, json_response

log = logs.get(__name__)


class _NumberOrder(msgspec.Struct):
    id: str = ""
    customer_reference: str | None = None  # the router's order: "<org>:<Idempotency-Key>"


def number_order_complete(request: web.Request, payload: bytes) -> web.Response:
    """Telnyx finished a number order the router placed: the purchase is carried on now (a
    process that dies meanwhile leaves it to the next reconcile, which asks Telnyx)."""
    order = decode(payload, _NumberOrder)
    purchaser = request.app.get(state.PURCHASER)
    if purchaser is None or not order.customer_reference:
        return json_response({"queued": False, "reason": "not a number order of the router's"})
    task = asyncio.create_task(purchaser.run(order.customer_reference))
    _ORDER_TASKS.add(task)
    task.add_done_callback(_order_done)
    return json_response({"queued": False, "reason": "number order noted", "order": order.id})


_ORDER_TASKS: set[asyncio.Task[object]] = set()


def _order_done(task: asyncio.Task[object]) -> None:
    _ORDER_TASKS.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("number_order_not_carried_on", error=str(task.exception())[:300])
