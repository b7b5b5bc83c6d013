"""Supervision (worker/supervise.py) on real loopback servers: the Twirp stand-in behaves as
LiveKit's server after a dispatch (an agent with a worker joins the room; one without never
does; a removed caller leaves), and sends its webhooks, signed, to the router."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from livekit import api
from standardwebhooks.webhooks import Webhook

from router.cli.output import trace
from router.core.records import CallRecord
from router.ingress.livekit_webhook import to_event
from router.store import keys
from router.store.calls import CallStore
from router.worker import direct, supervise
from router.worker.entries import Worker
from tests.carrier_helpers import (
    LIVEKIT_SIP_URI,
    TELNYX_API_KEY,
    TELNYX_PUBLIC,
    TWILIO_TOKEN,
    TelnyxStandIn,
    TwilioRestStandIn,
    call_initiated,
    post_telnyx_json,
    post_twilio,
    twilio_form,
)
from tests.conftest import (
    WHSEC,
    create_agent,
    import_number,
    post_livekit,
    services_of,
    sip_join_event,
    wait_key,
    wait_record,
)
from tests.livekit_helpers import as_received, participant_left_event, room_finished_event

DIALED = "+12015550123"


@pytest.fixture
async def live(make_router, twirp) -> Any:
    """The router, and the stand-in sending LiveKit's webhooks of what follows a dispatch."""
    router = await make_router()
    standin = twirp[0]

    async def webhook(event: api.WebhookEvent) -> None:
        assert (await post_livekit(router, event)).status == 200

    standin.webhooks = webhook
    return router, standin


async def _until(redis: Any, call_id: str, done: Any, limit_s: float = 20) -> CallRecord:
    """The call's record once ``done(record)`` holds (re-read on each write of it)."""
    store, found = CallStore(redis), None

    async def ready() -> bool:
        nonlocal found
        found = await store.get(call_id)
        return found is not None and bool(done(found))

    await wait_key(redis, keys.call_record(call_id), ready, limit_s)
    assert found is not None
    return found


async def test_an_agent_that_joins_in_time_is_recorded_and_the_call_completes(live, redis):
    router, standin = live
    agent = await create_agent(router)
    await import_number(router, e164=DIALED, agentId=agent["id"])
    join = sip_join_event(call_id="SCL_sup1", room="call-sup1", dialed=DIALED)
    assert (await post_livekit(router, join)).status == 200
    record = await _until(redis, "SCL_sup1", lambda r: r.agent_joined_at is not None)
    assert record.status == "dispatched"
    assert 0 <= record.timings_ms["toAgent"] < 5000
    assert record.no_show is None
    assert not await redis.zscore(keys.WATCHDOGS, "agent:SCL_sup1")  # the watchdog is off
    left = participant_left_event(room="call-sup1", identity="sip_SCL_sup1")
    assert (await post_livekit(router, left)).status == 200
    ended = await _until(redis, "SCL_sup1", lambda r: r.status == "completed")
    assert ended.ended_by == "caller"
    assert ended.disconnect_reason == "CLIENT_INITIATED"
    assert ended.duration_s is not None
    assert ended.duration_s >= 0
    assert standin.removals.empty()  # no policy ran


async def test_a_no_show_agent_is_replaced_by_its_fallback_exactly_once(live, redis):
    router, standin = live
    fallback = await create_agent(router, name="Backup", livekitAgentName="backup-agent")
    agent = await create_agent(
        router, joinTimeoutS=2, noShow="fallback_agent", fallbackAgentId=fallback["id"]
    )
    await import_number(router, e164=DIALED, agentId=agent["id"])
    standin.no_worker.add("support-agent")  # dispatched, never joins
    join = sip_join_event(call_id="SCL_sup2", room="call-sup2", dialed=DIALED)
    started = time.monotonic()
    assert (await post_livekit(router, join)).status == 200
    record = await _until(redis, "SCL_sup2", lambda r: r.agent_joined_at is not None)
    waited = time.monotonic() - started
    print(f"\ncaller waited {waited:.2f} s for the fallback agent (joinTimeoutS 2)")
    assert record.no_show == "fallback_agent"
    assert record.agent_name == "backup-agent"
    assert [d.agent_name for d in standin.dispatch_log] == ["support-agent", "backup-agent"]
    assert [d.dispatch_id for d in standin.deleted] == [record.dispatch_id]  # first withdrawn
    meta = standin.dispatch_log[1].metadata
    assert f'"agentId":"{fallback["id"]}"' in meta
    assert '"livekitAgentName":"backup-agent"' in meta
    assert "agent_no_show" in " ".join(record.notes)
    assert waited < 2 + 3  # the timeout, plus a tick (about a second) and the fallback's join


async def test_when_the_fallback_does_not_join_either_the_caller_is_hung_up(live, redis):
    router, standin = live
    fallback = await create_agent(
        router, name="Backup", livekitAgentName="backup-agent", joinTimeoutS=2
    )
    agent = await create_agent(
        router, joinTimeoutS=2, noShow="fallback_agent", fallbackAgentId=fallback["id"]
    )
    await import_number(router, e164=DIALED, agentId=agent["id"])
    standin.no_worker |= {"support-agent", "backup-agent"}
    join = sip_join_event(call_id="SCL_sup3", room="call-sup3", dialed=DIALED)
    started = time.monotonic()
    assert (await post_livekit(router, join)).status == 200
    removed = await asyncio.wait_for(standin.removals.get(), 15)
    waited = time.monotonic() - started
    print(f"\ncaller hung up after {waited:.2f} s (two no-shows of 2 s)")
    assert removed.identity == "sip_SCL_sup3"
    ended = await _until(redis, "SCL_sup3", lambda r: r.status == "completed")
    assert ended.no_show == "hangup"
    assert ended.ended_by == "router"
    assert ended.disconnect_reason == "PARTICIPANT_REMOVED"
    assert len(standin.dispatch_log) == 2
    assert waited < 2 * 2 + 4


async def test_a_caller_who_left_before_the_dispatch_gets_none(live, redis, aiohttp_server):
    """The caller hangs up while the pre-call webhook is still thinking: no agent is sent
    into the empty room; the call is recorded abandoned with the time the caller waited."""

    router, standin = live
    asked, answer = asyncio.Event(), asyncio.Event()

    async def precall(request: web.Request) -> web.Response:
        asked.set()
        await answer.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", precall)
    server = await aiohttp_server(app)
    hook = {"url": str(server.make_url("/hook")), "secret": WHSEC, "timeoutMs": 5000}
    agent = await create_agent(router, webhooks={"preCall": hook})
    await import_number(router, e164=DIALED, agentId=agent["id"])
    join = sip_join_event(call_id="SCL_sup4", room="call-sup4", dialed=DIALED)
    assert (await post_livekit(router, join)).status == 200
    await asyncio.wait_for(asked.wait(), 10)
    left = participant_left_event(room="call-sup4", identity="sip_SCL_sup4")
    assert (await post_livekit(router, left)).status == 200
    gone = keys.caller_gone("call-sup4")
    await wait_key(redis, gone, lambda: redis.exists(gone), 10)
    answer.set()
    record = await wait_record(redis, "SCL_sup4", status="abandoned")
    assert "the caller left after" in (record.error or "")
    assert standin.dispatch_log == []


async def test_a_room_that_finishes_ends_the_call(live, redis):
    router, _ = live
    agent = await create_agent(router)
    await import_number(router, e164=DIALED, agentId=agent["id"])
    join = sip_join_event(call_id="SCL_sup5", room="call-sup5", dialed=DIALED)
    assert (await post_livekit(router, join)).status == 200
    await _until(redis, "SCL_sup5", lambda r: r.agent_joined_at is not None)
    agent_left = participant_left_event(
        room="call-sup5", identity="agent-x", kind=api.ParticipantInfo.Kind.AGENT
    )
    assert (await post_livekit(router, agent_left)).status == 200
    await _until(redis, "SCL_sup5", lambda r: r.agent_left_at is not None)
    assert (await post_livekit(router, room_finished_event(room="call-sup5"))).status == 200
    ended = await _until(redis, "SCL_sup5", lambda r: r.status == "completed")
    assert ended.ended_by == "agent"


async def test_a_watchdog_claimed_by_a_worker_that_died_fires_once_for_another(
    make_router, twirp, redis
):
    """Two workers race for the due watchdog: one claims it and dies before acting (a kill
    -9 between claim and work); the timer comes due again after the claim and the other
    worker runs the policy — one fallback dispatch in all."""
    router = await make_router(worker=False)
    standin = twirp[0]
    fallback = await create_agent(router, name="Backup", livekitAgentName="backup-agent")
    agent = await create_agent(
        router, joinTimeoutS=2, noShow="fallback_agent", fallbackAgentId=fallback["id"]
    )
    await import_number(router, e164=DIALED, agentId=agent["id"])
    svc = services_of(router)

    join = sip_join_event(call_id="SCL_sup6", room="call-sup6", dialed=DIALED)

    event = to_event(as_received(join), int(time.time() * 1000))
    record = await direct.handle_join(svc, event, 1)
    assert record is not None
    assert record.status == "dispatched"
    # Due now: both workers see it; the first to claim it "dies" before acting.
    await redis.zadd(keys.WATCHDOGS, {"agent:SCL_sup6": time.time() - 1})
    dead, alive = Worker(svc, timer_claim_s=1.0), Worker(svc, timer_claim_s=1.0)
    claimed = await dead._claim_timer(
        keys=[keys.WATCHDOGS], args=[b"agent:SCL_sup6", time.time(), time.time() + 1.0]
    )
    assert claimed == 1
    assert await alive.tick() == 0  # claimed: not due for the other
    async with asyncio.timeout(10):
        while not await alive.tick():  # noqa: ASYNC110 (polls Redis's own due time)
            await asyncio.sleep(0.2)
    assert await asyncio.gather(alive.tick(), dead.tick()) == [0, 0]
    after = await CallStore(redis).get("SCL_sup6")
    assert after is not None
    assert after.no_show == "fallback_agent"
    assert [d.agent_name for d in standin.dispatch_log] == ["support-agent", "backup-agent"]


async def test_the_lifecycle_webhook_hears_the_join_the_no_show_and_the_end(
    live, redis, aiohttp_server
):
    """call.agent_joined, call.no_show and call.ended reach the agent's lifecycle webhook
    as the other events do (Standard Webhooks signed, one id per call and event)."""

    router, standin = live
    heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        heard.put_nowait(Webhook(WHSEC).verify(body, dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/life", receive)
    server = await aiohttp_server(app)
    hooks = {"lifecycle": {"url": str(server.make_url("/life")), "secret": WHSEC}}
    fallback = await create_agent(
        router, name="Backup", livekitAgentName="backup-agent", webhooks=hooks
    )
    agent = await create_agent(
        router, joinTimeoutS=2, noShow="fallback_agent", fallbackAgentId=fallback["id"],
        webhooks=hooks,
    )  # fmt: skip
    await import_number(router, e164=DIALED, agentId=agent["id"])
    standin.no_worker.add("support-agent")
    join = sip_join_event(call_id="SCL_sup7", room="call-sup7", dialed=DIALED)
    assert (await post_livekit(router, join)).status == 200
    types = []
    async with asyncio.timeout(20):
        while len(types) < 3:
            event = await heard.get()
            types.append(event["type"])
    assert types == ["call.dispatched", "call.no_show", "call.agent_joined"]
    left = participant_left_event(room="call-sup7", identity="sip_SCL_sup7")
    assert (await post_livekit(router, left)).status == 200
    async with asyncio.timeout(20):
        ended = await heard.get()
    assert ended["type"] == "call.ended"
    assert ended["data"]["ended_by"] == "caller"
    assert ended["data"]["no_show"] == "fallback_agent"
    assert ended["data"]["time_to_agent_ms"] is not None


@pytest.mark.parametrize("first_policy", ["transfer", "fallback_agent"])
async def test_a_no_show_sends_the_caller_to_a_human_line(live, redis, first_policy):
    """noShow transfer (or after a fallback that did not join either): LiveKit transfers the
    SIP caller (TransferSIPParticipant, with the SIP call grant the stand-in checks); the
    caller then leaves the room and the call ends by the router's hand."""
    router, standin = live
    fields: dict[str, Any] = {"transferTo": "tel:+14155550999", "joinTimeoutS": 2}
    if first_policy == "fallback_agent":
        fallback = await create_agent(
            router, name="Backup", livekitAgentName="backup-agent", joinTimeoutS=2
        )
        fields |= {"noShow": "fallback_agent", "fallbackAgentId": fallback["id"]}
        standin.no_worker.add("backup-agent")
    else:
        fields["noShow"] = "transfer"
    agent = await create_agent(router, **fields)
    await import_number(router, e164=DIALED, agentId=agent["id"])
    standin.no_worker.add("support-agent")
    call_id = f"SCL_tr_{first_policy}"
    join = sip_join_event(call_id=call_id, room=f"call-{call_id}", dialed=DIALED)
    started = time.monotonic()
    assert (await post_livekit(router, join)).status == 200
    transfer = await asyncio.wait_for(standin.transfers.get(), 20)
    waited = time.monotonic() - started
    print(f"\n{first_policy}: caller sent to the human line after {waited:.2f} s")
    assert transfer.transfer_to == "tel:+14155550999"
    assert transfer.participant_identity == f"sip_{call_id}"
    ended = await _until(redis, call_id, lambda r: r.status == "completed")
    assert ended.no_show == "transfer"
    assert ended.ended_by == "router"
    assert standin.removals.empty()  # transferred, not hung up


async def test_a_no_show_policy_needs_what_it_names(live):
    router, _ = live
    refused = await router.post(
        "/v1/agents",
        json={"name": "x", "livekitAgentName": "x", "noShow": "transfer"},
        headers={"Authorization": "Bearer test-admin-token"},
    )
    assert (await refused.json())["field"] == "transferTo"
    for bad in ({"joinTimeoutS": 1}, {"joinTimeoutS": 61}, {"transferTo": "+14155550999"}):
        resp = await router.post(
            "/v1/agents",
            json={"name": "x", "livekitAgentName": "x", **bad},
            headers={"Authorization": "Bearer test-admin-token"},
        )
        assert resp.status == 400, bad
        assert (await resp.json())["field"] in ("joinTimeoutS", "transferTo")


async def test_the_concurrency_limit_holds_exactly_under_fifty_simultaneous_calls(
    make_router, redis
):
    """50 calls join at once across two workers with the organization's maxConcurrentCalls
    at 10: exactly 10 are dispatched and 40 rejected politely with reason concurrency_limit;
    when one ends, the next call is admitted."""
    router = await make_router()
    await make_router()  # a second router: its worker consumes the same stream
    agent = await create_agent(router)
    await import_number(router, e164=DIALED, agentId=agent["id"])
    limited = await router.patch(
        "/v1/organizations/default", json={"maxConcurrentCalls": 10},
        headers={"Authorization": "Bearer test-admin-token"},
    )  # fmt: skip
    assert limited.status == 200
    joins = [
        post_livekit(
            router, sip_join_event(call_id=f"SCL_cc{i}", room=f"call-cc{i}", dialed=DIALED)
        )
        for i in range(50)
    ]
    assert {r.status for r in await asyncio.gather(*joins)} == {200}
    found = [await wait_record(redis, f"SCL_cc{i}", limit_s=30) for i in range(50)]
    statuses = sorted(r.status for r in found)
    assert statuses.count("dispatched") == 10
    assert statuses.count("rejected") == 40
    rejected = [r for r in found if r.status == "rejected"]
    assert all((r.reject_reason or "").startswith("concurrency_limit") for r in rejected)
    # One dispatched call ends: its place is free for the next caller.
    ended = next(r for r in found if r.status == "dispatched")
    left = participant_left_event(room=ended.room or "", identity=ended.participant_identity or "")
    assert (await post_livekit(router, left)).status == 200
    await _until(redis, ended.call_id, lambda r: r.status == "completed")
    again = sip_join_event(call_id="SCL_cc_next", room="call-cc-next", dialed=DIALED)
    assert (await post_livekit(router, again)).status == 200
    assert (await wait_record(redis, "SCL_cc_next")).status == "dispatched"


async def test_an_overflow_agent_takes_the_calls_over_an_agents_limit(live, redis):
    router, standin = live
    spare = await create_agent(router, name="Spare", livekitAgentName="spare-agent")
    agent = await create_agent(router, maxConcurrentCalls=1)
    await import_number(
        router, e164=DIALED, agentId=agent["id"], overflow="overflow_agent",
        overflowAgentId=spare["id"],
    )  # fmt: skip
    for i in range(2):
        join = sip_join_event(call_id=f"SCL_ov{i}", room=f"call-ov{i}", dialed=DIALED)
        assert (await post_livekit(router, join)).status == 200
        await wait_record(redis, f"SCL_ov{i}")
    assert [d.agent_name for d in standin.dispatch_log] == ["support-agent", "spare-agent"]
    second = await wait_record(redis, "SCL_ov1")
    assert second.status == "dispatched"
    assert "concurrency_limit" in " ".join(second.notes)


PLATFORM = "AC" + "0" * 32  # twilio_form's AccountSid: the platform's account


async def _twilio_router(make_router: Any, aiohttp_server: Any, **config: Any) -> Any:
    """Twilio's REST stand-in for the platform's account, and a router bridging Twilio calls
    that updates them there."""
    twilio = TwilioRestStandIn(PLATFORM, TWILIO_TOKEN)
    server = await aiohttp_server(twilio.app())
    router = await make_router(
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN, LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
        TWILIO_API_BASE_URL=str(server.make_url("/2010-04-01")), **config,
    )  # fmt: skip
    return twilio, router


async def _bridged_call(router: Any, call_sid: str, sip_call_id: str) -> None:
    """A Twilio webhook call, then its bridged leg's join in LiveKit with the correlation id
    the TwiML carried (room ``call-<last part of the SIP call id>``)."""
    twiml = await (await post_twilio(router, twilio_form(call_sid))).text()
    found = re.search(r"X-Router-Call=([^<]+)</Sip>", twiml)
    assert found, twiml
    room = "call-" + sip_call_id.removeprefix("SCL_")
    headers = {"X-Router-Call": unquote(found.group(1))}
    join = sip_join_event(call_id=sip_call_id, room=room, headers=headers)
    assert (await post_livekit(router, join)).status == 200


async def test_a_twilio_webhook_call_with_a_no_show_is_sent_to_the_line_by_twilio(
    make_router, twirp, redis, aiohttp_server
):
    """A call bridged from the Twilio webhook: the no-show's transfer is Twilio's own (the
    live call updated with TwiML that dials the line, on the platform's account), which
    needs no SIP REFER on any trunk."""

    twilio, router = await _twilio_router(make_router, aiohttp_server, TWILIO_ACCOUNT_SID=PLATFORM)
    standin = twirp[0]
    agent = await create_agent(
        router, joinTimeoutS=2, noShow="transfer", transferTo="tel:+14155550999"
    )
    await import_number(router, e164=DIALED, agentId=agent["id"])
    standin.no_worker.add("support-agent")
    call_sid = "CA" + "b" * 32
    await _bridged_call(router, call_sid, "SCL_twl")
    sid, form = await asyncio.wait_for(twilio.call_updates.get(), 15)
    assert sid == call_sid
    assert form == {"Twiml": "<Response><Dial><Number>+14155550999</Number></Dial></Response>"}
    assert standin.transfers.empty()  # not a REFER through LiveKit
    # Twilio drops its leg to LiveKit: the call ends by the router's hand.
    left = participant_left_event(room="call-twl", identity="sip_SCL_twl")
    assert (await post_livekit(router, left)).status == 200
    ended = await _until(redis, call_sid, lambda r: r.status == "completed")
    assert ended.no_show == "transfer"
    assert ended.ended_by == "router"


async def test_a_telnyx_call_control_call_with_a_no_show_is_transferred_by_telnyx(
    make_router, twirp, redis, aiohttp_server
):

    telnyx = TelnyxStandIn()
    server = await aiohttp_server(telnyx.app())
    router = await make_router(
        TELNYX_PUBLIC_KEY=TELNYX_PUBLIC, TELNYX_API_KEY=TELNYX_API_KEY,
        TELNYX_API_BASE_URL=str(server.make_url("/v2")), LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )  # fmt: skip
    standin = twirp[0]
    agent = await create_agent(
        router, joinTimeoutS=2, noShow="transfer", transferTo="tel:+14155550999"
    )
    await import_number(router, e164=DIALED, agentId=agent["id"])
    standin.no_worker.add("support-agent")
    assert (await post_telnyx_json(router, call_initiated("v3:ctrl-ns"))).status == 200
    _, action, command = await asyncio.wait_for(telnyx.commands.get(), 10)  # the bridge
    assert action == "transfer"
    [header] = command["custom_headers"]
    join = sip_join_event(
        call_id="SCL_tlx", room="call-tlx", headers={"X-Router-Call": header["value"]}
    )
    assert (await post_livekit(router, join)).status == 200
    call_id, action, command = await asyncio.wait_for(telnyx.commands.get(), 15)
    assert (call_id, action, command["to"]) == ("v3:ctrl-ns", "transfer", "+14155550999")
    assert standin.transfers.empty()


async def test_a_carrier_call_over_the_limit_takes_the_numbers_overflow_line(
    make_router, twirp, redis, aiohttp_server
):
    """The number's overflow policy is kept from the carrier call to its LiveKit leg: over
    the organization's limit, a Twilio webhook call is sent to the overflow line by Twilio."""

    twilio, router = await _twilio_router(make_router, aiohttp_server)
    agent = await create_agent(router)
    await import_number(
        router, e164=DIALED, agentId=agent["id"], overflow="transfer",
        overflowTransferTo="tel:+14155550888",
    )  # fmt: skip
    admin = {"Authorization": "Bearer test-admin-token"}
    limited = await router.patch(
        "/v1/organizations/default", json={"maxConcurrentCalls": 1}, headers=admin
    )
    assert limited.status == 200
    first = sip_join_event(call_id="SCL_hold", room="call-hold", dialed=DIALED)
    assert (await post_livekit(router, first)).status == 200
    assert (await wait_record(redis, "SCL_hold")).status == "dispatched"
    call_sid = "CA" + "c" * 32
    await _bridged_call(router, call_sid, "SCL_over")
    sid, form = await asyncio.wait_for(twilio.call_updates.get(), 15)
    assert sid == call_sid
    assert "+14155550888" in form["Twiml"]
    record = await wait_record(redis, call_sid, status="rejected")
    assert (record.reject_reason or "").startswith("concurrency_limit")


async def test_a_call_whose_end_was_never_heard_is_ended_by_the_room_check(live, redis):
    """The caller's participant_left and room_finished are lost: the periodic check asks
    LiveKit for the live calls' rooms (ListRooms, with the roomList grant) and ends the call
    whose room is gone — freeing its place under maxConcurrentCalls."""

    router, standin = live
    agent = await create_agent(router)
    await import_number(router, e164=DIALED, agentId=agent["id"])
    join = sip_join_event(call_id="SCL_lost", room="call-lost", dialed=DIALED)
    assert (await post_livekit(router, join)).status == 200
    await _until(redis, "SCL_lost", lambda r: r.agent_joined_at is not None)
    svc = services_of(router)
    assert await svc.live.count("all") == 1
    assert await supervise.check_rooms(svc, older_than_s=0) == 0  # the room is there
    standin.gone_rooms.add("call-lost")
    assert await supervise.check_rooms(svc, older_than_s=0) == 1
    ended = await _until(redis, "SCL_lost", lambda r: r.status == "completed")
    assert ended.ended_by == "unknown"
    assert ended.disconnect_reason == "ROOM_GONE"
    assert await svc.live.count("all") == 0


def test_the_cli_trace_tells_what_followed_the_dispatch():
    record = CallRecord(
        call_id="SCL_tr", provider="livekit", status="completed",
        received_at="2026-12-04T10:00:00.000Z", decided_at="2026-12-04T10:00:00.050Z",
        dispatch_id="AD_1", room="call-tr",
        agent_joined_at="2026-12-04T10:00:02.050Z", timings_ms={"toAgent": 2000.0},
        no_show="fallback_agent", ended_at="2026-12-04T10:01:00.000Z", ended_by="caller",
        duration_s=60.0, disconnect_reason="CLIENT_INITIATED",
    )  # fmt: skip
    text = trace(record)
    assert "agent joined 2026-12-04T10:00:02.050Z (2000 ms after dispatch)" in text
    assert "agent no-show: fallback_agent" in text
    assert "ended 2026-12-04T10:01:00.000Z by caller after 60.0 s (CLIENT_INITIATED)" in text


async def test_a_numbers_overflow_policy_needs_what_it_names(live):
    router, _ = live
    agent = await create_agent(router)
    admin = {"Authorization": "Bearer test-admin-token"}
    for bad, field in (
        ({"overflow": "overflow_agent"}, "overflowAgentId"),
        ({"overflow": "transfer"}, "overflowTransferTo"),
        ({"overflowTransferTo": "14155550999"}, "overflowTransferTo"),
        ({"overflow": "overflow_agent", "overflowAgentId": "ag_nobody"}, "overflowAgentId"),
    ):
        resp = await router.post(
            "/v1/phone-numbers/import",
            json={"e164": DIALED, "agentId": agent["id"], **bad},
            headers=admin,
        )
        assert resp.status == 400, bad
        assert (await resp.json())["field"] == field, bad


async def test_a_hang_up_livekit_refuses_is_tried_again(live, redis):
    """Never silence: when LiveKit fails the no-show's hang-up, the watchdog comes back and
    hangs up again."""
    router, standin = live
    agent = await create_agent(router, joinTimeoutS=2)
    await import_number(router, e164=DIALED, agentId=agent["id"])
    standin.no_worker.add("support-agent")
    join = sip_join_event(call_id="SCL_retry", room="call-retry", dialed=DIALED)
    assert (await post_livekit(router, join)).status == 200
    await wait_record(redis, "SCL_retry", status="dispatched")
    standin.fail_next = [503]  # the hang-up's RemoveParticipant
    started = time.monotonic()
    removed = await asyncio.wait_for(standin.removals.get(), 20)
    print(f"\nhung up {time.monotonic() - started:.2f} s after the dispatch, on the retry")
    assert removed.identity == "sip_SCL_retry"
    ended = await _until(redis, "SCL_retry", lambda r: r.status == "completed")
    assert ended.ended_by == "router"
    assert "hang-up failed" in (ended.error or "")
