"""The SSRF guard for customer webhooks (pre-call and lifecycle): only public addresses.

A customer names a URL; the router must never be made to call into its own network. Three
checks, each complete on its own:

- **At write time** (``is_public_host``): IP literals must be public, ``localhost`` names are
  refused, and so is every numeric host form the C resolver would read as an IPv4 address
  (``2130706433``, ``127.1``, ``0177.0.0.1``, ``0x7f.1``, ``0``) — whatever it points at,
  such a spelling has no business in a webhook URL. Each is judged in every reading of the
  host: as the HTTP client will read it (IDNA / UTS #46) and percent-decoded.
- **At resolve time** (``PublicResolver``): a name that resolves to any non-public address is
  refused with a clear error.
- **At connect time** (``guarded_socket``, the connector's ``socket_factory``): the address
  the socket is about to connect to is checked, whatever produced it — an IP literal aiohttp
  never resolves, a DNS answer that changed since (rebinding), a stored row that predates a
  rule. This is the check that cannot be bypassed; it relies on aiohttp's ``socket_factory``
  (aiohttp 3.12 and later: pinned in pyproject.toml).

Public means ``ipaddress``'s ``is_global`` and not multicast, and for IPv6 none of the forms
that carry an IPv4 address inside (IPv4-mapped ``::ffff:0:0/96``, IPv4-compatible ``::/96``,
NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4 ``2002::/16``, Teredo ``2001::/32``): a
gateway would carry those to the embedded address, public or not. A customer whose receiver
is public has a plain IPv4 or IPv6 address to give instead.
``ROUTER_WEBHOOK_ALLOW_PRIVATE=1`` turns the guard off (development, tests).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

_EMBEDS_IPV4 = (
    ipaddress.ip_network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated), and :: itself
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64, RFC 6052
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64, RFC 8215
    ipaddress.ip_network("2002::/16"),  # 6to4
    ipaddress.ip_network("2001::/32"),  # Teredo
)


# The same words whichever check refused: a record must not tell what lies behind an address.
NOT_PUBLIC = "the webhook host is not a public address"


class BlockedAddress(OSError):
    """A customer webhook would reach an address we must not call (an OSError, so aiohttp's
    connector passes it on as the cause of its connection error)."""


def is_public_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _EMBEDS_IPV4):
        return False
    return ip.is_global and not ip.is_multicast


def _numeric_ipv4(host: str) -> bool:
    """True for every spelling ``inet_aton`` takes as an IPv4 address (decimal, octal, hex,
    fewer than four parts)."""
    try:
        socket.inet_aton(host)
    except (OSError, ValueError):
        return False
    return True


def readings(host: str) -> set[str]:
    """Every way ``host`` may be read: as written, as the HTTP client reads it (yarl maps it
    through IDNA / UTS #46: ``①②⑦.0.0.1``, ``127。0。0。1``, fullwidth digits and
    ``ⓛⓞⓒⓐⓛⓗⓞⓢⓣ`` all become plain ASCII), and the same once percent-decoded
    (``%31%32%37.0.0.1``). None: no client could read it as a host at all."""
    found = {host}
    for spelling in {host, unquote(host)}:
        try:
            client = URL.build(scheme="https", host=spelling).host
        except (ValueError, UnicodeError):
            return set()
        if client is not None:
            found |= {spelling, client}
    return found


def is_public_host(host: str) -> bool:
    """False for non-public IP literals, numeric IPv4 spellings and ``localhost`` names in any
    reading of the host (``readings``), and for a host no client could read; other names are
    checked again on every send, once resolved."""
    spellings = readings(host.strip("[]"))
    return bool(spellings) and all(_public_spelling(s) for s in spellings)


def _public_spelling(host: str) -> bool:
    name = host.strip("[]").rstrip(".").lower()
    if not name or name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return not _numeric_ipv4(name)
    return is_public_address(name)


class PublicResolver(AbstractResolver):
    """aiohttp resolver that refuses names resolving to non-public addresses."""

    def __init__(self) -> None:
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if any(not is_public_address(r["host"]) for r in results):
            raise BlockedAddress(f"{host} is not a public address")
        return results

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """The connector's socket factory: refuses to make a socket for a non-public address."""
    family, kind, proto, _, sockaddr = addr_info
    if not is_public_address(str(sockaddr[0])):
        raise BlockedAddress(NOT_PUBLIC)
    return socket.socket(family=family, type=kind, proto=proto)


def webhook_session(allow_private: bool) -> aiohttp.ClientSession:
    """The session for customer webhooks: apart from the trusted one (LiveKit may be private)."""
    if allow_private:
        connector = aiohttp.TCPConnector(limit=200, ttl_dns_cache=30)
    else:
        connector = aiohttp.TCPConnector(
            resolver=PublicResolver(), socket_factory=guarded_socket, limit=200, ttl_dns_cache=30
        )
    return aiohttp.ClientSession(connector=connector)


def is_blocked(exc: BaseException) -> bool:
    """Whether a client error was the guard refusing an address (anywhere in its causes)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BlockedAddress):
            return True
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "os_error", None)
        if seen is exc:
            return False
    return False
