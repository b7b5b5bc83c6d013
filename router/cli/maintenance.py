"""``maintenance …``: break-glass repairs straight to Redis (``REDIS_URL``) for when the web
processes are down — bypassing the admin API and its authorization, and saying so."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from router import config as config_module
from router.cli.client import Unreachable
from router.cli.dlq import replayed_words
from router.config import Config
from router.config.runtime import masked, running
from router.errors import ConfigError

if TYPE_CHECKING:
    from redis.asyncio import Redis


async def redis_for(config: Config, what: str) -> Redis:
    # Redis imported where used: the CLI's other commands start fast
    from router.store.redis_client import connect_any

    url = config.redis.url
    if not url:  # the router running here says where its store is (never a stale export)
        usable = [r for r in running() if r.store_usable]
        if not usable:
            raise ConfigError(
                "REDIS_URL",
                f"{what} talks to the running router's Redis: no router runs on this machine "
                "(python -m router status), so set REDIS_URL",
            )
        url = usable[0].store
        print(f"the store of the router at {usable[0].url} (pid {usable[0].pid}): {url}",
              file=sys.stderr)  # fmt: skip
    else:
        print(f"the store at REDIS_URL: {masked(url)}", file=sys.stderr)
    return await connect_any(url, config.redis.cluster)


BREAK_GLASS = (
    "break-glass: talking to that store directly, bypassing the admin API and its authorization"
)


async def maintenance_command(args: argparse.Namespace, config: Config) -> int:
    from redis.exceptions import RedisError

    try:
        return await _maintain(args, config)
    except (RedisError, OSError) as exc:  # one line, as every refusal (no traceback)
        raise Unreachable(f"the store does not answer: {str(exc)[:200]}") from None


async def _maintain(args: argparse.Namespace, config: Config) -> int:
    from router.store import dlq, keys
    from router.store.registry import Registry

    redis = await redis_for(config, f"maintenance {args.maintenance_command}")
    print(BREAK_GLASS, file=sys.stderr)
    try:
        if args.maintenance_command == "reindex":  # rebuilt from the rows, whatever was there
            await redis.delete(keys.INDEX_VERSION)
            indexed = await Registry(redis).ensure_indexes()
            print(f"rebuilt the registry's indexes over {indexed} numbers")
            return 0
        ids = None if args.all else args.ids
        replayed = await dlq.replay(redis, ids, config.redis.stream_shards)
        return replayed_words(replayed, sorted(set(args.ids) - set(replayed)))
    finally:
        await redis.aclose()


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    maintenance = commands.add_parser(
        "maintenance", help="break-glass repairs, straight to Redis (REDIS_URL; no admin API)"
    ).add_subparsers(dest="maintenance_command", required=True)
    reindex = maintenance.add_parser("reindex", help="rebuild the registry's indexes from its rows")
    replay = maintenance.add_parser(
        "dead-letters-replay", aliases=["dlq-replay"],
        help="dead-letters replay with the web down (the same entries, straight to Redis)",
    )  # fmt: skip
    direct = replay.add_mutually_exclusive_group(required=True)
    direct.add_argument("ids", nargs="*", default=[], metavar="ID", help="entry ids")
    direct.add_argument("--all", action="store_true", help="every entry")
    for command in (reindex, replay):
        command.set_defaults(
            run=lambda args: asyncio.run(maintenance_command(args, config_module.load()))
        )
