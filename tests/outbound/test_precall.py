"""Pre-call webhooks: signed, deadline-bound, able to steer — and lifecycle events delivered."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from aiohttp import web

from router.core.models import PreCallWebhook
from router.outbound import signing
from router.outbound.precall import PreCallRequest, ask
from router.outbound.urlguard import PublicResolver, webhook_session
from router.store import keys
from tests.conftest import (
    ADMIN,
    WHSEC,
    WHSEC_NEW,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_key,
    wait_record,
)
from tests.webhook_receiver import Receiver, spec_verify


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Any:
    rx = Receiver(WHSEC)
    server = await aiohttp_server(rx.app())
    rx.url = str(server.make_url("/pre-call"))  # type: ignore[attr-defined]
    yield rx
    rx.release.set()


async def _agent_with_hook(router: Any, url: str, **hook: Any) -> dict[str, Any]:
    return await create_agent(
        router,
        prompt="Static prompt",
        webhooks={"preCall": {"url": url, "secret": WHSEC, **hook}},
    )


async def _call(router: Any, receiver: Any, call_id: str, **hook: Any) -> dict[str, Any]:
    agent = await _agent_with_hook(router, receiver.url, **hook)
    await import_number(
        router,
        e164="+12015550123",
        agentId=agent["id"],
        label="Desk",
        dispatchMetadataTemplate={"t": 1},
    )
    event = sip_join_event(call_id=call_id, headers={"Diversion": "<sip:+16175550177@c>"})
    assert (await post_livekit(router, event)).status == 200
    return agent


def test_signature_matches_the_published_specification_vector():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = signing.sign_headers(
        [secret], b'{"test": 2432232314}', "msg_p5jXN8AQM9LWM0D4loKWxJek", now=1614265330
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330"


def test_rotation_signs_with_every_secret_and_either_verifies():
    body = b'{"a": 1}'
    headers = signing.sign_headers([WHSEC, WHSEC_NEW], body, signing.message_id())
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert spec_verify(WHSEC, headers, body)
    assert spec_verify(WHSEC_NEW, headers, body)
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    assert not spec_verify(other, headers, body)


async def test_pre_call_gets_the_call_facts_signed_and_can_add_metadata(
    router, receiver, twirp, redis
):
    standin, _ = twirp
    receiver.behaviours.append(
        receiver.answer({"metadata": {"tier": "gold"}, "dynamic_variables": {"name": "Ada"}})
    )
    agent = await _call(router, receiver, "SCL_pre")
    headers, payload = await asyncio.wait_for(receiver.received.get(), 10)
    assert headers["webhook-id"].startswith("msg_")
    assert payload["call_id"] == "SCL_pre"
    assert payload["provider"] == "livekit"
    assert payload["caller_number"] == "+14155550100"
    assert payload["dialed_number"] == "+12015550123"
    assert payload["forwarded_from_number"] == "+16175550177"
    assert payload["forwarding_chain"][0]["number"] == "+16175550177"
    assert payload["agent_id"] == agent["id"]
    assert payload["label"] == "Desk"
    assert payload["metadata"]["t"] == 1
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert meta["tier"] == "gold"
    assert meta["dynamicVariables"] == {"name": "Ada"}
    assert meta["agent"]["prompt"] == "Static prompt"
    record = await wait_record(redis, "SCL_pre")
    assert record.pre_call is not None
    assert record.pre_call.status == "ok"
    assert record.pre_call.http_status == 200
    assert receiver.bad_signatures == 0


async def test_pre_call_can_hand_the_call_to_another_agent(router, receiver, twirp, redis):
    standin, _ = twirp
    other = await create_agent(router, name="Sales", livekitAgentName="sales-agent", prompt="Sell")
    receiver.behaviours.append(receiver.answer({"agent_id": other["id"]}))
    await _call(router, receiver, "SCL_swap")
    req = await asyncio.wait_for(standin.dispatches.get(), 10)
    assert req.agent_name == "sales-agent"
    assert json.loads(req.metadata)["agent"]["prompt"] == "Sell"
    record = await wait_record(redis, "SCL_swap")
    assert record.agent_id == other["id"]


async def test_pre_call_can_reject_the_call(router, receiver, twirp, redis):
    standin, _ = twirp
    receiver.behaviours.append(receiver.answer({"action": "reject", "reason": "blocked caller"}))
    await _call(router, receiver, "SCL_rej")
    await asyncio.wait_for(standin.removals.get(), 10)
    record = await wait_record(redis, "SCL_rej")
    assert record.status == "rejected"
    assert record.reject_reason == "pre_call_rejected: blocked caller"
    assert standin.dispatch_log == []


async def test_a_receiver_that_never_answers_falls_back_on_time(router, receiver, twirp, redis):
    standin, _ = twirp
    receiver.behaviours.append(receiver.never())
    await _call(router, receiver, "SCL_slow", timeoutMs=300)
    req = await asyncio.wait_for(standin.dispatches.get(), 10)
    assert req.agent_name == "support-agent"
    record = await wait_record(redis, "SCL_slow")
    assert record.pre_call is not None
    assert (record.pre_call.status, record.pre_call.fallback) == ("timeout", "static")
    # The deadline is honoured: well under the receiver's "never" (and the 5 s ceiling).
    assert record.pre_call.ms < 2000


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        (Receiver.raw("<html>not json</html>"), "bad_answer"),
        (Receiver.raw('{"action": "explode"}'), "bad_answer"),
        (Receiver.answer({"error": "x"}, status=500), "http_error"),
        (Receiver.answer({}, status=302), "http_error"),
        (Receiver.answer({"agent_id": "ag_missing"}), "unknown_agent"),
        # Nesting bombs: past msgspec's own bound, and deep enough to break a stored record.
        (Receiver.raw('{"metadata":' + '{"a":' * 1200 + "1" + "}" * 1201), "bad_answer"),
        (Receiver.raw('{"metadata":' + '{"a":' * 900 + "1" + "}" * 901), "bad_answer"),
        (
            Receiver.answer({"dynamic_variables": {"a": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}}),
            "bad_answer",
        ),
    ],
)
async def test_bad_answers_fall_back_to_static_routing(
    router, receiver, twirp, redis, behaviour, status
):
    standin, _ = twirp
    receiver.behaviours.append(behaviour)
    await _call(router, receiver, "SCL_bad")
    req = await asyncio.wait_for(standin.dispatches.get(), 10)
    assert req.agent_name == "support-agent"
    record = await wait_record(redis, "SCL_bad")
    assert record.pre_call is not None
    assert (record.pre_call.status, record.pre_call.fallback) == (status, "static")
    calls = await router.get("/v1/calls", headers=ADMIN)  # the record stays readable
    assert calls.status == 200


async def test_last_good_answer_is_reused_when_enabled(router, receiver, twirp, redis):
    standin, _ = twirp
    receiver.behaviours += [
        receiver.answer({"metadata": {"tier": "gold"}}),
        receiver.answer({}, 503),
    ]
    await _call(router, receiver, "SCL_r1", reuseLastAnswerS=60)
    await asyncio.wait_for(standin.dispatches.get(), 10)
    assert (await post_livekit(router, sip_join_event(call_id="SCL_r2"))).status == 200
    meta = json.loads((await asyncio.wait_for(standin.dispatches.get(), 10)).metadata)
    assert meta["tier"] == "gold"
    record = await wait_record(redis, "SCL_r2")
    assert record.pre_call is not None
    assert (record.pre_call.status, record.pre_call.fallback) == ("http_error", "last_answer")


async def test_connection_refused_is_retried_once_then_falls_back(router, twirp, redis):
    standin, _ = twirp
    with socket.socket() as sock:
        # Bound, never listening, held for the whole test: connects are refused, and no other
        # process can take the port meanwhile.
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        agent = await _agent_with_hook(router, f"http://127.0.0.1:{port}/hook")
        await import_number(router, e164="+12015550123", agentId=agent["id"])
        assert (await post_livekit(router, sip_join_event(call_id="SCL_refused"))).status == 200
        await asyncio.wait_for(standin.dispatches.get(), 10)
        record = await wait_record(redis, "SCL_refused")
    assert record.pre_call is not None
    assert (record.pre_call.status, record.pre_call.attempts) == ("connect_error", 2)


async def test_private_addresses_are_refused_at_send_time(make_router, receiver, twirp, redis):
    """A row saved while private addresses were allowed is still refused once they are not."""
    standin, _ = twirp
    lenient = await make_router(worker=False)
    agent = await _agent_with_hook(lenient, receiver.url)
    await import_number(lenient, e164="+12015550123", agentId=agent["id"])
    strict = await make_router(ROUTER_WEBHOOK_ALLOW_PRIVATE=False)
    assert (await post_livekit(strict, sip_join_event(call_id="SCL_ssrf"))).status == 200
    await asyncio.wait_for(standin.dispatches.get(), 10)
    record = await wait_record(redis, "SCL_ssrf")
    assert record.pre_call is not None
    assert record.pre_call.status == "blocked_address"
    assert receiver.received.empty()


async def test_public_resolver_refuses_names_that_resolve_to_private_addresses():
    with pytest.raises(OSError, match="not a public address"):
        await PublicResolver().resolve("localhost", 443, socket.AF_INET)
    request = PreCallRequest(
        call_id="c", provider="livekit", caller_number=None, dialed_number=None,
        forwarded_from_number=None, forwarded_from_withheld=False, forwarding_chain=[],
        phone_number_id=None, agent_id=None, label=None, metadata={},
    )  # fmt: skip
    session = webhook_session(allow_private=False)
    try:
        for url in ("https://10.1.2.3/x", "https://[fd00::1]/x", "https://169.254.169.254/latest"):
            hook = PreCallWebhook(url=url, secret=WHSEC)
            answer, outcome = await ask(
                session, hook, request, received_at_ms=0, allow_private=False
            )
            assert answer is None
            assert outcome.status == "blocked_address"
    finally:
        await session.close()


# ---- lifecycle events -----------------------------------------------------------------------


async def test_lifecycle_event_is_delivered_signed_and_retried_with_the_same_id(
    router, receiver, twirp, redis
):
    receiver.behaviours.append(receiver.answer({}, status=500))  # first attempt fails
    agent = await create_agent(
        router, webhooks={"lifecycle": {"url": receiver.url, "secret": [WHSEC_NEW, WHSEC]}}
    )
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    assert (await post_livekit(router, sip_join_event(call_id="SCL_life"))).status == 200
    first_headers, first = await asyncio.wait_for(receiver.received.get(), 10)
    second_headers, second = await asyncio.wait_for(receiver.received.get(), 10)
    assert first == second
    assert first["type"] == "call.dispatched"
    assert first["data"]["call_id"] == "SCL_life"
    assert first["data"]["dispatch_id"] == "AD_1"
    assert first_headers["webhook-id"] == second_headers["webhook-id"]
    assert receiver.bad_signatures == 0


async def test_lifecycle_delivery_survives_a_worker_restart(make_router, redis):
    rx = Receiver(WHSEC)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # held: refused until it listens, and the port stays ours
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/life"  # nobody listens yet: the first attempt fails
    first = await make_router()
    agent = await create_agent(
        first, webhooks={"lifecycle": {"url": url, "secret": WHSEC, "events": ["call.rejected"]}}
    )
    await import_number(first, e164="+12015550123", agentId=agent["id"], direction="outbound")
    assert (await post_livekit(first, sip_join_event(call_id="SCL_restart"))).status == 200
    await wait_record(redis, "SCL_restart")
    # until the failed first attempt is recorded in Redis
    await wait_key(redis, keys.LIFECYCLE_ITEMS, lambda: _attempted(redis))
    await first.close()  # the worker goes away with the delivery still pending
    runner = web.AppRunner(rx.app())
    await runner.setup()
    await web.SockSite(runner, sock).start()  # the receiver comes up on the held socket
    try:
        await make_router()  # a new worker picks the schedule up from Redis
        _, event = await asyncio.wait_for(rx.received.get(), 15)
    finally:
        await runner.cleanup()
    assert event["type"] == "call.rejected"
    assert event["data"]["call_id"] == "SCL_restart"


async def _attempted(redis: Any) -> bool:
    items = await redis.hvals(keys.LIFECYCLE_ITEMS)
    return any(b'"attempts":1' in item for item in items)


async def test_the_call_record_shows_the_pre_call_outcome(router, receiver, twirp, redis):
    standin, _ = twirp
    await _call(router, receiver, "SCL_view")
    await asyncio.wait_for(standin.dispatches.get(), 10)
    await wait_record(redis, "SCL_view")
    view = await (await router.get("/v1/calls/SCL_view", headers=ADMIN)).json()
    assert view["preCall"]["status"] == "ok"
    assert "preCall" in view["timingsMs"]


def test_an_unpadded_whsec_secret_is_accepted_and_signs_as_the_padded_one():
    """standardwebhooks accepts unpadded base64 secrets; so does saving one."""
    unpadded = WHSEC.rstrip("=")
    assert unpadded != WHSEC
    signing.check_secret(unpadded, field="webhooks.preCall.secret")
    body = b'{"a": 1}'
    headers = signing.sign_headers([unpadded], body, "msg_1", now=1_700_000_000)
    assert headers == signing.sign_headers([WHSEC], body, "msg_1", now=1_700_000_000)
    assert spec_verify(WHSEC, headers, body, tolerance_s=10**10)
