"""A live Twilio call sent elsewhere: ``POST …/Accounts/{AccountSid}/Calls/{CallSid}.json``
with ``Twiml`` (Twilio's "Update a Call resource": the call leaves what it was doing — here the
bridge to LiveKit — and runs the new TwiML). What supervision does with a no-show agent's call
that came in through the Twilio webhook: ``<Dial>`` the human line, which needs nothing of the
trunk (a SIP REFER would)."""

from __future__ import annotations

from urllib.parse import quote
from xml.sax.saxutils import escape

import aiohttp

from router.outbound.twilio_numbers import TWILIO_API, twilio_call


def dial_twiml(line: str) -> str:
    """TwiML that dials ``line`` (``tel:+…`` as a number, ``sip:…`` as a SIP address)."""
    if line.startswith("tel:"):
        target = f"<Number>{escape(line.removeprefix('tel:'))}</Number>"
    else:
        target = f"<Sip>{escape(line)}</Sip>"
    return f"<Response><Dial>{target}</Dial></Response>"


class TwilioCalls:
    def __init__(self, session: aiohttp.ClientSession, base_url: str = TWILIO_API) -> None:
        self._session, self._base = session, base_url.rstrip("/")

    async def redirect(self, account: str, token: str, call_sid: str, line: str) -> None:
        """The call dials ``line`` instead of what it does now."""
        url = (
            f"{self._base}/Accounts/{quote(account, safe='')}/Calls/{quote(call_sid, safe='')}.json"
        )
        await twilio_call(
            self._session, "send the call to the human line", "POST", url, account, token,
            form={"Twiml": dial_twiml(line)},
        )  # fmt: skip
