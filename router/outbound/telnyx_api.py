"""Telnyx Call Control v2: transfer an inbound call to LiveKit SIP, or reject it.

``POST {TELNYX_API_BASE_URL}/calls/{call_control_id}/actions/{transfer|reject}`` with
``Authorization: Bearer TELNYX_API_KEY``. Each command carries a ``command_id`` derived from
the call, so a retried command is ignored by Telnyx rather than executed twice. 4xx answers are
terminal, 5xx and transport errors may be retried (``TelnyxRejected`` / ``TelnyxUnavailable``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from router.errors import TelnyxRejected, TelnyxUnavailable

_json = msgspec.json.Encoder()


class TelnyxCallControl:
    def __init__(self, session: aiohttp.ClientSession, api_key: str, base_url: str) -> None:
        self._session = session
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._base = base_url.rstrip("/")

    async def transfer(
        self,
        call_control_id: str,
        *,
        to: str,
        from_: str | None,
        headers: dict[str, str],
        command_id: str,
        client_state: str | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "to": to,
            "custom_headers": [{"name": k, "value": v} for k, v in headers.items()],
            "command_id": command_id,
        }
        if client_state:
            body["client_state"] = client_state  # echoed on the new leg's webhooks
        if from_:
            body["from"] = from_  # else Telnyx presents our own number as the caller
        await self._command(call_control_id, "transfer", body)

    async def reject(
        self, call_control_id: str, *, command_id: str, cause: str = "CALL_REJECTED"
    ) -> None:
        await self._command(call_control_id, "reject", {"cause": cause, "command_id": command_id})

    async def _command(self, call_control_id: str, action: str, body: dict[str, Any]) -> None:
        url = f"{self._base}/calls/{quote(call_control_id, safe='')}/actions/{action}"
        try:
            async with self._session.post(
                url, data=_json.encode(body), headers=self._headers
            ) as resp:
                if resp.status < 300:
                    return
                detail = (await resp.text())[:300]
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TelnyxUnavailable(
                f"Telnyx {action} unreachable: {exc!r}", maybe_done=True
            ) from exc
        kind = TelnyxRejected if resp.status < 500 else TelnyxUnavailable
        raise kind(f"Telnyx {action} answered {resp.status}: {detail}", status=resp.status)
