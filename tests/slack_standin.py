"""A Slack incoming webhook for tests, answering as Slack documents ("Sending messages using
incoming webhooks", *Handling errors*): a JSON body with ``text`` (or ``blocks``) gets
``200 ok`` as text/plain; a body that is not JSON ``400 invalid_payload``, one with neither
``400 no_text``; a webhook switched off ``404 no_service``, an archived channel
``410 channel_is_archived``, a flood ``429`` with ``Retry-After`` (seconds). ``answers`` are
given first, one per request, then ``200 ok``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


class SlackStandIn:
    def __init__(self) -> None:
        self.answers: list[tuple[int, str, dict[str, str]]] = []  # status, body, headers
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # accepted, in order
        self.requests = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/services/{tail:.*}", self._post)
        return app

    async def _post(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if self.answers:
            status, text, headers = self.answers.pop(0)
            return web.Response(status=status, text=text, headers=headers)
        try:
            message = json.loads(body)
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(message, dict) or not (message.get("text") or message.get("blocks")):
            return web.Response(status=400, text="no_text")
        self.messages.put_nowait(message)
        return web.Response(text="ok")
