"""CI: the built wheel, installed in a fresh venv outside the source tree, runs — the
newcomer's path of README's quick start, timed.

Run with that venv's Python from a directory that is not the clone: ``--help`` answers;
``serve`` with nothing set (embedded Valkey, any free port, a first run's data directory)
prints its banner and answers ``/healthz``; the installed CLI, with no token or key given,
creates an agent, imports a number and simulates a forwarded call, which is decided (dry run)
with the rendered metadata; signed Twilio and Telnyx TeXML webhooks for that number are
answered with the packaged TwiML and TeXML bridges; the banner's console link, opened in
headless Chromium, shows that call (a screenshot is kept: ``SCREENSHOT`` or ./console.png);
then SIGTERM, exit 0.
Everything the router reads at run time must be in the wheel.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import router
from router.core.twilio_signing import twilio_signature

where = Path(router.__file__).resolve()
assert "site-packages" in where.parts, f"router imported from the source tree: {where}"
help_text = subprocess.run(
    [sys.executable, "-m", "router", "--help"], capture_output=True, text=True, check=True
).stdout
assert "serve" in help_text, help_text
example = subprocess.run(
    [sys.executable, "-m", "router", "agents", "example"],
    capture_output=True, text=True, check=True,
).stdout
assert "AgentServer" in example, example[:200]  # the example agent ships in the wheel
timings: dict[str, float] = {}
data = Path.cwd() / "data"  # the first run's per-user data directory, kept out of $HOME
TWILIO_TOKEN = "smoke-twilio-auth-token"
SIP_URI = "sip:smoke.sip.livekit.cloud"
telnyx_key = Ed25519PrivateKey.generate()
telnyx_public = telnyx_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
env = {
    **os.environ, "PORT": "0", "REDIS_URL": "", "XDG_DATA_HOME": str(data),
    "ROUTER_ADMIN_TOKEN": "", "LIVEKIT_URL": "", "LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": "",
    "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "LIVEKIT_SIP_URI": SIP_URI,
    "TELNYX_PUBLIC_KEY": base64.b64encode(telnyx_public).decode(),
}  # fmt: skip
started = time.monotonic()
log = (Path.cwd() / "serve.log").open("w")
serve = subprocess.Popen(
    [sys.executable, "-m", "router", "serve"],
    env=env,
    stdout=subprocess.PIPE,
    stderr=log,
    text=True,
)
assert serve.stdout is not None
console = None
for line in serve.stdout:
    if line.strip().startswith("console:"):
        console = line.split(":", 1)[1].strip()
        break
assert console and "/console#token=" in console, f"no banner console link: {console}"
timings["serve to banner"] = time.monotonic() - started
base = console.split("/console")[0]
with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
    body = json.loads(resp.read())
assert body == {"status": "ok"}, body


def cli(*args: str) -> str:
    begun = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "router", *args],
        env={**env, "ROUTER_URL": base},  # the token and the LiveKit key: the first run's files
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    timings[" ".join(args[:2])] = time.monotonic() - begun
    return done.stdout


cli("agents", "create", "--name", "Support", "--livekit-agent-name", "support")
template = '{"prompt": "Forwarded by {{forwardedFromNumber}}"}'
cli("numbers", "import", "+12015550123", "--agent", "support", "--template", template)
trace = cli(
    "calls", "simulate", "--to", "+12015550123",
    "--diversion", "<sip:+16175550177@pbx.example.com>;reason=unconditional",
)  # fmt: skip
assert "status: dry_run" in trace, trace
assert '"prompt": "Forwarded by +16175550177"' in trace, trace
call_id = trace.split()[1]


def carrier_answer(path: str, form: dict[str, str], headers: dict[str, str]) -> str:
    begun = time.monotonic()
    request = urllib.request.Request(
        f"{base}{path}",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        answer: str = resp.read().decode()
    timings[path] = time.monotonic() - begun
    return answer


# The carriers' answers come from templates/ (router.templates in the wheel).
twilio_form = {"CallSid": "CAsmoke0001", "From": "+14155550100", "To": "+12015550123"}
twiml = carrier_answer(
    "/webhooks/twilio/voice",
    twilio_form,
    {"X-Twilio-Signature": twilio_signature(
        TWILIO_TOKEN, f"{base}/webhooks/twilio/voice", twilio_form.items()
    )},
)  # fmt: skip
assert "<Dial" in twiml, twiml
assert "smoke.sip.livekit.cloud" in twiml, twiml
texml_form = {"CallSid": "v3:smoke0001", "From": "+14155550100", "To": "+12015550123"}
stamp = str(int(time.time()))
signed = stamp.encode() + b"|" + urllib.parse.urlencode(texml_form).encode()
texml = carrier_answer(
    "/webhooks/telnyx",
    texml_form,
    {"telnyx-timestamp": stamp,
     "telnyx-signature-ed25519": base64.b64encode(telnyx_key.sign(signed)).decode()},
)  # fmt: skip
assert "<Dial" in texml, texml
assert "smoke.sip.livekit.cloud" in texml, texml

browser = shutil.which("chromium") or shutil.which("chromium-browser")
assert browser, "headless Chromium is needed (.ci/run installs it)"
shot = Path(os.environ.get("SCREENSHOT") or Path.cwd() / "console.png")
flags = [
    browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--hide-scrollbars", "--virtual-time-budget=5000",
]  # fmt: skip
begun = time.monotonic()
dom = subprocess.run(
    [*flags, f"--user-data-dir={Path.cwd() / 'profile1'}", "--dump-dom", console],
    capture_output=True, text=True, timeout=90, check=True,
).stdout  # fmt: skip
assert call_id in dom, f"the console does not show {call_id}"
subprocess.run(
    [*flags, f"--user-data-dir={Path.cwd() / 'profile2'}", "--window-size=1280,720",
     f"--screenshot={shot}", console],
    capture_output=True, timeout=90, check=True,
)  # fmt: skip
assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
timings["console in Chromium"] = time.monotonic() - begun
serve.send_signal(signal.SIGTERM)
serve.communicate(timeout=20)
assert serve.returncode == 0
timings["total"] = time.monotonic() - started
print(
    f"wheel smoke: router {where.parent}: --help, serve, CLI, simulate {call_id}, "
    "TwiML, TeXML, console ok"
)
print("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()))
print(f"  console screenshot: {shot}")
