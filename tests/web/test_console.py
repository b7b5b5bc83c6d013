"""The /console page in a real headless Chromium (Debian's chromium; .ci/run installs it)."""

from __future__ import annotations

import html
import re
import struct
from typing import Any

import pytest

from router.store import keys
from tests.browser import browse, opened
from tests.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_key,
    wait_record,
)


@pytest.fixture
async def calls(router: Any, twirp: Any, redis: Any) -> Any:
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    fwd = {"Diversion": "<sip:+16175550177@pbx>;reason=unconditional"}
    for call_id, dialed in (("SCL_seen1", "+12015550123"), ("SCL_seen2", "+12015550999")):
        event = sip_join_event(call_id=call_id, room=f"room-{call_id}", dialed=dialed, headers=fwd)
        assert (await post_livekit(router, event)).status == 200
        await wait_record(redis, call_id)

    async def both_listed() -> bool:  # an entry may note several calls (fields c0, c1, ...)
        entries = await redis.xrange(keys.RECENT_CALLS)
        return sum(len(fields) for _, fields in entries) >= 2

    await wait_key(redis, keys.RECENT_CALLS, both_listed)
    listed = await (await router.get("/v1/calls", headers=ADMIN)).json()
    assert [c["callId"] for c in listed] == ["SCL_seen2", "SCL_seen1"]
    return router


@pytest.mark.timeout(120)
async def test_console_renders_recent_calls_in_a_real_browser(calls, tmp_path):
    url = str(calls.make_url("/console")) + f"#token={ADMIN_TOKEN}"
    dom = await browse(url, tmp_path / "profile1", "--dump-dom")
    assert "SCL_seen1" in dom
    assert "SCL_seen2" in dom
    assert 'class="status dispatched"' in dom
    assert 'class="status rejected"' in dom
    assert "+16175550177" in dom  # why it went where it went: the forwarding number
    assert "2 recent calls" in dom
    assert '<form id="login" hidden="">' in dom  # the token was taken from the fragment

    shot = tmp_path / "console.png"
    await browse(url, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1280,800")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 800)
    assert len(data) > 20_000  # a rendered table, not a blank page


@pytest.mark.timeout(120)
async def test_console_without_the_token_shows_no_calls(calls, tmp_path):
    dom = await browse(str(calls.make_url("/console")), tmp_path / "profile", "--dump-dom")
    assert '<form id="login">' in dom  # the prompt is shown
    assert '<table id="calls" hidden="">' in dom
    assert "SCL_seen1" not in dom
    resp = await calls.get("/v1/calls")
    assert resp.status == 401


async def test_recent_calls_limit_is_validated(calls):
    resp = await calls.get("/v1/calls?limit=0", headers=ADMIN)
    assert resp.status == 400


@pytest.mark.timeout(120)
async def test_console_searches_and_pages_back_through_the_api(calls, tmp_path):
    """Filters and pages live in the console's own URL and go to ``GET /v1/calls`` as they
    are; the older-calls link carries the API's next cursor."""
    base = str(calls.make_url("/console"))
    dom = await browse(f"{base}?status=rejected#token={ADMIN_TOKEN}", tmp_path / "p1", "--dump-dom")
    assert "SCL_seen2" in dom
    assert "SCL_seen1" not in dom
    assert "1 recent calls" in dom

    dom = await browse(f"{base}?limit=1#token={ADMIN_TOKEN}", tmp_path / "p2", "--dump-dom")
    assert "SCL_seen2" in dom
    assert "SCL_seen1" not in dom
    older = re.search(r'<a id="older" href="([^"]+)"', dom)
    assert older, "an older-calls link"
    href = html.unescape(older.group(1))
    assert href.startswith("/console?limit=1&cursor=")
    dom = await browse(
        str(calls.make_url(href)) + f"#token={ADMIN_TOKEN}", tmp_path / "p3", "--dump-dom"
    )
    assert "SCL_seen1" in dom
    assert "SCL_seen2" not in dom
    assert '<a id="newest" href="/console">' in dom

    dom = await browse(f"{base}?since=soon#token={ADMIN_TOKEN}", tmp_path / "p4", "--dump-dom")
    assert "since: an ISO 8601 time" in dom  # the API's own words for a bad filter


@pytest.mark.timeout(120)
async def test_console_shows_live_calls_and_a_calls_life(calls, redis, tmp_path):
    """A dispatched call whose agent has not joined is live, waiting for its agent; once it
    has ended its detail tells its life (the agent's join, the end and who ended it)."""
    from tests.livekit_helpers import agent_join_event, participant_left_event

    url = str(calls.make_url("/console")) + f"#token={ADMIN_TOKEN}"
    dom = await browse(url, tmp_path / "p1", "--dump-dom")
    live = dom.split('<section id="live"', 1)[1].split("</section>", 1)[0]
    assert "SCL_seen1" in live
    assert "waiting for the agent" in live
    assert "SCL_seen2" not in live  # rejected: not a live call
    assert (await post_livekit(calls, agent_join_event(room="room-SCL_seen1"))).status == 200
    await wait_record(redis, "SCL_seen1")
    left = participant_left_event(room="room-SCL_seen1", identity="sip_SCL_seen1")
    assert (await post_livekit(calls, left)).status == 200
    await wait_record(redis, "SCL_seen1", status="completed")
    dom = await browse(url, tmp_path / "p2", "--dump-dom")
    assert '<section id="live" hidden="">' in dom  # nothing live any more
    assert "agent joined (" in dom
    assert "ended by caller after" in dom
    assert 'class="status completed"' in dom


@pytest.mark.timeout(120)
async def test_the_console_follows_calls_live_and_reads_like_a_trace(calls, redis, tmp_path):
    """A call decided after the page loaded appears without a reload (the event stream);
    each call shows its organization, and its detail reads as ``calls show`` prints it;
    ``/`` leads to the console, which links to the API reference and back."""
    from router.web.state import FEED

    url = str(calls.make_url("/console")) + f"#token={ADMIN_TOKEN}"
    feed = calls.app[FEED]
    async with opened(url, tmp_path / "p1") as page:
        await page.shows('<span id="stream-state" class="on">live</span>')
        assert len(feed.listeners) == 1  # the page's own stream: what follows comes live
        event = sip_join_event(call_id="SCL_later", room="room-SCL_later")
        assert (await post_livekit(calls, event)).status == 200
        dom = html.unescape(await page.shows("SCL_later"))  # no reload
    assert "<td>default</td>" in dom  # the organization column
    assert "call SCL_seen1 (livekit)  status: dispatched" in dom  # the readable trace
    assert "forwarded from +16175550177 (source: diversion)" in dom
    assert "the record as the API answers it" in dom  # the raw JSON, folded
    home = await calls.get("/", allow_redirects=False)
    assert (home.status, home.headers["Location"]) == (302, "/console")
    assert '<a href="/docs">API reference</a>' in dom
    docs = await browse(str(calls.make_url("/docs")), tmp_path / "p2", "--dump-dom")
    assert '<a href="/console">console</a>' in docs
    assert "<code>Link: &lt;" in docs or "<code>" in docs.split('id="description"', 1)[1][:800]


@pytest.mark.timeout(120)
async def test_numbers_and_agents_pages_say_their_readiness_in_words(calls, tmp_path):
    """The numbers page shows each number's setup in words (setupStatus.issues), the agents
    page each agent; the operator narrows every view to one organization."""
    from tests.conftest import make_org

    await import_number(calls, e164="+12015550177", dispatchMetadataTemplate={"a": 1})
    base = str(calls.make_url("/console"))
    dom = html.unescape(
        await browse(f"{base}?view=numbers#token={ADMIN_TOKEN}", tmp_path / "p1", "--dump-dom")
    )
    numbers = dom.split('<table id="numbers"', 1)[1].split("</table>", 1)[0]
    assert "+12015550123" in numbers
    assert "template-only number: link an agent or set ROUTER_DEFAULT_AGENT_NAME" in numbers
    assert '<span class="status incomplete">incomplete</span>' in numbers
    dom = html.unescape(
        await browse(f"{base}?view=agents#token={ADMIN_TOKEN}", tmp_path / "p2", "--dump-dom")
    )
    assert "support-agent" in dom.split('<table id="agents"', 1)[1]
    other = await make_org(calls, "Other")
    dom = await browse(f"{base}?org={other['id']}#token={ADMIN_TOKEN}", tmp_path / "p3",
                       "--dump-dom")  # fmt: skip
    chooser = dom.split('<select id="org"', 1)[1].split("</select>", 1)[0]
    assert "hidden" not in chooser.split(">", 1)[0]  # the operator may choose
    assert f'<option value="{other["id"]}">Other ({other["id"]})</option>' in chooser
    assert "SCL_seen1" not in dom.split('<table id="calls"', 1)[1]  # the default's calls
