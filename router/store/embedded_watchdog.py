"""Stops the embedded Valkey when the ``serve`` that started it is gone (SIGKILL, OOM).

``python -m router.store.embedded_watchdog SERVE_PID VALKEY_PID``: a process of its own (a
thread would die with ``serve``), importing nothing of the router but ``store.embedded``. It
looks every half second whether its parent is still ``SERVE_PID``; once it is not, it stops the
server as ``serve`` would have (SIGTERM, so the append-only file is flushed) and exits. A
SIGTERM from ``serve`` (which stops the server itself) just ends it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from router.store.embedded import stop_server

POLL_S = 0.5


def main(argv: list[str]) -> int:
    serve, valkey = int(argv[0]), int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches serve, which stops us
    while os.getppid() == serve:
        time.sleep(POLL_S)
    cmdline = Path(f"/proc/{valkey}/cmdline")
    if cmdline.exists() and b"valkey-server" in cmdline.read_bytes():
        stop_server(valkey)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
