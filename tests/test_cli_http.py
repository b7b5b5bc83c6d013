"""The operator CLI over the HTTP API, as a process: agents and numbers, calls list and tail
with filters, route preview, the dead letters; Ctrl-C, a bad log level, a wrong token and an
unreachable router each end in one clear line; ``calls simulate`` for LiveKit, Twilio and
Telnyx against a running router, signed the real way."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from router.store import keys
from tests.carrier_helpers import LIVEKIT_SIP_URI, TELNYX_PRIVATE, TELNYX_PUBLIC
from tests.conftest import (
    ADMIN,
    API_KEY,
    API_SECRET,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_key,
    wait_record,
)
from tests.test_ops_cli import over_http

TEMPLATE = {"greeting": "Calls for {{dialedNumber}}", "forwardedFrom": "{{forwardedFromNumber}}"}


async def cli(router: Any, *args: str, **env: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", *args,
        env={**os.environ, **over_http(router), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_agents_and_numbers_through_the_api(router):
    code, out, _ = await cli(
        router, "agents", "create", "--name", "Desk", "--livekit-agent-name", "desk-agent"
    )
    assert code == 0
    agent_id = out.strip()
    assert agent_id.startswith("ag_")  # alone on stdout: AGENT=$(...)
    code, out, _ = await cli(
        router, "numbers", "add", "(201) 555-0123", "--agent", agent_id,
        "--template", json.dumps(TEMPLATE), "--label", "Front desk",
    )  # fmt: skip
    assert code == 0
    row = json.loads(out)
    assert row["e164"] == "+12015550123"
    assert row["dispatchMetadataTemplate"] == TEMPLATE
    code, out, _ = await cli(router, "numbers", "list")
    assert code == 0
    assert "+12015550123" in out
    assert agent_id in out
    assert "1 number" in out
    code, _, err = await cli(router, "numbers", "add", "+12015550123", "--agent", agent_id)
    assert code == 1
    assert "already imported (CONFLICT, HTTP 409)" in err
    code, out, _ = await cli(router, "agents", "list", "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [agent_id]


async def test_calls_list_filters_and_route_preview(router, twirp, redis):
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    for call_id, dialed in (("SCL_a", "+12015550123"), ("SCL_b", "+12015550999")):
        event = sip_join_event(call_id=call_id, room=f"room-{call_id}", dialed=dialed)
        assert (await post_livekit(router, event)).status == 200
        await wait_record(redis, call_id)

    async def both_noted() -> bool:
        entries = await redis.xrange(keys.RECENT_CALLS)
        return sum(len(fields) for _, fields in entries) >= 2

    await wait_key(redis, keys.RECENT_CALLS, both_noted)
    code, out, _ = await cli(router, "calls", "list")
    assert code == 0
    assert [line.split()[2] for line in out.splitlines()] == ["SCL_b", "SCL_a"]
    code, out, _ = await cli(router, "calls", "list", "--status", "rejected")
    assert [line.split()[2] for line in out.splitlines()] == ["SCL_b"]
    code, _, err = await cli(router, "calls", "list", "--since", "yesterday")
    assert code == 1
    assert "since: an ISO 8601 time" in err
    code, out, _ = await cli(router, "route", "preview", "--dialed", "201-555-0123")
    assert code == 0
    assert json.loads(out)["action"] == "dispatch"


async def test_dead_letters_list_and_replay_over_http(router, redis):
    await redis.xadd(keys.stream(0), {"e": b"not an event"})  # a poison entry: dead-lettered

    async def dead() -> bool:
        return await redis.xlen(keys.dead_letters(0)) == 1

    await wait_key(redis, keys.dead_letters(0), dead)
    code, out, _ = await cli(router, "dlq", "list", "--json")
    assert code == 0
    entry = json.loads(out)
    assert "undecodable" in entry["error"]
    code, out, err = await cli(router, "dlq", "replay", entry["id"], "1-1")
    assert code == 1  # one of the two was not there
    assert f"replayed 1: {entry['id']}" in out
    assert "not in the dead-letter stream: 1-1" in err
    resp = await router.post("/v1/dead-letters/replay", json={}, headers=ADMIN)
    assert resp.status == 400
    resp = await router.post("/v1/dead-letters/replay", json={"ids": ["$"]}, headers=ADMIN)
    assert resp.status == 400


async def test_call_events_need_the_token_and_apply_filters(router, twirp, redis):
    assert (await router.get("/v1/calls/events")).status == 401
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    resp = await router.get("/v1/calls/events?status=rejected", headers=ADMIN)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert (await resp.content.readline()).startswith(b": listening")
    assert await resp.content.readline() == b"\n"  # the comment's end
    for call_id, dialed in (("SCL_ok", "+12015550123"), ("SCL_no", "+12015550999")):
        event = sip_join_event(call_id=call_id, room=f"room-{call_id}", dialed=dialed)
        assert (await post_livekit(router, event)).status == 200
    async with asyncio.timeout(10):
        assert await resp.content.readline() == b"event: call\n"
        data = await resp.content.readline()
    assert json.loads(data.removeprefix(b"data: "))["callId"] == "SCL_no"  # SCL_ok filtered out
    resp.close()


async def test_ctrl_c_ends_tail_quietly(router):
    proc: Any = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "calls", "tail",
        env={**os.environ, **over_http(router)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(20):
        assert b"listening" in await proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        out, err = await proc.communicate()
    assert proc.returncode == 130
    assert out == b""
    assert err == b""  # no traceback, no KeyboardInterrupt


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


async def test_maintenance_is_break_glass_and_says_so(router, valkey_url):
    code, out, err = await cli(
        router, "maintenance", "reindex", REDIS_URL=valkey_url, ROUTER_ADMIN_TOKEN=""
    )
    assert code == 0, err
    assert "break-glass" in err
    assert "rebuilt the registry's indexes" in out


# ---- calls simulate -----------------------------------------------------------------------


async def _simulated(router: Any, *args: str, **env: str) -> tuple[int, str, str]:
    agent = await create_agent(router, prompt="Be kind")
    await import_number(
        router, e164="+12015550123", agentId=agent["id"], dispatchMetadataTemplate=TEMPLATE
    )
    keys_env = {"LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET, **env}
    return await cli(router, "calls", "simulate", "--to", "+12015550123", *args, **keys_env)


async def test_simulate_a_forwarded_livekit_call(router, twirp):
    code, out, err = await _simulated(
        router, "--diversion", "<sip:+16175550177@pbx.example.com>;reason=unconditional"
    )
    assert code == 0, err
    assert "status: dispatched" in out
    assert "forwarded from +16175550177 (source: diversion)" in out
    assert '"greeting": "Calls for +12015550123"' in out  # the rendered metadata
    assert '"forwardedFrom": "+16175550177"' in out
    standin, _ = twirp
    dispatch = standin.dispatches.get_nowait()  # the stand-in really got it
    assert json.loads(dispatch.metadata)["forwardedFrom"] == "+16175550177"


async def test_simulate_with_a_history_info_chain(router, twirp):
    code, out, err = await _simulated(
        router,
        "--history-info", "<sip:+12015550100@pbx.example.com>;index=1",
        "--history-info", "<sip:+12015550123@pbx.example.com;cause=302>;index=1.1",
    )  # fmt: skip
    assert code == 0, err
    assert "forwarded from +12015550100 (source: history-info)" in out


async def test_simulate_refuses_a_wrong_livekit_secret(router, twirp):
    code, _, err = await _simulated(router, LIVEKIT_API_SECRET="not-the-routers-secret-0123456789")
    assert code == 1
    assert "HTTP 401" in err


async def test_simulate_a_twilio_call_through_its_bridge(make_router, twirp):
    router = await make_router(
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests", LIVEKIT_SIP_URI=LIVEKIT_SIP_URI
    )
    code, out, err = await _simulated(
        router,
        "--carrier", "twilio",
        "--diversion", "<sip:+16175550177@pbx.example.com>;reason=unconditional",
        TWILIO_AUTH_TOKEN="twilio-auth-token-for-tests",
    )  # fmt: skip
    assert code == 0, err
    assert "the router answered: bridge to sip:+12015550123@" in err
    assert "(twilio)  status: dispatched" in out
    assert "leg livekit" in out
    assert '"forwardedFrom": "+16175550177"' in out


async def test_simulate_a_telnyx_texml_call(make_router, twirp, tmp_path: Path):
    router = await make_router(TELNYX_PUBLIC_KEY=TELNYX_PUBLIC, LIVEKIT_SIP_URI=LIVEKIT_SIP_URI)
    pem = tmp_path / "telnyx-test-key.pem"
    pem.write_bytes(TELNYX_PRIVATE.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    code, out, err = await _simulated(
        router, "--carrier", "telnyx", "--telnyx-signing-key", str(pem)
    )
    assert code == 0, err
    assert "(telnyx)  status: dispatched" in out


async def test_stopping_the_router_ends_open_streams_at_once(tmp_path):
    env = {
        **os.environ, "XDG_DATA_HOME": str(tmp_path), "PORT": "0", "REDIS_URL": "",
        "ROUTER_ADMIN_TOKEN": "", "ROUTER_HOST": "",
    }  # fmt: skip
    serve: Any = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(30):
        while not (line := (await serve.stdout.readline()).decode()).strip().startswith("console:"):
            assert line, "serve ended before its banner"
    base = line.split(":", 1)[1].strip().split("/console")[0]
    tail: Any = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "calls", "tail", env={**env, "ROUTER_URL": base},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(20):
        assert b"listening" in await tail.stderr.readline()
    stopped = asyncio.get_running_loop().time()
    serve.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        await serve.communicate()
        _, err = await tail.communicate()
    assert serve.returncode == 0
    assert asyncio.get_running_loop().time() - stopped < 5  # not held by the open stream
    assert tail.returncode == 1
    assert b"the router ended the stream" in err
