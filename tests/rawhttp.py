"""HTTP/1.1 over a raw socket, written as a real network delivers it: in several segments.

aiohttp's test client writes a request in one go, which hides every bug of a server that reads
"what has arrived" as "the whole body". ``send_raw`` writes the chunks it is given one by one,
with TCP_NODELAY and a pause between them, so the server sees each as its own read.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable, Sequence

import msgspec


class RawResponse(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: bytes


def request_bytes(
    method: str,
    path: str,
    body: bytes,
    headers: Iterable[tuple[str, str | bytes]],
    *,
    host: str,
) -> tuple[bytes, bytes]:
    """(head, body): the request line and headers (raw bytes allowed), then the body."""
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {host}".encode()]
    for name, value in headers:
        raw = value if isinstance(value, bytes) else value.encode()
        lines.append(name.encode() + b": " + raw)
    lines += [f"Content-Length: {len(body)}".encode(), b"Connection: close", b"", b""]
    return b"\r\n".join(lines), body


def segments(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def send_raw(
    host: str,
    port: int,
    chunks: Sequence[bytes],
    *,
    pause_s: float = 0.02,
    tls: ssl.SSLContext | None = None,
) -> RawResponse:
    """Write ``chunks`` one at a time, ``pause_s`` apart; read the answer to the end."""
    reader, writer = await asyncio.open_connection(
        host, port, ssl=tls, server_hostname="localhost" if tls else None
    )
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for i, chunk in enumerate(chunks):
            if i:
                # The gap a real network leaves between segments (not a synchronisation).
                await asyncio.sleep(pause_s)
            writer.write(chunk)
            await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status=int(status_line.split()[1]), headers=headers, body=body)
