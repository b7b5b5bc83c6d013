"""The first run with nothing configured: a generated admin token kept in the per-user data
directory (0600), embedded data kept there across restarts, a banner saying where everything
is, loopback only with a generated token, explicit settings winning, a busy port in one line."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import aiohttp

from tests import routerproc


async def _serve(data_home: Path, **env: str) -> routerproc.RouterProcess:
    """``serve`` with nothing set but the per-user data directory (and ``env``)."""
    return await routerproc.start(
        "serve", env={"XDG_DATA_HOME": str(data_home), "PORT": "0", **env}, ready=None
    )


async def _banner(serve: routerproc.RouterProcess) -> dict[str, str]:
    """The banner's lines, keyed by their label (console, admin API, data, export ...)."""
    await serve.line("routers running here")  # the banner's last line
    found: dict[str, str] = {}
    for line in serve.output:
        text = line.strip()
        if text.startswith("export "):
            name, _, value = text.removeprefix("export ").partition("=")
            found[name] = value
        elif ":" in text:
            label, _, value = text.partition(":")
            found.setdefault(label.strip(), value.strip())
    return found


async def test_the_first_run_is_ready_to_try_and_keeps_its_data(tmp_path):
    proc = await _serve(tmp_path)
    banner = await _banner(proc)
    console = banner["console"]
    assert console.startswith("http://127.0.0.1:")
    assert "/console#token=" in console
    token = console.split("#token=")[1]
    assert banner["ROUTER_ADMIN_TOKEN"] == token
    assert len(token) >= 32
    token_file = tmp_path / "call-router" / "admin-token"
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    base = console.split("/console")[0]
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        body = {"name": "Support", "livekitAgentName": "support-agent"}
        async with session.post(f"{base}/v1/agents", json=body, headers=headers) as resp:
            assert resp.status == 201
    assert await proc.stop() == 0

    again = await _serve(tmp_path)  # a restart: the same token, the same data
    banner = await _banner(again)
    assert banner["console"].split("#token=")[1] == token
    base = banner["console"].split("/console")[0]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/v1/agents", headers=headers) as resp,
    ):
        assert [a["name"] for a in await resp.json()] == ["Support"]
    assert await again.stop() == 0


async def test_a_generated_token_is_for_loopback_only(tmp_path):
    done = await routerproc.run(
        "serve", env={"XDG_DATA_HOME": str(tmp_path), "PORT": "0", "ROUTER_HOST": "0.0.0.0"}
    )
    assert done.code == 2
    assert "ROUTER_HOST" in done.err
    assert "ROUTER_ADMIN_TOKEN" in done.err
    assert "Traceback" not in done.err


async def test_explicit_settings_win(tmp_path):
    token = "an-explicit-admin-token-of-32-characters-or-more"
    proc = await _serve(tmp_path, ROUTER_ADMIN_TOKEN=token, ROUTER_HOST="127.0.0.1")
    banner = await _banner(proc)
    assert "#token=" not in banner["console"]
    assert "ROUTER_ADMIN_TOKEN" not in banner
    assert not (tmp_path / "call-router" / "admin-token").exists()
    assert await proc.stop() == 0


async def test_a_busy_port_is_one_clear_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = {"XDG_DATA_HOME": str(tmp_path), "PORT": str(port), "ROUTER_HOST": "127.0.0.1"}
        done = await routerproc.run("serve", env=env)
    assert done.code == 2
    lines = [line for line in done.err.splitlines() if not line.startswith("{")]
    assert lines == [f"port {port} is already in use: set PORT to a free one (PORT=0 picks any)"]


async def test_the_quick_start_with_nothing_but_the_first_run(tmp_path):
    """README's quick start: with only the first run's files (no token, no LiveKit key set),
    the CLI creates an agent, imports a number and simulates a forwarded call: a dry-run
    decision with the rendered metadata."""
    proc = await _serve(tmp_path)
    banner = await _banner(proc)
    assert "dry run" in banner["LiveKit"]
    env = {"XDG_DATA_HOME": str(tmp_path), "ROUTER_URL": banner["ROUTER_URL"]}

    async def cli(*args: str) -> str:
        done = await routerproc.run(*args, env=env)
        assert done.code == 0, done.err
        return done.out

    try:
        await cli("agents", "create", "--name", "Support", "--livekit-agent-name", "support")
        template = '{"prompt": "Forwarded by {{forwardedFromNumber}}"}'
        # As the README: the agent by its LiveKit agent name, one number imported.
        await cli("numbers", "import", "+12015550123", "--agent", "support", "--template",
                  template)  # fmt: skip
        out = await cli(
            "calls", "simulate", "--to", "+12015550123",
            "--diversion", "<sip:+16175550177@pbx.example.com>;reason=unconditional",
        )  # fmt: skip
    finally:
        assert await proc.stop() == 0
    assert "status: dry_run" in out
    assert '"prompt": "Forwarded by +16175550177"' in out
    secret = tmp_path / "call-router" / "livekit-api-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
