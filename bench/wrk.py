"""The ingress measured by a compiled load generator: Debian's ``wrk`` (``apt-get install
wrk``), so the ceiling measured is the server's, not the generator's.

wrk (one thread, ``--concurrency`` connections) replays distinct, properly signed LiveKit
``participant_joined`` webhooks from a Lua table read from a file (one ``token<TAB>body`` a
line). Against the router each is sent exactly once and the run ends when the last is
answered (timed by the script on the monotonic clock), so no request is left in flight and the
bench can check that the stream holds exactly the events answered 200. Against the bare
handler the table wraps for a fixed time. wrk's figures come back as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "apt-get install wrk (Debian/Ubuntu), brew install wrk (macOS)"

# ``init`` reads the table and formats every request once, so wrk's own work per request is
# handing out a string (measured: the router's figures rose 3-5 %, bare aiohttp's did not move,
# so the generator's share of the two cores went to the server under test). ``request`` hands
# out each entry once (wrapping only when asked: the bare baseline does not care whether a
# body repeats; wrk's first call only checks the script). Once the table is spent, the
# connections still asking get a path that answers 404 and changes nothing — not another copy
# of the last entry, whose race with the first would leave an event queued but answered
# "duplicate". ``response`` counts the entries' answers and stops the thread when every entry
# was answered; ``done`` prints the figures as JSON.
_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end

local entries = {}
local next_index = 0
local answered = 0
local fresh = 0  -- answers saying the event was queued now (not a duplicate)
local refused = 0  -- entries answered other than 200
local wrap = false
local started = nil
local headers = {["Content-Type"] = "application/webhook+json"}

init = function(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    headers["Authorization"] = line:sub(1, tab - 1)
    entries[#entries + 1] = wrk.format("POST", nil, headers, line:sub(tab + 1))
  end
  wrap = args[2] == "wrap"
end

request = function()
  if started == nil then  -- wrk's first call only checks the script: nothing is sent
    started = now()
    if not wrap then return wrk.format("GET", "/bench-table-spent") end
  end
  next_index = next_index + 1
  if next_index > #entries then
    if wrap then
      next_index = 1
    else  -- the table is spent: what the connections still ask touches nothing (a 404)
      return wrk.format("GET", "/bench-table-spent")
    end
  end
  return entries[next_index]
end

response = function(status, hdrs, body)
  if status == 404 and not wrap then return end  -- past the table
  answered = answered + 1
  if status ~= 200 then refused = refused + 1 end
  if status == 200 and body and body:find('"duplicate":false', 1, true) then
    fresh = fresh + 1
  end
  if not wrap and answered == #entries then
    -- as many answers as entries: the run's own time, then stop
    io.write(string.format('{"spent":%d,"fresh":%d,"refused":%d,"elapsed_s":%.6f}\n',
      answered, fresh, refused, now() - started))
    io.flush()
    wrk.thread:stop()
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkRun:
    rps: float
    requests: int
    ok: int  # answered 2xx (wrk's count)
    fresh: int | None  # answered "queued, not a duplicate" (the router's run only)
    errors: int
    p50_ms: float
    p99_ms: float


def available() -> str | None:
    return shutil.which("wrk")


def write_inputs(out: Path, calls: list[tuple[str, bytes, str]]) -> tuple[Path, Path]:
    script = out / "replay.lua"
    script.write_text(_LUA)
    table = out / "replay.tsv"
    with table.open("wb") as fh:
        for _, body, token in calls:
            fh.write(token.encode() + b"\t" + body + b"\n")
    return script, table


async def run(
    wrk: str,
    url: str,
    script: Path,
    table: Path,
    *,
    seconds: float,
    connections: int,
    wrap: bool,
) -> WrkRun:
    """One wrk run: for ``seconds`` (``wrap``), or until every entry of the table was
    answered once (then ``seconds`` is only the limit)."""
    limit = max(1, round(seconds)) if wrap else 600
    proc = await asyncio.create_subprocess_exec(
        wrk, "-t1", f"-c{connections}", f"-d{limit}s", "--latency",
        "-s", str(script), url, "--", str(table), "wrap" if wrap else "once",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[bytes] = []
    if not wrap:  # wrk's main thread waits out -d: once the table is spent, stop it (SIGINT)
        while line := await proc.stdout.readline():
            seen.append(line)
            if line.startswith(b'{"spent"'):
                proc.send_signal(signal.SIGINT)
                break
    out, err = await proc.communicate()
    text = b"".join(seen).decode() + out.decode()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {err.decode()[-500:]}")
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    figures = next((x for x in lines if "requests" in x), None)
    if figures is None:
        raise RuntimeError(f"wrk printed no summary: {text[-500:]}")
    spent = next((x for x in lines if "spent" in x), None)
    if not wrap and spent is None:
        raise RuntimeError(f"wrk ran out of time before the table was spent ({limit} s)")
    errors = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    requests = spent["spent"] if spent else figures["requests"]
    elapsed = spent["elapsed_s"] if spent else figures["duration_us"] / 1e6
    return WrkRun(
        rps=requests / elapsed,
        requests=requests,
        ok=requests - (spent["refused"] if spent else _non2xx(text)),
        fresh=spent["fresh"] if spent else None,
        errors=errors,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
    )


def _non2xx(text: str) -> int:
    """wrk's own count of answers that were not 2xx/3xx ("Non-2xx or 3xx responses: N")."""
    for row in text.splitlines():
        if "Non-2xx or 3xx responses:" in row:
            return int(row.rsplit(":", 1)[1])
    return 0
