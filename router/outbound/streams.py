"""Reading an HTTP body to its end, with a cap: the one way the router reads a body.

aiohttp's ``StreamReader.read(n)`` returns what has *arrived so far* (at most ``n`` bytes), not
the whole body: a body the network delivers in two TCP segments would be cut at the first.
``read_capped`` loops until the end of the body or until one byte past the cap, so a caller
tells "too large" from "complete" by the length alone, and never holds more than the cap + 1.
"""

from __future__ import annotations

from aiohttp import StreamReader


async def read_capped(stream: StreamReader, limit: int) -> bytes:
    """The whole body, or its first ``limit + 1`` bytes when it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await stream.read(limit + 1 - size)
        if not chunk:  # end of the body
            break
        chunks.append(chunk)
        size += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
