"""The Redis client every process uses, with failure behaviour chosen for a call router.

redis-py's default retries a failed command ten times with up to a second of backoff: an
ingress would hold a carrier's webhook for seconds before saying 503. Here a command is
retried twice within ~100 ms, connects time out after 1 s, and reads after 5 s (longer than
any BLOCK/BLPOP slice the worker uses); the worker's loop does its own, longer backoff.
Connections are pooled up to 128 per process; a burst beyond that waits for one.
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

MAX_CONNECTIONS = 128


async def connect_any(url: str, cluster: str = "auto") -> Redis:
    """A client for ``url``: a Redis Cluster client when the server is in cluster mode
    (``cluster`` "auto" asks it; "1"/"0" say so), else ``connect``.

    The cluster client is typed as ``Redis``: it answers every command the router uses the
    same way, and every multi-key command or script stays within one hash slot (``keys``).
    """
    single = connect(url)
    if cluster == "0":
        return single
    if cluster == "auto":
        try:
            info: Any = await single.info("cluster")
        except (ConnectionError, TimeoutError, OSError):
            return single  # not reachable yet: start plain, the worker loop retries
        if not info.get("cluster_enabled"):
            return single
    await single.aclose()
    client = RedisCluster.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        socket_timeout=5,
        socket_connect_timeout=1,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=2),
    )
    return cast(Redis, client)


def where(redis: Any) -> str:
    """The server a client talks to, for log lines: never its password (``***``)."""
    nodes = getattr(redis, "startup_nodes", None)
    if nodes:  # a cluster client: the nodes it started from
        return "redis cluster " + ",".join(sorted(nodes))
    pool = getattr(redis, "connection_pool", None)
    found = getattr(pool, "connection_kwargs", {}) or {}
    secret = ":***@" if found.get("password") else ""
    if "path" in found:
        return f"unix://{found['path']}"
    return f"redis://{secret}{found.get('host', '?')}:{found.get('port', '?')}/{found.get('db', 0)}"


def connect(url: str) -> Redis:
    # A blocking pool: a burst beyond MAX_CONNECTIONS waits (up to 1 s) for a connection
    # instead of failing at once — measured: the default pool answered a burst with
    # MaxConnectionsError, i.e. 503s a carrier would have had to retry.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=1,
        socket_timeout=5,
        socket_connect_timeout=1,
        health_check_interval=10,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=2),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return Redis.from_pool(pool)
