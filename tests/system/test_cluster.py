"""The whole flow on a real three-node Valkey cluster, with sharded streams and two workers."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio.cluster import RedisCluster

from router.server.app import build_app
from router.store import keys
from tests import routerproc
from tests.conftest import (
    count_dispatches,
    create_agent,
    feed_calls,
    import_number,
    make_config,
    wait_drained,
)
from tests.valkey_cluster import valkey_cluster


async def test_cluster_with_sharded_streams_dispatches_every_call_once(twirp):
    standin, livekit_url = twirp
    async with valkey_cluster() as urls:
        config = make_config(LIVEKIT_URL=livekit_url, ROUTER_STREAM_SHARDS=4)
        client = TestClient(TestServer(build_app(config, urls[0], worker=False)))
        await client.start_server()
        everything = await routerproc.worker(urls[1], livekit_url, ROUTER_STREAM_SHARDS="4")
        subset = await routerproc.worker(
            urls[2], livekit_url, ROUTER_STREAM_SHARDS="4", ROUTER_WORKER_SHARDS="1,3"
        )
        try:
            agent = await create_agent(client)
            await import_number(client, e164="+12015550123", agentId=agent["id"])
            calls = 200
            await feed_calls(client, "C", calls)
            async with asyncio.timeout(60):
                await count_dispatches(standin, calls, Counter())
            cluster: Any = RedisCluster.from_url(urls[0])
            try:
                # Every entry of every shard acknowledged: no late duplicate can follow.
                await wait_drained(cluster, standin, [keys.stream(s) for s in range(4)])
                every = Counter(d.room for d in standin.dispatch_log)
                assert (len(every), len(standin.dispatch_log)) == (calls, calls)
                lengths = [await cluster.xlen(keys.stream(s)) for s in range(4)]
                owners = {cluster.get_node_from_key(keys.stream(s)).name for s in range(4)}
            finally:
                await cluster.aclose()
            assert all(n > 0 for n in lengths)  # the calls spread over every shard
            assert len(owners) >= 2  # and the shards over more than one node
        finally:
            for process in (everything, subset):
                await process.stop()
            await client.close()
