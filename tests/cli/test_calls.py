"""``calls show`` (the routing trace, terminal-safe), ``calls list`` (the API's filters) and
``calls tail`` (decisions as they are made; Ctrl-C ends it quietly)."""

from __future__ import annotations

import json
import signal

from router.store import keys
from tests.cli.conftest import cli, tail
from tests.conftest import (
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_key,
    wait_record,
)


async def test_calls_show_prints_the_routing_trace(router, twirp, redis):
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    event = sip_join_event(
        call_id="SCL_show", headers={"Diversion": "<sip:+16175550177@pbx>;reason=user-busy"}
    )
    assert (await post_livekit(router, event)).status == 200
    await wait_record(redis, "SCL_show")
    code, out, _ = await cli(router, "calls", "show", "SCL_show")
    assert code == 0
    assert "status: dispatched" in out
    assert "forwarded from +16175550177 (source: diversion)" in out
    assert "matched: dialed_number" in out
    assert "dispatch AD_1 into room call-room-1" in out
    code, _, err = await cli(router, "calls", "show", "nope")
    assert (code, err) == (1, "error: no record for nope (records are kept 7 days)\n")
    code, out, _ = await cli(router, "calls", "show", "SCL_show", "--json")
    assert (code, json.loads(out)["callId"]) == (0, "SCL_show")


async def test_calls_show_never_writes_control_characters_from_call_data(router, twirp, redis):
    """A caller id with an ESC sequence and a newline would repaint the terminal and forge a
    line ("call FAKE ... status: dispatched"); it is shown escaped instead."""
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    hostile = "\x1b[2J\x1b[31mX\ncall FAKE (twilio)  status: dispatched\u202e\x07"
    event = sip_join_event(call_id="SCL_esc\x1b]0;t\x07", caller=hostile)
    assert (await post_livekit(router, event)).status == 200
    await wait_record(redis, "SCL_esc\x1b]0;t\x07")
    code, out, _ = await cli(router, "calls", "show", "SCL_esc\x1b]0;t\x07")
    assert code == 0
    assert not any(ch in out for ch in "\x1b\x07\u202e")
    assert not any(line.startswith("call FAKE") for line in out.splitlines())
    assert "\\x1b[2J" in out  # shown, escaped
    assert "\\ncall FAKE" in out


async def test_calls_tail_shows_decisions_as_they_happen(router, twirp):
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    process = await tail(router)
    try:
        assert (await post_livekit(router, sip_join_event(call_id="SCL_tail"))).status == 200
        line = await process.line("20")  # a decision's line starts with its time
        assert "SCL_tail" in line
        assert "dispatched" in line
        assert "support-agent" in line
    finally:
        await process.stop()
    as_json = await tail(router, "--json")  # one record a line, for scripts
    try:
        assert (await post_livekit(router, sip_join_event(call_id="SCL_tail2"))).status == 200
        record = json.loads(await as_json.line("{"))
        assert (record["callId"], record["status"]) == ("SCL_tail2", "dispatched")
    finally:
        await as_json.stop()


async def test_calls_list_filters(router, twirp, redis):
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
    assert out.splitlines()[0].startswith("decided ")  # a header row
    assert [line.split()[2] for line in out.splitlines()[1:]] == ["SCL_b", "SCL_a"]
    code, out, _ = await cli(router, "calls", "list", "--status", "rejected", "--json")
    assert [json.loads(line)["callId"] for line in out.splitlines()] == ["SCL_b"]
    code, out, _ = await cli(router, "calls", "list", "--status", "abandoned")
    assert (code, out.splitlines()[1:]) == (0, ["none"])  # said, not an empty screen
    code, _, err = await cli(router, "calls", "list", "--since", "yesterday")
    assert code == 1
    assert "since: an ISO 8601 time" in err


async def test_ctrl_c_ends_tail_quietly(router):
    process = await tail(router)
    assert await process.stop(signal.SIGINT) == 130
    assert process.output == []
    assert process.errors == ["listening for call decisions (Ctrl-C to stop)"]  # no traceback
