"""What every webhook does when its event cannot be queued: Redis down, or slower than its
deadline. Counted (``router_events_total{outcome="unavailable"}``), logged, answered 503 —
the sender retries, and nothing it was told was accepted is lost."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from redis.exceptions import RedisError

from router import logs
from router.errors import Unavailable
from router.store.enqueue import Ingress
from router.store.redis_client import where

log = logs.get(__name__)


@contextlib.contextmanager
def unavailable_as_503(ingress: Ingress, source: str, call_id: str) -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        ingress.counts[source, "unavailable"] += 1
        log.warning(
            "enqueue_failed", source=source, call_id=call_id, store=where(ingress.redis),
            error=repr(exc),
        )  # fmt: skip
        raise Unavailable("event store unavailable; retry") from exc
