"""Carrier numbers pointed at the router with each organization's own account: Twilio (its
voice URL at the router's webhook, or attached to an Elastic SIP Trunk to LiveKit) and Telnyx
(its connection at the router's application). ``ops.provisioning`` calls ``Carriers`` on each
write of a number and in each reconcile pass; what was there before is kept in the number's
provisioning state and put back on release."""

from __future__ import annotations

import aiohttp
import msgspec

from router import metrics
from router.config import Config
from router.core.correlation import sip_host
from router.core.models import PhoneNumber, Provisioning, TwilioRouting, now_iso
from router.errors import RemoteRefusal, ValidationError
from router.outbound.livekit_sip import ProvisioningError
from router.outbound.telnyx_numbers import TelnyxNumbers
from router.outbound.twilio_numbers import IncomingNumber, TwilioNumbers, TwilioTrunks
from router.store.integrations import Integrations, TelnyxCredentials, TwilioCredentials


class TelnyxSide(msgspec.Struct, frozen=True):
    """What pointing Telnyx numbers at the router needs: the client, the organizations'
    stored credentials, the platform account's application (``TELNYX_CONNECTION_ID``) and the
    router's Telnyx webhook as Telnyx must call it (``ROUTER_PUBLIC_URL``; None: unset).
    Applications belong to an account: each organization's numbers are pointed at its own
    integration's application, the platform's only when it gave none."""

    numbers: TelnyxNumbers
    integrations: Integrations
    connection_id: str | None
    voice_url: str | None = None

    async def account(self, org: str) -> TelnyxCredentials | None:
        found = await self.integrations.get(org, "telnyx")
        return found if isinstance(found, TelnyxCredentials) else None

    async def key(self, org: str) -> str | None:
        found = await self.account(org)
        return found.api_key if found is not None else None

    async def target(self, org: str) -> str | None:
        """The application the organization's numbers are pointed at."""
        found = await self.account(org)
        return (found.connection_id if found else None) or self.connection_id

    async def prepare(self, org: str, credentials: TelnyxCredentials) -> TelnyxCredentials:
        """The integration as it will be kept: its application verified on its account; when
        it names none, the platform's if it is on this account (the platform's own), else one
        made there (a TeXML application calling the router)."""
        try:
            if credentials.connection_id:
                if not await self.numbers.application(
                    credentials.api_key, credentials.connection_id
                ):
                    raise ValidationError(
                        f"connectionId: {credentials.connection_id} is not a TeXML or Call "
                        "Control application of this Telnyx account",
                        field="connectionId",
                    )
                return credentials
            if self.connection_id and await self.numbers.application(
                credentials.api_key, self.connection_id
            ):
                return credentials  # the platform's own account: its application
            if self.voice_url is not None:
                made = await self.numbers.create_texml_application(
                    credentials.api_key, f"call-router/{org}", self.voice_url
                )
                return msgspec.structs.replace(credentials, connection_id=made)
        except ProvisioningError as exc:
            raise RemoteRefusal(str(exc)) from exc
        raise ValidationError(
            "connectionId: give the account's TeXML or Call Control application, or set "
            "ROUTER_PUBLIC_URL so that the router can make one (TELNYX_CONNECTION_ID is not an "
            "application of this account)",
            field="connectionId",
        )


class TwilioSide(msgspec.Struct, frozen=True):
    """Pointing Twilio numbers at the router: the client, the organizations' credentials, and
    the router's Twilio webhook as Twilio must call it (``ROUTER_PUBLIC_URL``; None: unset)."""

    numbers: TwilioNumbers
    integrations: Integrations
    voice_url: str | None
    trunks: TwilioTrunks | None = None  # Elastic SIP Trunking (mode "sip_trunk")
    livekit_sip: str | None = None  # the trunk's origination URI: LiveKit's SIP host

    async def account(self, org: str) -> TwilioCredentials | None:
        found = await self.integrations.get(org, "twilio")
        return found if isinstance(found, TwilioCredentials) else None


def carriers_of(
    config: Config, session: aiohttp.ClientSession, integrations: Integrations | None
) -> Carriers:
    """What the configuration allows: Telnyx with ``TELNYX_CONNECTION_ID``, Twilio with a
    ``ROUTER_PUBLIC_URL`` for its voice URL (or ``LIVEKIT_SIP_URI`` for SIP trunks); both need
    the credentials store (``ROUTER_SECRETS_KEY``)."""
    if integrations is None:
        return Carriers()
    base = config.public_url.rstrip("/") if config.public_url else None
    telnyx = TelnyxSide(
        TelnyxNumbers(session, config.telnyx_api_base_url),
        integrations,
        config.telnyx_connection_id,
        f"{base}/webhooks/telnyx" if base else None,
    )
    voice = f"{base}/webhooks/twilio/voice" if base else None
    twilio = TwilioSide(
        TwilioNumbers(session, config.twilio_api_base_url),
        integrations,
        voice,
        TwilioTrunks(session, config.twilio_trunking_base_url),
        sip_host(config.livekit_sip_uri) if config.livekit_sip_uri else None,
    )
    return Carriers(telnyx, twilio)


class Carriers:
    """The carrier side of provisioning; a side left None is wired by hand (README)."""

    def __init__(self, telnyx: TelnyxSide | None = None, twilio: TwilioSide | None = None) -> None:
        self.telnyx, self.twilio = telnyx, twilio

    async def check_import(self, row: PhoneNumber) -> PhoneNumber:
        """Before a carrier number is stored: it must be on the organization's account (a
        Twilio verified caller ID is stored as one: outbound-only, as the peers document)."""
        if row.source == "twilio" and self.twilio is not None:
            return await self._check_twilio(row)
        org, e164, source = row.organization_id, row.e164, row.source
        if source != "telnyx" or self.telnyx is None:
            return row
        key = await self.telnyx.key(org)
        if key is None:
            return row  # no credentials: the operator wires the number by hand (README)
        try:
            found = await self.telnyx.numbers.find(key, e164)
        except ProvisioningError as exc:
            raise RemoteRefusal(str(exc)) from exc
        if found is None:
            raise ValidationError(
                f"e164: {e164} is not a number of the organization's Telnyx account",
                field="e164",
            )
        return row

    async def _check_twilio(self, row: PhoneNumber) -> PhoneNumber:
        assert self.twilio is not None
        account = await self.twilio.account(row.organization_id)
        if account is None:
            return row  # no credentials: the operator wires the number by hand (README)
        sid, token = account.account_sid, account.auth_token
        try:
            if await self.twilio.numbers.incoming(sid, token, row.e164) is not None:
                return row
            if await self.twilio.numbers.verified_caller_id(sid, token, row.e164):
                return msgspec.structs.replace(
                    row, source="verified_caller_id", direction="outbound", mode=None
                )
        except ProvisioningError as exc:
            raise RemoteRefusal(str(exc)) from exc
        raise ValidationError(
            f"e164: {row.e164} is neither a number nor a verified caller ID of the "
            "organization's Twilio account",
            field="e164",
        )

    async def point(
        self, old: PhoneNumber | None, new: PhoneNumber | None, state: Provisioning | None
    ) -> Provisioning | None:
        """A Telnyx number pointed at the router's application (on import), or back to
        where it pointed before (on release). None: not a Telnyx number the router wires."""
        row = new or old
        assert row is not None
        if row.source == "twilio" and self.twilio is not None:
            return await self._twilio(old, new, state)
        if self.telnyx is None or row.source != "telnyx":
            return None
        key = await self.telnyx.key(row.organization_id)
        if key is None:
            return None
        try:
            if new is None:  # released: restore what was there before
                if state is not None and state.carrier_number_id:
                    await self.telnyx.numbers.point(
                        key, state.carrier_number_id, state.carrier_previous
                    )
                return None
            if state is not None and state.carrier_number_id:
                return state  # pointed already (a PATCH of routing fields)
            target = await self.telnyx.target(row.organization_id)
            if target is None:
                raise ProvisioningError(
                    "no Telnyx application to point the number at: give the integration's "
                    "connectionId (or set TELNYX_CONNECTION_ID for the platform's account)"
                )
            found = await self.telnyx.numbers.find(key, row.e164)
            if found is None:
                raise ProvisioningError(f"{row.e164} is no longer on the Telnyx account")
            if found.connection_id != target:
                await self.telnyx.numbers.point(key, found.id, target)
            return Provisioning(
                ok=True,
                checked_at=now_iso(),
                carrier_number_id=found.id,
                carrier_previous=found.connection_id,
            )
        except ProvisioningError as exc:
            return _refused("telnyx", exc)

    async def _twilio(
        self, old: PhoneNumber | None, new: PhoneNumber | None, state: Provisioning | None
    ) -> Provisioning | None:
        """A Twilio number's voice URL pointed at the router (POST), and back on release."""
        assert self.twilio is not None
        row = new or old
        assert row is not None
        account = await self.twilio.account(row.organization_id)
        if account is None:
            return None
        sid, token = account.account_sid, account.auth_token
        if row.mode == "sip_trunk":
            return await self._twilio_trunk(row, new is None, state, sid, token)
        try:
            if new is None:
                if state is not None and state.carrier_number_id:
                    await self.twilio.numbers.route(
                        sid, token, state.carrier_number_id, _twilio_previous(state)
                    )
                return None
            if state is not None and state.carrier_number_id:
                return state
            if self.twilio.voice_url is None:
                raise ProvisioningError(
                    "set ROUTER_PUBLIC_URL: Twilio must be told the router's public address"
                )
            found = await self._twilio_number(sid, token, row.e164)
            if not found.reaches(self.twilio.voice_url):
                await self.twilio.numbers.point(sid, token, found.sid, self.twilio.voice_url)
            return Provisioning(
                ok=True,
                checked_at=now_iso(),
                carrier_number_id=found.sid,
                twilio_previous=found.routing,
            )
        except ProvisioningError as exc:
            return _refused("twilio", exc)

    async def _twilio_number(self, sid: str, token: str, e164: str) -> IncomingNumber:
        """The number on the organization's Twilio account, or ProvisioningError saying it
        is no longer there (a lookup the carrier refused raises its own)."""
        assert self.twilio is not None
        found = await self.twilio.numbers.incoming(sid, token, e164)
        if found is None:
            raise ProvisioningError(f"{e164} is no longer on the Twilio account")
        return found

    async def _twilio_trunk(
        self, row: PhoneNumber, released: bool, state: Provisioning | None, sid: str, token: str
    ) -> Provisioning | None:
        """``mode: sip_trunk``: the number attached to the organization's Elastic SIP Trunk
        (made or reused, its origination URI LiveKit's SIP host), detached on release."""
        assert self.twilio is not None
        previous = (state.carrier_previous or "") if state is not None else ""
        try:
            if self.twilio.trunks is None:
                raise ProvisioningError("Elastic SIP Trunking is not configured")
            if released:
                if state is not None and state.carrier_number_id and previous.startswith("trunk:"):
                    await self.twilio.trunks.detach(
                        sid, token, previous.removeprefix("trunk:"), state.carrier_number_id
                    )
                return None
            if state is not None and state.carrier_number_id:
                return state
            if self.twilio.livekit_sip is None:
                raise ProvisioningError(
                    "set LIVEKIT_SIP_URI: the Elastic SIP Trunk's origination URI is LiveKit's "
                    "SIP host"
                )
            found = await self._twilio_number(sid, token, row.e164)
            name = f"call-router/{row.organization_id}"
            trunk = await self.twilio.trunks.ensure(sid, token, name, self.twilio.livekit_sip)
            await self.twilio.trunks.attach(sid, token, trunk, found.sid)
            return Provisioning(
                ok=True,
                checked_at=now_iso(),
                carrier_number_id=found.sid,
                carrier_previous=f"trunk:{trunk}",
            )
        except ProvisioningError as exc:
            return _refused("twilio", exc)

    async def _trunk_drift(self, row: PhoneNumber, state: Provisioning, *, fix: bool) -> str | None:
        """A ``sip_trunk`` number taken off its Elastic SIP Trunk by hand: put back with fix."""
        assert self.twilio is not None
        account = await self.twilio.account(row.organization_id)
        previous = state.carrier_previous or ""
        if account is None or self.twilio.trunks is None or not previous.startswith("trunk:"):
            return None
        trunk = previous.removeprefix("trunk:")
        sid, token = account.account_sid, account.auth_token
        assert state.carrier_number_id is not None
        if await self.twilio.trunks.attached(sid, token, trunk, state.carrier_number_id):
            return None
        if fix:
            await self.twilio.trunks.attach(sid, token, trunk, state.carrier_number_id)
        return f"Twilio number is not on the Elastic SIP Trunk {trunk} any more"

    async def drift(self, row: PhoneNumber, state: Provisioning | None, *, fix: bool) -> str | None:
        """A carrier number the router pointed at itself, pointed elsewhere since (by hand):
        in words a user can act on, and pointed back with ``fix``."""
        if state is None or not state.carrier_number_id:
            return None
        if row.source == "twilio" and self.twilio is not None and row.mode == "sip_trunk":
            return await self._trunk_drift(row, state, fix=fix)
        if row.source == "twilio" and self.twilio is not None:
            account = await self.twilio.account(row.organization_id)
            if account is None or self.twilio.voice_url is None:
                return None
            sid, token = account.account_sid, account.auth_token
            found = await self.twilio.numbers.incoming(sid, token, row.e164)
            if found is None:
                return f"{row.e164} is no longer on the Twilio account"
            if found.reaches(self.twilio.voice_url):
                return None
            if fix:
                await self.twilio.numbers.point(sid, token, found.sid, self.twilio.voice_url)
            if found.trunk_sid:
                return f"Twilio sends the number's calls to its SIP trunk {found.trunk_sid}"
            if found.voice_application_sid:
                return (
                    "Twilio sends the number's calls to its TwiML application "
                    f"{found.voice_application_sid}"
                )
            return f"Twilio number's voice URL points elsewhere: {found.voice_url}"
        if row.source == "telnyx" and self.telnyx is not None:
            key = await self.telnyx.key(row.organization_id)
            if key is None:
                return None
            number = await self.telnyx.numbers.find(key, row.e164)
            if number is None:
                return f"{row.e164} is no longer on the Telnyx account"
            target = await self.telnyx.target(row.organization_id)
            if target is None or number.connection_id == target:
                return None
            if fix:
                await self.telnyx.numbers.point(key, number.id, target)
            return f"Telnyx number's connection points elsewhere: {number.connection_id}"
        return None


def _twilio_previous(state: Provisioning) -> TwilioRouting:
    """Where the number sent its calls before: the whole routing, or for a state written by
    an older router, its "<method> <url>"."""
    if state.twilio_previous is not None:
        return state.twilio_previous
    method, _, url = (state.carrier_previous or "POST ").partition(" ")
    return TwilioRouting(voice_url=url, voice_method=method or "POST")


def _refused(step: str, exc: ProvisioningError) -> Provisioning:
    """A carrier step that failed: counted, and kept on the number in the refuser's words."""
    metrics.PROVISIONING_FAILURES.labels(step).inc()
    return Provisioning(ok=False, issue=str(exc), checked_at=now_iso())
