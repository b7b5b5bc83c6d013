"""CI: the built wheel, installed in a fresh venv outside the source tree, runs.

Run with that venv's Python from a directory that is not the clone: ``--help`` answers, and
``serve`` (embedded Valkey, any free port) starts and answers ``/healthz``; then it is stopped
with SIGTERM and must exit 0. Everything the router reads at run time must be in the wheel.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import router

where = Path(router.__file__).resolve()
assert "site-packages" in where.parts, f"router imported from the source tree: {where}"
help_text = subprocess.run(
    [sys.executable, "-m", "router", "--help"], capture_output=True, text=True, check=True
).stdout
assert "serve" in help_text, help_text
data = Path.cwd() / "data"  # the first run's per-user data directory, kept out of $HOME
env = {**os.environ, "PORT": "0", "REDIS_URL": "", "XDG_DATA_HOME": str(data)}
serve = subprocess.Popen(
    [sys.executable, "-m", "router", "serve"],
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
)
assert serve.stderr is not None
port = None
for line in serve.stderr:
    event = json.loads(line)
    if event.get("event") == "listening":
        port = event["port"]
        break
assert port, "serve never said it was listening"
with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
    body = json.loads(resp.read())
assert body == {"status": "ok"}, body
with urllib.request.urlopen(f"http://127.0.0.1:{port}/console", timeout=10) as resp:
    assert b"<html" in resp.read().lower()  # the packaged console page
serve.send_signal(signal.SIGTERM)
out, _ = serve.communicate(timeout=20)
assert serve.returncode == 0
assert "/console#token=" in out, out  # the first run's banner, with the generated token
print(f"wheel smoke: router {where.parent} --help ok, serve /healthz ok, /console ok, SIGTERM ok")
