"""``GET /v1/calls/events`` (ops/callstream.py, store/callfeed.py): streams share one Redis
subscription per process, are capped per key, organization and process, end when their key is
revoked, and cannot starve webhooks or the admin API — over real HTTP on a real Valkey."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from router.store import keys
from router.web.state import FEED
from tests.conftest import (
    ADMIN,
    bearer,
    create_agent,
    import_number,
    json_of,
    make_key,
    make_org,
    post_livekit,
    sip_join_event,
    wait_record,
)


async def _subscribers(redis: Any) -> int:
    counts = dict(await redis.pubsub_numsub(keys.CALLS_CHANNEL))
    return int(counts.get(keys.CALLS_CHANNEL.encode(), 0))


async def _open(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    resp = await session.get(url, headers=headers)
    if resp.status == 200:
        assert (await resp.content.readline()).startswith(b": listening")
    return resp


async def _org_with_viewer(router: Any, name: str) -> tuple[str, dict[str, str]]:
    org = await make_org(router, name)
    key = await make_key(router, org["id"], "viewer")
    return org["id"], bearer(key["key"])


async def test_many_streams_of_one_key_hold_one_redis_subscription_and_webhooks_go_on(
    make_router, redis
):
    """The attack of issue 25: 500 streams of one viewer key (caps raised to allow them)
    cost one subscription, and another organization's webhooks and the operator's admin API
    keep answering at once while they are open."""
    router = await make_router(
        ROUTER_MAX_STREAMS=1000, ROUTER_MAX_STREAMS_PER_ORG=1000, ROUTER_MAX_STREAMS_PER_KEY=1000
    )
    org = await make_org(router, "Streamer")
    key = await make_key(router, org["id"], "viewer")
    viewer = bearer(key["key"])
    url = str(router.make_url("/v1/calls/events"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        streams = await asyncio.gather(*(_open(session, url, viewer) for _ in range(500)))
        try:
            assert {s.status for s in streams} == {200}
            assert len(router.app[FEED].listeners) == 500
            assert await _subscribers(redis) == 1
            started = time.monotonic()
            answers = await asyncio.gather(
                *(post_livekit(router, sip_join_event(call_id=f"SCL_busy{i}")) for i in range(100))
            )
            assert [a.status for a in answers] == [200] * 100
            assert (await router.get("/v1/organizations", headers=ADMIN)).status == 200
            # The operator revokes the key: every one of its 500 streams ends.
            revoke = f"/v1/organizations/{org['id']}/api-keys/{key['id']}"
            await json_of(await router.delete(revoke, headers=ADMIN), 200)
            async with asyncio.timeout(10):
                ends = await asyncio.gather(*(s.content.read() for s in streams))
            took = time.monotonic() - started
            print(f"\n500 streams open: 100/100 webhooks 200, the key revoked, every stream ended, "
                  f"in {took:.2f} s")  # fmt: skip
            assert all(b"the API key was revoked" in end for end in ends)
            assert took < 15
        finally:
            for stream in streams:
                stream.close()


async def test_streams_are_capped_per_key_per_organization_and_per_process(make_router):
    router = await make_router(
        ROUTER_MAX_STREAMS=4, ROUTER_MAX_STREAMS_PER_ORG=3, ROUTER_MAX_STREAMS_PER_KEY=2
    )
    org, first = await _org_with_viewer(router, "Capped")
    second = bearer((await make_key(router, org, "viewer"))["key"])
    _, other = await _org_with_viewer(router, "Other")
    url = str(router.make_url("/v1/calls/events"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        held = [await _open(session, url, first), await _open(session, url, first)]
        refused = await _open(session, url, first)
        body = await json_of(refused, 429)
        assert body["code"] == "RATE_LIMITED"
        assert "API key" in body["error"]
        assert refused.headers["Retry-After"] == "5"
        held.append(await _open(session, url, second))  # the organization's third
        body = await json_of(await _open(session, url, second), 429)
        assert "organization" in body["error"]
        held.append(await _open(session, url, other))  # the process's fourth
        body = await json_of(await _open(session, url, ADMIN), 429)
        assert "process" in body["error"]
        assert [s.status for s in held] == [200] * 4
        held[0].close()  # a closed stream gives its place back within a poll
        async with asyncio.timeout(5):
            while len(router.app[FEED].listeners) > 3:  # noqa: ASYNC110 (the feed's own count)
                await asyncio.sleep(0.05)
        again = await _open(session, url, first)
        assert again.status == 200
        for stream in [*held, again]:
            stream.close()


async def test_a_revoked_key_ends_its_open_stream_within_about_a_second(router):
    org, _ = await _org_with_viewer(router, "Revoked")
    key = await make_key(router, org, "viewer")
    resp = await router.get("/v1/calls/events", headers=bearer(key["key"]))
    assert (await resp.content.readline()).startswith(b": listening")
    await resp.content.readline()
    revoked = time.monotonic()
    await json_of(
        await router.delete(f"/v1/organizations/{org}/api-keys/{key['id']}", headers=ADMIN), 200
    )
    async with asyncio.timeout(5):
        lines = [line async for line in resp.content]
    ended = time.monotonic() - revoked
    assert lines[0] == b"event: end\n"
    end = json.loads(lines[1].removeprefix(b"data: "))
    assert end == {"error": "the API key was revoked", "code": "STREAM_ENDED"}
    print(f"\nrevoked key's stream ended {ended:.2f} s after the revocation")
    assert ended < 2.5
    assert router.app[FEED].listeners == {}


async def test_a_stream_still_gets_the_calls_of_its_organization(router, redis):
    resp = await router.get("/v1/calls/events", headers=ADMIN)
    assert (await resp.content.readline()).startswith(b": listening")
    await resp.content.readline()
    assert (await post_livekit(router, sip_join_event(call_id="SCL_seen"))).status == 200
    await wait_record(redis, "SCL_seen")
    async with asyncio.timeout(10):
        assert await resp.content.readline() == b"id: SCL_seen\n"  # the call's id
        assert await resp.content.readline() == b"event: call\n"
        data = json.loads((await resp.content.readline()).removeprefix(b"data: "))
    assert data["callId"] == "SCL_seen"
    resp.close()


async def test_a_stream_whose_client_went_away_gives_its_place_back(router, redis):
    resp = await router.get("/v1/calls/events", headers=ADMIN)
    assert (await resp.content.readline()).startswith(b": listening")
    assert len(router.app[FEED].listeners) == 1
    resp.close()  # the client goes; no event will ever be written to find out
    async with asyncio.timeout(5):  # noticed within a poll (1 s), not at a 15 s keep-alive
        while router.app[FEED].listeners:  # noqa: ASYNC110 (the feed's own count)
            await asyncio.sleep(0.05)
    assert await _subscribers(redis) == 1  # the process's subscription stays


async def test_a_slow_reader_is_ended_instead_of_buffered(router):
    feed = router.app[FEED]
    listener = feed.open(None, None)
    for i in range(listener.queue.maxsize + 1):
        feed.publish(b'{"n": %d}' % i)
    assert listener.lost
    assert listener.queue.qsize() == listener.queue.maxsize
    feed.close(listener)


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
        assert await resp.content.readline() == b"id: SCL_no\n"  # SCL_ok filtered out
        assert await resp.content.readline() == b"event: call\n"
        data = await resp.content.readline()
    assert json.loads(data.removeprefix(b"data: "))["callId"] == "SCL_no"
    resp.close()


async def _event(resp: Any) -> tuple[str, dict[str, Any]]:
    """The next ``call`` event's id and record (comments skipped)."""
    fields: dict[str, str] = {}
    while True:
        line = (await resp.content.readline()).decode().rstrip("\r\n")
        if line.startswith(":"):
            continue
        if not line and "data" in fields:
            return fields.get("id", ""), json.loads(fields["data"])
        name, _, value = line.partition(": ")
        if name:
            fields[name] = value


async def test_a_reconnecting_client_gets_the_calls_it_missed_once(router, redis):
    """``Last-Event-ID``: the calls decided after that one, oldest first, then the live ones,
    none twice; each event's id is its call's."""
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    for call in ("SCL_r1", "SCL_r2", "SCL_r3"):
        assert (
            await post_livekit(router, sip_join_event(call_id=call, room=f"room-{call}"))
        ).status == 200
        await wait_record(redis, call)
    url = str(router.make_url("/v1/calls/events"))
    async with aiohttp.ClientSession() as session:
        resp = await _open(session, url, {**ADMIN, "Last-Event-ID": "SCL_r1"})
        async with asyncio.timeout(10):
            assert [(await _event(resp))[0] for _ in range(2)] == ["SCL_r2", "SCL_r3"]
            event = sip_join_event(call_id="SCL_r4", room="room-SCL_r4")
            assert (await post_livekit(router, event)).status == 200
            call_id, record = await _event(resp)
        assert (call_id, record["callId"]) == ("SCL_r4", "SCL_r4")
        resp.close()
        # An id the router does not know (expired): the live stream only.
        resp = await _open(session, url, {**ADMIN, "Last-Event-ID": "SCL_gone"})
        async with asyncio.timeout(10):
            assert (
                await post_livekit(router, sip_join_event(call_id="SCL_r5", room="r5"))
            ).status == 200
            assert (await _event(resp))[0] == "SCL_r5"
        resp.close()
