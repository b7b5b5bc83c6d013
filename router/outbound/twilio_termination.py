"""Outbound calls over the organization's Twilio Elastic SIP Trunk (its *termination* side),
so that a Twilio number — or a verified caller ID on the same account — can place calls from
LiveKit. As LiveKit's and Twilio's guides set it up:

- the trunk (``call-router/<org>``, the one inbound ``sip_trunk`` numbers are attached to) has
  a termination address, its ``DomainName`` (letters, digits and ``-``, ending in
  ``pstn.twilio.com``, unique across Twilio: the router reserves ``call-router-<random>`` when
  the trunk has none, and keeps one the customer set);
- a credential list (``SIP/CredentialLists``, same name) holds one credential, username
  ``call-router`` and a password the router makes (at least 12 characters with a digit, an
  upper- and a lower-case letter, as Twilio requires), associated with the trunk
  (``Trunks/{sid}/CredentialLists``): Twilio then takes calls to the domain that authenticate
  with it;
- LiveKit gets an outbound trunk to that address with those credentials and the numbers
  (``outbound.livekit_sip``).

Twilio never returns a password: the router keeps it (encrypted, ``store.integrations``) and,
when it has lost it (another account, an integration saved again), sets a new one on the
existing credential. Each step reads before it writes, so a retry makes nothing twice.
"""

from __future__ import annotations

import secrets
import string
from urllib.parse import quote

import aiohttp
import msgspec

from router.core.carrier_states import TwilioTermination
from router.outbound.twilio_numbers import TWILIO_API, TWILIO_TRUNKING, TwilioTrunks, twilio_call

USERNAME = "call-router"


class _Listed(msgspec.Struct, frozen=True):
    sid: str
    friendly_name: str | None = None
    username: str | None = None


class _CredentialLists(msgspec.Struct):
    credential_lists: list[_Listed]


class _Credentials(msgspec.Struct):
    credentials: list[_Listed]


def password() -> str:
    """A password Twilio accepts: 12 characters at least, a digit, mixed case."""
    while True:
        made = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        if any(c.isdigit() for c in made) and made.lower() != made and made.upper() != made:
            return made


class TwilioTerminations:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_base: str = TWILIO_API,
        trunking_base: str = TWILIO_TRUNKING,
    ) -> None:
        self._session = session
        self._api, self._trunking = api_base.rstrip("/"), trunking_base.rstrip("/")
        self.trunks = TwilioTrunks(session, trunking_base)

    async def _call(
        self, what: str, method: str, url: str, account: str, token: str,
        form: dict[str, str] | None = None,
    ) -> bytes:  # fmt: skip
        return await twilio_call(self._session, what, method, url, account, token, form=form)

    async def ensure(
        self, account: str, token: str, name: str, known: TwilioTermination | None
    ) -> TwilioTermination:
        """The trunk's termination address and credentials, made where missing (``known``:
        what the router made before, whose password it still has)."""
        trunk = await self.trunks.named(account, token, name)
        domain = trunk.domain_name
        if not domain:
            domain = f"call-router-{secrets.token_hex(6)}.pstn.twilio.com"
            await self._call(
                "set the SIP trunk's termination address", "POST",
                f"{self._trunking}/Trunks/{quote(trunk.sid, safe='')}", account, token,
                {"DomainName": domain},
            )  # fmt: skip
        listed = await self._credential_list(account, token, name)
        secret = await self._credential(account, token, listed, known)
        path = f"{self._trunking}/Trunks/{quote(trunk.sid, safe='')}/CredentialLists"
        raw = await self._call("list the SIP trunk's credential lists", "GET", path, account, token)
        if not any(c.sid == listed for c in _lists(raw)):
            await self._call(
                "associate the credential list with the SIP trunk", "POST", path, account, token,
                {"CredentialListSid": listed},
            )  # fmt: skip
        return TwilioTermination(
            account_sid=account,
            trunk_sid=trunk.sid,
            domain=domain,
            credential_list_sid=listed,
            username=USERNAME,
            password=secret,
        )

    async def _credential_list(self, account: str, token: str, name: str) -> str:
        url = f"{self._api}/Accounts/{quote(account, safe='')}/SIP/CredentialLists.json"
        raw = await self._call("list SIP credential lists", "GET", f"{url}?PageSize=1000",
                               account, token)  # fmt: skip
        found = next((c.sid for c in _lists(raw) if c.friendly_name == name), None)
        if found is not None:
            return found
        raw = await self._call(
            "create the SIP credential list", "POST", url, account, token, {"FriendlyName": name}
        )
        return msgspec.json.decode(raw, type=_Listed).sid

    async def _credential(
        self, account: str, token: str, listed: str, known: TwilioTermination | None
    ) -> str:
        """The router's credential in the list; its password (set anew when not known)."""
        url = (
            f"{self._api}/Accounts/{quote(account, safe='')}/SIP/CredentialLists/"
            f"{quote(listed, safe='')}/Credentials"
        )
        raw = await self._call("list the SIP credentials", "GET", f"{url}.json", account, token)
        found = msgspec.json.decode(raw, type=_Credentials).credentials
        mine = next((c for c in found if c.username == USERNAME), None)
        if (
            mine is not None
            and known is not None
            and (known.account_sid, known.credential_list_sid) == (account, listed)
        ):
            return known.password
        secret = password()
        if mine is None:
            await self._call(
                "create the SIP credential", "POST", f"{url}.json", account, token,
                {"Username": USERNAME, "Password": secret},
            )  # fmt: skip
        else:  # Twilio keeps only a digest of it: the router sets one it knows
            await self._call(
                "set the SIP credential's password", "POST",
                f"{url}/{quote(mine.sid, safe='')}.json", account, token, {"Password": secret},
            )  # fmt: skip
        return secret


def _lists(raw: bytes) -> list[_Listed]:
    return msgspec.json.decode(raw, type=_CredentialLists).credential_lists
