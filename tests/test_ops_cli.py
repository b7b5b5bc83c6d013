"""The operator CLI, run as a process against the router's HTTP API (the same token as any
client): numbers import, calls show, calls tail."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_record,
)


def over_http(router: Any) -> dict[str, str]:
    """The CLI's environment for the test router: its URL and token, and no first-run files."""
    return {
        "ROUTER_URL": str(router.make_url("")).rstrip("/"),
        "ROUTER_ADMIN_TOKEN": ADMIN_TOKEN,
        "REDIS_URL": "",  # not needed: everything goes through the API
        "XDG_DATA_HOME": "/nonexistent",
    }


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_numbers_import_csv_validates_row_by_row(router, tmp_path: Path):
    agent = await create_agent(router)
    template = json.dumps({"greeting": "{{label}}"}).replace('"', '""')
    (tmp_path / "numbers.csv").write_text(
        "e164,agentId,label,dispatchMetadataTemplate,direction\n"
        f'+12015550123,{agent["id"]},Desk,"{template}",inbound\n'
        f"not-a-number,{agent['id']},Bad,,inbound\n"
        f"(201) 555-0124,{agent['id']},National,,both\n"
        f"+12015550123,{agent['id']},Again,,inbound\n"
        "+12015550125,ag_missing,Ghost,,inbound\n"
    )
    code, out, err = await _run(
        "numbers", "import", str(tmp_path / "numbers.csv"), env=over_http(router)
    )
    assert code == 1
    assert "imported 2, refused 3 of 5 rows" in out
    assert "line 3: VALIDATION_ERROR: e164" in out
    assert "line 5: CONFLICT" in out
    assert "line 6: VALIDATION_ERROR: agentId" in out
    assert "5/5" in err  # the progress bar reached the end
    rows = await (await router.get("/v1/phone-numbers", headers=ADMIN)).json()
    assert sorted(r["e164"] for r in rows) == ["+12015550123", "+12015550124"]
    assert next(r for r in rows if r["label"] == "Desk")["dispatchMetadataTemplate"] == {
        "greeting": "{{label}}"
    }


async def test_numbers_import_json_lines(router, tmp_path: Path):
    agent = await create_agent(router)
    lines = [
        json.dumps({"e164": "+12015550126", "agentId": agent["id"]}),
        "{broken",
        json.dumps({"e164": "+12015550127"}),
    ]
    (tmp_path / "numbers.jsonl").write_text("\n".join(lines) + "\n")
    code, out, _ = await _run(
        "numbers", "import", str(tmp_path / "numbers.jsonl"), env=over_http(router)
    )
    assert code == 1
    assert "imported 1, refused 2 of 3 rows" in out
    assert "line 2:" in out
    assert "line 3: VALIDATION_ERROR: agentId" in out


async def test_calls_show_prints_the_routing_trace(router, twirp, redis):
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    event = sip_join_event(
        call_id="SCL_show", headers={"Diversion": "<sip:+16175550177@pbx>;reason=user-busy"}
    )
    assert (await post_livekit(router, event)).status == 200
    await wait_record(redis, "SCL_show")
    code, out, _ = await _run("calls", "show", "SCL_show", env=over_http(router))
    assert code == 0
    assert "status: dispatched" in out
    assert "forwarded from +16175550177 (source: diversion)" in out
    assert "matched: dialed_number" in out
    assert "dispatch AD_1 into room call-room-1" in out
    code, _, err = await _run("calls", "show", "nope", env=over_http(router))
    assert (code, "no record for nope" in err) == (1, True)


async def test_calls_show_never_writes_control_characters_from_call_data(router, twirp, redis):
    """A caller id with an ESC sequence and a newline would repaint the terminal and forge a
    line ("call FAKE ... status: dispatched"); it is shown escaped instead."""
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    hostile = "\x1b[2J\x1b[31mX\ncall FAKE (twilio)  status: dispatched\u202e\x07"
    event = sip_join_event(call_id="SCL_esc\x1b]0;t\x07", caller=hostile)
    assert (await post_livekit(router, event)).status == 200
    await wait_record(redis, "SCL_esc\x1b]0;t\x07")
    code, out, _ = await _run("calls", "show", "SCL_esc\x1b]0;t\x07", env=over_http(router))
    assert code == 0
    assert not any(ch in out for ch in "\x1b\x07\u202e")
    assert not any(line.startswith("call FAKE") for line in out.splitlines())
    assert "\\x1b[2J" in out  # shown, escaped
    assert "\\ncall FAKE" in out


async def test_calls_tail_shows_decisions_as_they_happen(router, twirp):
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    proc: Any = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "calls", "tail",
        env={**os.environ, **over_http(router)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(20):
            while b"listening for call decisions" not in await proc.stderr.readline():
                pass
            assert (await post_livekit(router, sip_join_event(call_id="SCL_tail"))).status == 200
            line = (await proc.stdout.readline()).decode()
        assert "SCL_tail" in line
        assert "dispatched" in line
        assert "support-agent" in line
    finally:
        proc.terminate()
        await proc.wait()
