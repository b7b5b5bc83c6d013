"""A LiveKit SIP call routed end to end: signed webhook → stream → worker → CreateDispatch."""

from __future__ import annotations

import asyncio
import json

from router.web import state
from router.worker.consumer import Consumer
from router.worker.entries import Worker
from tests.conftest import (
    ADMIN,
    import_number,
    post_livekit,
    services_of,
    setup_number,
    sip_join_event,
    wait_record,
)


async def test_direct_call_is_dispatched_with_rendered_metadata(router, twirp, redis):
    standin, _ = twirp
    agent, row = await setup_number(router)
    resp = await post_livekit(router, sip_join_event(call_id="SCL_direct"))
    assert resp.status == 200
    assert (await resp.json())["queued"] is True

    req = await asyncio.wait_for(standin.dispatches.get(), 10)
    assert req.agent_name == "support-agent"
    assert req.room == "call-room-1"
    meta = json.loads(req.metadata)
    assert meta["caller"] == "+14155550100"
    assert meta["dialed"] == "+12015550123"
    assert meta["forwardedFrom"] is None  # whole-token null stays null
    assert meta["greeting"] == (
        f"Call SCL_direct via livekit on {row['id']} / {agent['id']} (Front desk)"
    )
    assert meta["nested"] == {"list": ["Front desk", 7, True, None]}
    assert meta["{{callerNumber}}"] == "keys pass through"
    assert meta["agent"]["prompt"] == "Be kind"
    assert meta["agent"]["tools"] == [{"name": "lookup"}]
    assert meta["sip"]["trunkId"] == "ST_trunk1"

    record = await wait_record(redis, "SCL_direct")
    assert record.status == "dispatched"
    assert record.dispatch_id == "AD_1"
    assert record.matched_rule == "dialed_number"
    api_view = await (await router.get("/v1/calls/SCL_direct", headers=ADMIN)).json()
    assert api_view["status"] == "dispatched"
    assert api_view["phoneNumberId"] == row["id"]
    assert api_view["metadata"]["caller"] == "+14155550100"
    assert "decide" in api_view["timingsMs"]


async def test_forwarded_call_via_diversion_reports_the_original_number(router, twirp, redis):
    standin, _ = twirp
    await setup_number(router)
    diversion = (
        "<sip:+13125550188@carrier.example;user=phone>;reason=no-answer;counter=1,"
        "<sip:+16175550177@pbx.example>;reason=unconditional;counter=1"
    )
    event = sip_join_event(call_id="SCL_fwd", headers={"Diversion": diversion})
    assert (await post_livekit(router, event)).status == 200
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    # RFC 5806: the bottom-most entry is the first redirection.
    assert meta["forwardedFrom"] == "+16175550177"
    assert [h["number"] for h in meta["forwardingChain"]] == ["+16175550177", "+13125550188"]
    record = await wait_record(redis, "SCL_fwd")
    assert record.forwarded_from_source == "diversion"


async def test_forwarded_call_via_history_info_with_cause(router, twirp):
    standin, _ = twirp
    await setup_number(router)
    history = (
        "<sip:+16175550177@biz.example>;index=1,"
        "<sip:+13125550188@carrier.example;cause=302>;index=1.1;mp=1,"
        "<sip:+12015550123@router.example;cause=408>;index=1.1.1;mp=1.1"
    )
    event = sip_join_event(call_id="SCL_hi", headers={"History-Info": history})
    assert (await post_livekit(router, event)).status == 200
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert meta["forwardedFrom"] == "+16175550177"
    assert [h["reason"] for h in meta["forwardingChain"]] == ["unconditional", "no-answer"]


async def test_national_format_dialed_number_matches_the_e164_row(router, twirp):
    standin, _ = twirp
    await setup_number(router)
    event = sip_join_event(call_id="SCL_nat", dialed="(201) 555-0123", caller="4155550100")
    assert (await post_livekit(router, event)).status == 200
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert meta["dialed"] == "+12015550123"
    assert meta["caller"] == "+14155550100"


async def test_unknown_number_is_hung_up_and_recorded(router, twirp, redis):
    standin, _ = twirp
    event = sip_join_event(call_id="SCL_unknown", dialed="+12015550999")
    assert (await post_livekit(router, event)).status == 200
    removal = await asyncio.wait_for(standin.removals.get(), 10)
    assert (removal.room, removal.identity) == ("call-room-1", "sip_SCL_unknown")
    record = await wait_record(redis, "SCL_unknown")
    assert record.status == "rejected"
    assert record.reject_reason is not None
    assert record.reject_reason.startswith("unknown_number")
    assert standin.dispatch_log == []


async def test_outbound_only_number_is_hung_up(router, twirp, redis):
    standin, _ = twirp
    await import_number(router, e164="+12015550123", direction="outbound", sipTrunkId="ST_1")
    assert (await post_livekit(router, sip_join_event(call_id="SCL_out"))).status == 200
    await asyncio.wait_for(standin.removals.get(), 10)
    record = await wait_record(redis, "SCL_out")
    assert record.reject_reason is not None
    assert record.reject_reason.startswith("outbound_only")


async def test_template_only_number_without_default_agent_is_not_ready(router, twirp, redis):
    standin, _ = twirp
    await import_number(router, e164="+12015550123", dispatchMetadataTemplate={"a": 1})
    assert (await post_livekit(router, sip_join_event(call_id="SCL_nr"))).status == 200
    await asyncio.wait_for(standin.removals.get(), 10)
    record = await wait_record(redis, "SCL_nr")
    assert record.reject_reason is not None
    assert record.reject_reason.startswith("not_ready")


async def test_template_only_number_dispatches_the_default_agent(make_router, twirp):
    standin, _ = twirp
    router = await make_router(ROUTER_DEFAULT_AGENT_NAME="fallback-agent")
    await import_number(router, e164="+12015550123", dispatchMetadataTemplate={"x": "{{callId}}"})
    assert (await post_livekit(router, sip_join_event(call_id="SCL_def"))).status == 200
    req = await asyncio.wait_for(standin.dispatches.get(), 10)
    assert req.agent_name == "fallback-agent"
    assert json.loads(req.metadata)["x"] == "SCL_def"


async def test_duplicate_webhook_delivery_dispatches_once(make_router, twirp, redis):
    standin, _ = twirp
    ingress = await make_router(worker=False)
    await setup_number(ingress)
    event = sip_join_event(call_id="SCL_dup")
    first = await (await post_livekit(ingress, event)).json()
    second = await (await post_livekit(ingress, event)).json()
    assert (first["queued"], second["duplicate"]) == (True, True)
    # Same call, new event id (a retried join): queued, but decided once, by the call id.
    again = sip_join_event(call_id="SCL_dup", event_id="EV_other")
    assert (await (await post_livekit(ingress, again)).json())["queued"] is True
    sentinel = sip_join_event(call_id="SCL_sentinel", room="room-2")
    assert (await post_livekit(ingress, sentinel)).status == 200

    # One slot: entries are handled in stream order, so once the sentinel is recorded every
    # entry before it has been handled and acknowledged.
    app = ingress.app
    svc = services_of(ingress)
    consumer = Consumer(app[state.REDIS], Worker(svc).handle_entry, concurrency=1)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await wait_record(redis, "SCL_sentinel")
    stop.set()
    await task
    assert [d.room for d in standin.dispatch_log] == ["call-room-1", "room-2"]
    assert consumer.processed == 3


async def test_livekit_rejecting_the_dispatch_hangs_up_and_records_failure(router, twirp, redis):
    standin, _ = twirp
    await setup_number(router)
    standin.fail_next = [400]
    assert (await post_livekit(router, sip_join_event(call_id="SCL_400"))).status == 200
    await asyncio.wait_for(standin.removals.get(), 10)
    record = await wait_record(redis, "SCL_400")
    assert record.status == "failed"
    assert record.error is not None
    assert "400" in record.error


async def test_livekit_5xx_is_retried_until_dispatched(router, twirp, redis):
    standin, _ = twirp
    await setup_number(router)
    standin.fail_next = [503, 500]
    assert (await post_livekit(router, sip_join_event(call_id="SCL_503"))).status == 200
    await asyncio.wait_for(standin.dispatches.get(), 10)
    record = await wait_record(redis, "SCL_503")
    assert record.status == "dispatched"


async def test_wrong_api_secret_is_refused_by_livekit_and_recorded(make_router, twirp, redis):
    """Our JWT is what the stand-in's TokenVerifier checks: a wrong secret fails for real."""
    standin, _ = twirp
    router = await make_router(LIVEKIT_API_SECRET="another-secret-long-enough-for-hs256-xyz")
    await setup_number(router)
    event = sip_join_event(call_id="SCL_badjwt")
    resp = await post_livekit(router, event, secret="another-secret-long-enough-for-hs256-xyz")
    assert resp.status == 200
    record = await wait_record(redis, "SCL_badjwt")
    assert record.status == "failed"
    assert record.error is not None
    assert "401" in record.error
    assert standin.dispatch_log == []


async def test_dry_run_mode_records_without_calling_livekit(make_router, twirp, redis):
    standin, _ = twirp
    router = await make_router(LIVEKIT_URL=None)
    await setup_number(router)
    assert (await post_livekit(router, sip_join_event(call_id="SCL_dry"))).status == 200
    record = await wait_record(redis, "SCL_dry")
    assert record.status == "dry_run"
    assert record.dispatch_id == "dry-run"
    assert record.metadata is not None
    assert record.metadata["caller"] == "+14155550100"
    assert standin.requests == 0


async def test_a_truncated_history_info_is_marked_in_the_record(router, twirp, redis):
    """LiveKit keeps the last line of a repeated header: History-Info sent one entry per line
    arrives as the current target alone. The record says the chain is cut short."""
    await setup_number(router)
    last_line = "<sip:+12015550123@carrier.example;cause=302>;index=1.1;mp=1"
    event = sip_join_event(call_id="SCL_cut", headers={"History-Info": last_line})
    assert (await post_livekit(router, event)).status == 200
    record = await wait_record(redis, "SCL_cut")
    assert record.chain_truncated is True
    assert record.forwarded_from_number is None
    view = await (await router.get("/v1/calls/SCL_cut", headers=ADMIN)).json()
    assert view["chainTruncated"] is True
