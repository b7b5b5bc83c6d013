"""A real headless Chromium (Debian's chromium; .ci/run installs it) for the pages the router
serves: the console and the API document."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=8000",
]  # fmt: skip


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "headless Chromium is needed: apt-get install chromium (.ci/run does)"
    return path


async def browse(url: str, profile: Path, *extra: str) -> str:
    """The page's DOM (or what ``extra`` asks) once its scripts ran, timers fast-forwarded
    through a budget of virtual time."""
    proc = await asyncio.create_subprocess_exec(
        _chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    return out.decode()


class Page:
    """A page in a headless Chromium driven over the DevTools protocol: what it shows now
    (``html``), and waiting until it shows something (``shows``) — for pages that change
    while they are open (the console following calls live)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self._ids = ws, itertools.count(1)

    async def send(self, method: str, **params: Any) -> Any:
        ask = next(self._ids)
        await self.ws.send_json({"id": ask, "method": method, "params": params})
        async for message in self.ws:
            answer = json.loads(message.data)
            if answer.get("id") == ask:  # events in between are not ours to read
                assert "error" not in answer, answer
                return answer.get("result")
        raise ConnectionError("the browser went away")

    async def html(self) -> str:
        result = await self.send(
            "Runtime.evaluate", expression="document.documentElement.outerHTML",
            returnByValue=True,
        )  # fmt: skip
        return str(result["result"].get("value", ""))  # nothing while it navigates

    async def shows(self, words: str, timeout_s: float = 20) -> str:
        """The page's HTML once it holds ``words`` (checked every 0.1 s: the page has no
        hook to wait on from outside)."""
        async with asyncio.timeout(timeout_s):
            while words not in (dom := await self.html()):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        return dom


@contextlib.asynccontextmanager
async def opened(url: str, profile: Path) -> AsyncIterator[Page]:
    """``url`` open in a headless Chromium, in real time (no virtual time budget)."""
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--virtual-time-budget")]
    proc = await asyncio.create_subprocess_exec(
        _chromium(), *flags, f"--user-data-dir={profile}", "--remote-debugging-port=0",
        "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            while b"DevTools listening on" not in (line := await proc.stderr.readline()):
                assert line, "Chromium ended before it listened"
        port = line.decode().rsplit(":", 1)[1].split("/", 1)[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            target = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with http.ws_connect(target, max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Page.navigate", url=url)
                yield page
    finally:
        proc.kill()
        await proc.wait()
