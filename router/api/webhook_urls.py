"""Customer webhook URLs: what may be saved, and which resolved addresses may be called.

Saved URLs must be ``https`` with a host that may be public (``urlguard.is_public_host``); at
send time ``urlguard`` checks every address again as it is connected to (SSRF).
``ROUTER_WEBHOOK_ALLOW_PRIVATE=1`` lifts both checks for development and tests.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from router.config import Config
from router.errors import ValidationError
from router.outbound.urlguard import is_public_host


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
            f"{field}: {parts.hostname} is not a public address (loopback, private, link-local, "
            "reserved, a numeric IPv4 spelling or an IPv6 form carrying an IPv4 address)",
            field=field.split(".")[0],
        )
    return url
