"""Customer webhook URLs: what may be saved, and which resolved addresses may be called.

Saved URLs must be ``https`` with a host; at send time every address the host resolves to
must be public (no loopback, private, link-local, multicast or reserved address: SSRF).
``ROUTER_WEBHOOK_ALLOW_PRIVATE=1`` lifts both checks for development and tests.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from router.config import Config
from router.errors import ValidationError


def check_webhook_url(url: str, config: Config, *, field: str) -> str:
    if len(url) > 2048:
        raise ValidationError(f"{field}: longer than 2048 characters", field=field.split(".")[0])
    parts = urlsplit(url)
    allowed = ("https", "http") if config.webhook_allow_private else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise ValidationError(
            f"{field}: must be an {' or '.join(allowed)} URL with a host, got {url!r}",
            field=field.split(".")[0],
        )
    if not config.webhook_allow_private and not is_public_host(parts.hostname):
        raise ValidationError(
            f"{field}: {parts.hostname} is a private, loopback or link-local address",
            field=field.split(".")[0],
        )
    return url


def is_public_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def is_public_host(host: str) -> bool:
    """False for IP literals that are not public and for ``localhost``; names resolve later."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return False
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return True  # a name: checked again on every send, once resolved
    return is_public_address(host.strip("[]"))
