"""One request to a carrier's REST API (Twilio, Telnyx) for provisioning: the body of a 2xx,
else ``ProvisioningError`` in the carrier's own words (``words`` reads them from its error
body) — or that it did not answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import aiohttp

from router.errors import ProvisioningError


async def carrier_call(
    session: aiohttp.ClientSession,
    carrier: str,
    what: str,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    words: Callable[[bytes], str],
    params: Mapping[str, str] | None = None,
    data: bytes | Mapping[str, str] | None = None,
) -> bytes:
    try:
        async with session.request(method, url, params=params, data=data, headers=headers) as resp:
            raw = await resp.read()
            if resp.status < 300:
                return raw
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise ProvisioningError(f"{carrier} did not answer a request to {what}: {exc!r}") from exc
    said = words(raw) or raw[:200].decode(errors="replace")
    raise ProvisioningError(
        f"{carrier} refused to {what} ({resp.status}): {said}", status=resp.status
    )
