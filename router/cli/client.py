"""The operator CLI's way in: the router's own HTTP API, with the same token as any client
(where to and which token: ``cli.token``). Every refusal is the API's own ``{"error",
"code"}``; an unreachable router is one line saying where the CLI looked.

A command over HTTP registers ``over_http(handler)``, its parser taking ``remote_options()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Self

import aiohttp
import msgspec

from router import config as config_module
from router.config import ClientConfig

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5)


class ClientError(Exception):
    """What the CLI prints (one line) before it exits with ``exit_code``."""

    exit_code = 1


class Unreachable(ClientError):
    exit_code = 2


class Usage(ClientError):
    """Flags that do not go together (argparse cannot tell): exit 2, as its own refusals."""

    exit_code = 2


class Refused(ClientError):
    def __init__(self, status: int, code: str, message: str, hint: str = "") -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(f"{message} ({code}, HTTP {status}){hint}")


def quote(segment: str) -> str:
    """A path segment as sent (call ids come from carriers: anything may be in them)."""
    return urllib.parse.quote(segment, safe="")


class AdminClient:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        settings: ClientConfig | None = None,
        *,
        token_source: str | None = None,
        url_source: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.settings = settings or ClientConfig()  # what the CLI's environment said
        # Where the token and the URL came from, for refusals that help (--token, the
        # environment, the token file's path; --url, ROUTER_URL, a runtime file).
        self.token_source, self.url_source = token_source, url_source
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session = aiohttp.ClientSession(timeout=_TIMEOUT, headers=self._headers)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    def url(self, path: str) -> str:
        return self.base_url + path

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        """The decoded JSON answer and its headers; a refusal raises ``Refused``."""
        raw, status, answer_headers = await self._send(method, path, body, data, params, headers)
        return _decode(raw, status), answer_headers

    async def text(self, method: str, path: str, *, data: bytes, headers: Mapping[str, str]) -> str:
        """A route that answers markup (a carrier webhook's TwiML): its text."""
        raw, _, _ = await self._send(method, path, None, data, None, headers)
        return raw.decode(errors="replace")

    async def _send(
        self,
        method: str,
        path: str,
        body: Any,
        data: bytes | None,
        params: Mapping[str, str] | None,
        extra: Mapping[str, str] | None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        payload = msgspec.json.encode(body) if body is not None else data
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        headers.update(extra or {})
        try:
            async with self._session.request(
                method, self.url(path), data=payload, params=params, headers=headers
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise self._refusal(resp.status, raw)
                return raw, resp.status, resp.headers
        except aiohttp.ClientConnectionError as exc:
            where = f"the URL from {self.url_source}" if self.url_source else "the URL"
            raise Unreachable(
                f"cannot reach the router at {self.base_url} ({exc.__class__.__name__}; {where}):"
                " is `python -m router serve` running there? (python -m router status lists "
                "the routers on this machine; elsewhere set ROUTER_URL or pass --url)"
            ) from exc
        except TimeoutError as exc:
            raise Unreachable(f"the router at {self.base_url} did not answer in time") from exc

    def _refusal(self, status: int, raw: bytes) -> Refused:
        """The API's ``{"error", "code"}`` (or the body's start, from something in between);
        an authentication refusal says which token was used."""
        error = _decode(raw, status)
        error = error if isinstance(error, dict) else {}
        hint = ""
        if status == 401:
            hint = (
                f" (the token from {self.token_source} was refused: check it, or pass --token)"
                if self.token_source
                else " (no token: set ROUTER_ADMIN_TOKEN or pass --token; on the router's "
                "machine the CLI reads its token file)"
            )
        elif status == 503 and error.get("code") == "UNAVAILABLE":
            hint = self._store_hint()
        return Refused(
            status,
            str(error.get("code", "HTTP_ERROR")),
            str(error.get("error", raw[:200].decode(errors="replace"))),
            hint,
        )

    def rediscover(self) -> bool:
        """When the router was found by its runtime file (no ``--url`` / ``ROUTER_URL``) and
        the router running here now is another (restarted on another port): talk to that
        one. True when the address changed."""
        if not (self.url_source or "").startswith(("the runtime file", "the default")):
            return False
        from router.config.runtime import running

        found = running()
        if not found or found[0].url == self.base_url:
            return False
        self.base_url, self.url_source = found[0].url, f"the runtime file of pid {found[0].pid}"
        return True

    def _store_hint(self) -> str:
        """The router is up but its store is not: which store, when the router runs here."""
        from router.config.runtime import running

        here = next((r for r in running() if r.url == self.base_url.rstrip("/")), None)
        if here is None:
            return " (the router's store does not answer: see its banner and logs)"
        return (
            f" (the store of the router at {here.url}, {here.store}, does not answer: start "
            "it, or fix REDIS_URL where the router runs)"
        )

    async def pages(
        self, path: str, params: Mapping[str, str] | None = None, *, most: int | None = None
    ) -> AsyncIterator[Any]:
        """Every row of a list route, following ``Link: rel="next"`` (``most``: stop after)."""
        url: str | None = path
        given = 0
        query = dict(params or {})
        while url is not None:
            rows, headers = await self.call("GET", url, params=query)
            for row in rows:
                yield row
                given += 1
                if most is not None and given >= most:
                    return
            link = _NEXT.search(headers.get("Link", ""))
            url, query = None, {}
            if link:
                parts = urllib.parse.urlsplit(link.group(1))
                url = f"{parts.path}?{parts.query}"

    @contextlib.asynccontextmanager
    async def event_stream(
        self, path: str, params: Mapping[str, str], last_event_id: str | None = None
    ) -> AsyncIterator[EventStream]:
        """A stream route, connected (the server is listening once this is entered), as an
        iterator of each Server-Sent Event's ``data`` (``last_event_id``: resume after it).
        A stream silent past ``SILENT_S`` (the server comments every 5 s) is a lost one."""
        timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_read=SILENT_S)
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        try:
            async with self._session.get(
                self.url(path), params=params, timeout=timeout, headers=headers
            ) as resp:
                if resp.status >= 400:
                    raise self._refusal(resp.status, await resp.read())
                yield EventStream(resp.content)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            where = f"; the URL from {self.url_source}" if self.url_source else ""
            raise Unreachable(
                f"lost the router at {self.base_url} ({exc.__class__.__name__}{where})"
            ) from exc


SILENT_S = 12.0  # seconds without a byte (the server comments every 5 s): the stream is lost


class StreamEnded(ClientError):
    """The router ended the stream and said why (``event: end``: a revoked key, a reader
    that fell behind, the router stopping)."""


class EventStream:
    """Server-Sent Events' ``data``, in order; ``last_id``: the ``id`` of the last one read."""

    def __init__(self, content: aiohttp.StreamReader) -> None:
        self.content = content
        self.last_id: str | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        data: list[bytes] = []
        event, event_id = b"message", None
        async for line in self.content:
            line = line.rstrip(b"\r\n")
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            elif line.startswith(b"event:"):
                event = line[6:].strip()
            elif line.startswith(b"id:"):
                event_id = line[3:].strip().decode(errors="replace")
            elif not line and data:
                joined, data, kind, event = b"\n".join(data), [], event, b"message"
                if kind == b"end":
                    ended = _decode(joined, 200)
                    reason = ended.get("error") if isinstance(ended, dict) else None
                    raise StreamEnded(str(reason or "no reason given"))
                if event_id:
                    self.last_id, event_id = event_id, None
                yield joined


def _decode(raw: bytes, status: int) -> Any:
    try:
        return msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError:
        if status >= 400:
            return None
        raise ClientError(f"the router answered {status} with a body that is not JSON") from None


def remote_options() -> argparse.ArgumentParser:
    """``--url`` and ``--token``, also accepted after the command (``python -m router calls
    tail --url …``): suppressed defaults, so that they do not hide the top-level values."""
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument(
        "--url", default=argparse.SUPPRESS,
        help="the router's base URL (ROUTER_URL; else http://127.0.0.1:$PORT; else the router "
        "running on this machine, as python -m router status lists; else port 8080)",
    )  # fmt: skip
    remote.add_argument(
        "--token", default=argparse.SUPPRESS,
        help="the admin token (ROUTER_ADMIN_TOKEN; on a first-run machine, its token file)",
    )  # fmt: skip
    return remote


Handler = Callable[[AdminClient, argparse.Namespace], Awaitable[int]]


def over_http(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """A command run against the router's HTTP API: its exit status."""

    def run(args: argparse.Namespace) -> int:
        from router.cli.token import target

        settings = config_module.load_client()
        found = target(args.url, args.token, settings)

        async def over() -> int:
            async with AdminClient(
                found.url, found.token, settings,
                token_source=found.token_source, url_source=found.url_source,
            ) as admin:  # fmt: skip
                return await handler(admin, args)

        return asyncio.run(over())

    return run
