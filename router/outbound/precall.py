"""The pre-call webhook: ask the customer's server about a call before dispatching it.

- **Request**: JSON in snake_case (``PreCallRequest``), signed per Standard Webhooks (``signing``).
- **Deadline**: ``timeoutMs`` (default 2 s, never more than 5 s) counted from when the call
  reached *us*, not from when a worker picked it up; one quick retry only when the connection
  itself failed and time remains.
- **Answer**: a 2xx JSON object (``PreCallAnswer``, at most 64 KiB; an empty 2xx body means
  "continue as planned") may pick another agent, add
  metadata / dynamic variables, or reject. Anything else — timeout, non-2xx, bad JSON, an
  unknown agent — falls back (to the static routing, or to this number's last good answer when
  the agent asks for that) and the outcome says which and how long it took.
- **Safety**: no redirects are followed; the session's ``urlguard`` refuses every non-public
  address at resolve and at connect time (SSRF). ``ROUTER_WEBHOOK_ALLOW_PRIVATE=1`` lifts
  that for development.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import msgspec

from router import logs
from router.core import bounds, events
from router.core.models import PreCallWebhook
from router.core.routing import PreCallOutcome
from router.core.routing import PreCallStatus as Status
from router.outbound.signing import message_id, secrets_of, sign_headers
from router.outbound.streams import read_capped
from router.outbound.urlguard import NOT_PUBLIC, is_blocked, is_public_host

log = logs.get(__name__)

DEFAULT_TIMEOUT_MS = 2000
MAX_TIMEOUT_MS = 5000
MAX_ANSWER_BYTES = 64 * 1024
_MIN_RETRY_BUDGET_MS = 100


class PreCallRequest(msgspec.Struct, kw_only=True):
    call_id: str
    provider: str
    caller_number: str | None
    dialed_number: str | None
    forwarded_from_number: str | None
    forwarded_from_withheld: bool
    forwarding_chain: list[dict[str, Any]]
    phone_number_id: str | None
    agent_id: str | None
    label: str | None
    metadata: dict[str, Any]


class PreCallAnswer(msgspec.Struct, kw_only=True):
    """What a customer may answer; unknown fields are ignored (receivers add their own)."""

    action: Literal["continue", "reject"] = "continue"
    reason: str | None = None
    agent_id: str | None = None
    metadata: dict[str, Any] | None = None
    dynamic_variables: dict[str, Any] | None = None


_answer_decoder = msgspec.json.Decoder(PreCallAnswer)
_encode = msgspec.json.Encoder().encode


async def ask(
    session: aiohttp.ClientSession,
    hook: PreCallWebhook,
    request: PreCallRequest,
    *,
    received_at_ms: int,
    allow_private: bool,
) -> tuple[PreCallAnswer | None, PreCallOutcome]:
    """POST the request; the answer (None unless it is a usable 2xx) and what happened."""
    started = time.perf_counter()
    budget = min(hook.timeout_ms or DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS)
    deadline_ms = received_at_ms + budget
    body = _encode(request)
    msg_id = message_id()
    host = urlsplit(hook.url).hostname or ""

    def outcome(status: Status, attempts: int, **extra: Any) -> PreCallOutcome:
        ms = round((time.perf_counter() - started) * 1000, 3)
        return PreCallOutcome(status=status, ms=ms, attempts=attempts, **extra)

    if not allow_private and not is_public_host(host):
        return None, outcome("blocked_address", 0, detail=NOT_PUBLIC)
    attempts = 0
    while True:
        left_ms = deadline_ms - events.now_ms()
        if left_ms <= 0:
            return None, outcome("timeout", attempts, detail=f"no answer within {budget} ms")
        attempts += 1
        headers = sign_headers(secrets_of(hook.secret), body, msg_id)
        try:
            async with asyncio.timeout(left_ms / 1000):
                async with session.post(
                    hook.url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    status = resp.status
                    raw = await read_capped(resp.content, MAX_ANSWER_BYTES)
        except TimeoutError:
            return None, outcome("timeout", attempts, detail=f"no answer within {budget} ms")
        except aiohttp.ClientConnectorError as exc:
            if is_blocked(exc):
                return None, outcome("blocked_address", attempts, detail=NOT_PUBLIC)
            if attempts == 1 and deadline_ms - events.now_ms() > _MIN_RETRY_BUDGET_MS:
                continue  # the connection itself failed: one quick retry
            return None, outcome("connect_error", attempts, detail=str(exc))
        except (aiohttp.ClientError, OSError) as exc:
            if is_blocked(exc):
                return None, outcome("blocked_address", attempts, detail=NOT_PUBLIC)
            return None, outcome("connect_error", attempts, detail=repr(exc))
        break
    if not 200 <= status < 300:
        return None, outcome("http_error", attempts, http_status=status)
    if len(raw) > MAX_ANSWER_BYTES:
        detail = f"answer larger than {MAX_ANSWER_BYTES} bytes"
        return None, outcome("bad_answer", attempts, http_status=status, detail=detail)
    try:
        answer = _answer_decoder.decode(raw) if raw.strip() else PreCallAnswer()
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        return None, outcome("bad_answer", attempts, http_status=status, detail=str(exc)[:200])
    for name, value in (
        ("metadata", answer.metadata),
        ("dynamic_variables", answer.dynamic_variables),
    ):
        problem = bounds.shape_problem(value)
        if problem:  # stored in the call record and embedded in the dispatch: bounded first
            detail = f"{name} {problem}"
            return None, outcome("bad_answer", attempts, http_status=status, detail=detail)
    state: Status = "rejected" if answer.action == "reject" else "ok"
    return answer, outcome(state, attempts, http_status=status)
