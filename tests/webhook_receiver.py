"""A customer's webhook receiver for tests, with a Standard Webhooks verifier written from the
specification (independent of the ``standardwebhooks`` package the router signs with)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web


def spec_verify(secret: str, headers: Any, body: bytes, *, tolerance_s: int = 300) -> bool:
    """Standard Webhooks: HMAC-SHA256(base64-decoded secret, "id.ts.body"); any v1 may match."""
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature", "")
    if (
        not msg_id
        or not stamp
        or not stamp.isdigit()
        or abs(time.time() - int(stamp)) > tolerance_s
    ):
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    for item in signatures.split(" "):
        version, _, sig = item.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(sig), expected):
            return True
    return False


Behaviour = Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: asyncio.Queue[tuple[dict[str, str], dict[str, Any]]] = asyncio.Queue()
        self.bad_signatures = 0
        self.behaviours: list[Behaviour] = []  # one per request, then 200 {}
        self.release = asyncio.Event()  # lets a "never answers" behaviour finish at teardown

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not spec_verify(self.secret, request.headers, body):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        payload = json.loads(body)
        self.received.put_nowait((dict(request.headers), payload))
        if self.behaviours:
            return await self.behaviours.pop(0)(payload)
        return web.json_response({})

    # ready-made behaviours
    @staticmethod
    def answer(body: Any, status: int = 200) -> Behaviour:
        async def behave(_: dict[str, Any]) -> web.StreamResponse:
            return web.json_response(body, status=status)

        return behave

    @staticmethod
    def raw(text: str, status: int = 200) -> Behaviour:
        async def behave(_: dict[str, Any]) -> web.StreamResponse:
            return web.Response(text=text, status=status, content_type="application/json")

        return behave

    def never(self) -> Behaviour:
        async def behave(_: dict[str, Any]) -> web.StreamResponse:
            await self.release.wait()
            return web.json_response({})

        return behave
