"""The "what a team would otherwise assemble" baseline: taskiq on taskiq-redis's stream broker.

Run by the benchmark as ``taskiq worker bench.taskiq_app:broker``; the task is a no-op.
"""

from __future__ import annotations

import os

from taskiq_redis import RedisStreamBroker

broker = RedisStreamBroker(
    os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
    queue_name="bench-taskiq",
    consumer_id="0",
)


@broker.task
async def noop() -> None:
    return None
