"""What every command shares (``cli.main``): a bad log level is a usage error, a refusal or an
unreachable router is one line."""

from __future__ import annotations

import pytest

from tests.cli.conftest import cli


async def test_a_bad_log_level_is_a_usage_error(router):
    code, _, err = await cli(router, "--log-level", "loud", "calls", "list")
    assert code == 2
    assert err.startswith("usage:")
    assert "'loud' is not a log level" in err


@pytest.mark.parametrize(
    ("env", "code", "words"),
    [
        ({"ROUTER_ADMIN_TOKEN": "wrong"}, 1, "(UNAUTHORIZED, HTTP 401) (set ROUTER_ADMIN_TOKEN"),
        ({"ROUTER_URL": "http://127.0.0.1:9"}, 2, "cannot reach the router at http://127.0.0.1:9"),
    ],
)
async def test_refusals_are_one_line(router, env, code, words):
    got, _, err = await cli(router, "calls", "list", **env)
    assert got == code
    assert words in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
