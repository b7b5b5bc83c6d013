"""The CLI's tests run ``python -m router`` as an operator does, against the test router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests import routerproc
from tests.conftest import ADMIN_TOKEN

Cli = Callable[..., Awaitable[routerproc.Finished]]


async def cli(router: Any, *args: str, **env: str) -> routerproc.Finished:
    """``python -m router ARGS`` run to its end against ``router`` (``env`` added)."""
    return await routerproc.run(*args, env={**routerproc.over_http(router, ADMIN_TOKEN), **env})


async def tail(router: Any, *args: str, **env: str) -> routerproc.RouterProcess:
    """``python -m router calls tail ARGS``, once it listens."""
    env = {**routerproc.over_http(router, ADMIN_TOKEN), **env}
    process = await routerproc.start("calls", "tail", *args, env=env, ready=None)
    await process.said("listening for call decisions")
    return process


@pytest.fixture
def run_cli(router: Any) -> Cli:
    async def run(*args: str, **env: str) -> routerproc.Finished:
        return await cli(router, *args, **env)

    return run
