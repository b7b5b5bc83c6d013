"""Auto-pipelining: the Redis commands issued in one event-loop turn go out as one pipeline.

A worker has dozens of calls in flight and a web process dozens of requests; each issues its
own small commands (take a lease, release it, acknowledge an entry, enqueue an event). Sent one
by one, every command pays redis-py's whole per-command path (pool checkout, retry wrapper,
timeout, a write and a read). Here callers still ``await`` one command each, but the commands
queued while the loop runs the current batch of callbacks are flushed together: one connection
checkout, one write, one read loop. At most ``in_flight`` (2) pipelines are out at once; what
queues meanwhile goes out as the next one, so batches grow with load (group commit) while an
idle process still sends a lone command at once. (The cap of 2 and the gain are measured in
docs/performance.md.)

``gather`` goes one step further for commands that take many items: the entries acknowledged,
or the calls noted as decided, while a pipeline is being assembled become one XACK / one XADD.

Semantics are unchanged for the caller: each awaits its own reply, and a command's error
(including a connection failure of the whole pipeline) is raised to that command's caller only.
Commands are not a transaction — none of the callers needs one (each multi-key step is a
script). A script whose SHA the server does not know (a restarted or failed-over server) is
loaded once and run again through the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Stage = Callable[[Pipeline], object]
GroupStage = Callable[[Pipeline, list[Any]], object]

MAX_BATCH = 512  # commands per pipeline; a longer queue goes out as several


def evalsha(
    pipe: Pipeline, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
) -> object:
    return pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)


class Batcher:
    def __init__(self, redis: Redis, *, in_flight: int = 2) -> None:
        self.redis = redis
        self.in_flight = in_flight
        self._queue: list[tuple[Stage, asyncio.Future[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self._groups: dict[Hashable, tuple[list[Any], asyncio.Future[Any]]] = {}
        self._loading: dict[str, asyncio.Future[Any]] = {}

    async def call(self, stage: Stage) -> Any:
        """Queue one command (``stage`` adds exactly one to the pipeline) and await its reply."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(stage, future)
        return await future

    async def gather(
        self,
        key: Hashable,
        item: Any,
        stage: GroupStage,
        *,
        each: bool = False,
        script: AsyncScript | None = None,
        deadline_s: float | None = None,
    ) -> Any:
        """Queue ``item``; the items queued under ``key`` until the pipeline is staged become
        one command, ``stage(pipe, items)`` (XACK of many ids, one XADD of many fields), whose
        reply every caller awaits — or, with ``each``, a list of replies, one per item in
        order, of which each caller gets its own (a script enqueueing many events). A stage
        that runs ``script`` is run again, once it is loaded, if the server did not know it.
        With ``deadline_s``, a group not answered within it fails with TimeoutError (a hung
        Redis), though its command may still run when Redis resumes."""
        group = self._groups.get(key)
        if group is None:
            items: list[Any] = []

            def staged(pipe: Pipeline) -> object:
                del self._groups[key]  # later items start the next command
                return stage(pipe, items)

            loop = asyncio.get_running_loop()
            group = self._groups[key] = (items, loop.create_future())
            if deadline_s is not None:  # one timer for the whole group, not one per caller
                expiry = loop.call_later(deadline_s, _expire, group[1], deadline_s)
                group[1].add_done_callback(lambda _: expiry.cancel())
            self._enqueue(staged, group[1])
        index = len(group[0])
        group[0].append(item)
        try:
            # shield: one caller cancelled must not cancel the reply the others wait for
            reply = await asyncio.shield(group[1])
        except NoScriptError:
            if script is None:
                raise
            await self._load(script)
            return await self.gather(key, item, stage, each=each, deadline_s=deadline_s)
        return reply[index] if each else reply

    async def script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run a registered script through the batch (EVALSHA; loaded first if unknown)."""
        try:
            return await self.call(lambda pipe: evalsha(pipe, script, keys, args))
        except NoScriptError:
            await self._load(script)
            return await self.call(lambda pipe: evalsha(pipe, script, keys, args))

    async def _load(self, script: AsyncScript) -> None:
        """SCRIPT LOAD, once for all the callers that found the script unknown (a restarted or
        failed-over server; on a cluster redis-py loads it on every primary)."""
        pending = self._loading.get(script.sha)
        if pending is None:
            pending = asyncio.ensure_future(self.redis.script_load(script.script))
            self._loading[script.sha] = pending
            pending.add_done_callback(lambda _: self._loading.pop(script.sha, None))
        await asyncio.shield(pending)

    def _enqueue(self, stage: Stage, future: asyncio.Future[Any]) -> None:
        self._queue.append((stage, future))
        if not self._scheduled and len(self._tasks) < self.in_flight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        task = asyncio.create_task(self._send(queue))
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._queue and not self._scheduled:  # what queued meanwhile goes out together
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def _send(self, batch: list[tuple[Stage, asyncio.Future[Any]]]) -> None:
        staged: list[asyncio.Future[Any]] = []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stage, future in batch:
                    try:
                        stage(pipe)
                    except Exception as exc:  # a bad argument fails its own caller only
                        future.set_exception(exc)
                        continue
                    staged.append(future)
                replies = await pipe.execute(raise_on_error=False) if staged else []
        except asyncio.CancelledError:  # shutting down: so are the callers
            for _, future in batch:
                future.cancel()
            self._groups = {k: g for k, g in self._groups.items() if not g[1].done()}
            raise
        except Exception as exc:  # the pipeline failed as a whole: every caller hears it
            for future in staged:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, reply in zip(staged, replies, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


def _expire(future: asyncio.Future[Any], deadline_s: float) -> None:
    if not future.done():
        future.set_exception(TimeoutError(f"Redis did not answer within {deadline_s:g} s"))
