"""A real headless Chromium (Debian's chromium; .ci/run installs it) for the pages the router
serves: the console and the API document."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

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
    proc = await asyncio.create_subprocess_exec(
        _chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    return out.decode()
