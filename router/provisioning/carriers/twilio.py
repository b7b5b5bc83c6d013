"""Twilio numbers of each organization's own account, pointed at the router: the number's
voice URL at the router's Twilio webhook (its routing before kept and put back on release),
or with ``mode: sip_trunk`` the number attached to the organization's Elastic SIP Trunk whose
origination URI is LiveKit's SIP host. A Twilio verified caller ID is stored as one
(outbound-only, as the peers document)."""

from __future__ import annotations

import msgspec

from router.core.carrier_states import (
    CarrierState,
    Provisioning,
    TwilioTermination,
    TwilioTrunk,
    TwilioVoiceUrl,
)
from router.core.correlation import sip_host
from router.core.models import PhoneNumber
from router.errors import ProvisioningError, RemoteRefusal, ValidationError
from router.outbound.sip_trunks import OutboundSpec
from router.outbound.twilio_numbers import IncomingNumber, TwilioNumbers, TwilioTrunks
from router.outbound.twilio_termination import TwilioTerminations
from router.provisioning.carriers.base import CarrierContext, pointed, refused
from router.store.integrations import Credentials, Integrations, TwilioCredentials

# The outbound trunk of a Twilio account's numbers, named as a SIP connection's would be
# (``call-router/<org>/twilio``): no connection id is this.
TWILIO_OUTBOUND = "twilio"


class TwilioCarrier:
    source = "twilio"
    repoints = True

    def __init__(
        self,
        numbers: TwilioNumbers,
        integrations: Integrations,
        voice_url: str | None,
        trunks: TwilioTrunks | None = None,
        livekit_sip: str | None = None,
        terminations: TwilioTerminations | None = None,
    ) -> None:
        self.numbers, self.integrations, self.voice_url = numbers, integrations, voice_url
        self.trunks = trunks  # Elastic SIP Trunking (mode "sip_trunk")
        self.livekit_sip = livekit_sip  # the trunk's origination URI: LiveKit's SIP host
        self.terminations = terminations  # the trunk's termination side (outbound calls)

    async def _account(self, org: str) -> tuple[str, str] | None:
        found = await self.integrations.get(org, "twilio")
        if not isinstance(found, TwilioCredentials):
            return None  # no credentials: the operator wires the number by hand (docs/carriers.md)
        return found.account_sid, found.auth_token

    async def check_import(self, row: PhoneNumber) -> PhoneNumber:
        account = await self._account(row.organization_id)
        if account is None:
            return row
        try:
            if await self.numbers.incoming(*account, row.e164) is not None:
                return row
            if await self.numbers.verified_caller_id(*account, row.e164):
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

    async def prepare(self, org: str, credentials: Credentials) -> Credentials:
        return credentials

    async def point(
        self, row: PhoneNumber, held: CarrierState | None, trunk_id: str
    ) -> Provisioning | None:
        account = await self._account(row.organization_id)
        if account is None:
            return None
        if held is not None:
            return pointed(held)  # pointed already (a PATCH of routing fields)
        try:
            if row.mode == "sip_trunk":
                return pointed(await self._attach(row, *account))
            if self.voice_url is None:
                raise ProvisioningError(
                    "set ROUTER_PUBLIC_URL: Twilio must be told the router's public address"
                )
            found = await self._number(*account, row.e164)
            if not found.reaches(self.voice_url):
                await self.numbers.point(*account, found.sid, self.voice_url)
            return pointed(TwilioVoiceUrl(number_sid=found.sid, previous=found.routing))
        except ProvisioningError as exc:
            return refused("twilio", exc)

    async def _attach(self, row: PhoneNumber, sid: str, token: str) -> TwilioTrunk:
        """The number attached to the organization's Elastic SIP Trunk (made or reused)."""
        if self.trunks is None:
            raise ProvisioningError("Elastic SIP Trunking is not configured")
        if self.livekit_sip is None:
            raise ProvisioningError(
                "set LIVEKIT_SIP_URI: the Elastic SIP Trunk's origination URI is LiveKit's SIP host"
            )
        found = await self._number(sid, token, row.e164)
        trunk = await self.trunks.ensure(sid, token, _trunk(row.organization_id), self.livekit_sip)
        await self.trunks.attach(sid, token, trunk, found.sid)
        return TwilioTrunk(number_sid=found.sid, trunk_sid=trunk)

    async def outbound(self, row: PhoneNumber) -> OutboundSpec | None:
        """A Twilio number (or a verified caller ID of the account) places calls over the
        organization's Elastic SIP Trunk: its termination address and credential, set up on
        the account once (``outbound.twilio_termination``) and kept. None: no Twilio account
        connected."""
        org = row.organization_id
        account = await self._account(org)
        if account is None or self.terminations is None:
            return None
        known = await self.integrations.termination(org)
        if known is None or known.account_sid != account[0]:
            known = await self.terminations.ensure(*account, _trunk(org), known)
            await self.integrations.save_termination(org, known)
        return termination_spec(org, known)

    async def _number(self, sid: str, token: str, e164: str) -> IncomingNumber:
        """The number on the organization's Twilio account, or ProvisioningError saying it
        is no longer there (a lookup the carrier refused raises its own)."""
        found = await self.numbers.incoming(sid, token, e164)
        if found is None:
            raise ProvisioningError(f"{e164} is no longer on the Twilio account")
        return found

    async def release(self, row: PhoneNumber, held: CarrierState | None) -> None:
        account = await self._account(row.organization_id)
        if account is None:
            return
        match held:
            case TwilioTrunk(number_sid=number, trunk_sid=trunk) if self.trunks is not None:
                await self.trunks.detach(*account, trunk, number)
            case TwilioVoiceUrl(number_sid=number, previous=previous):
                await self.numbers.route(*account, number, previous)

    async def drift(self, row: PhoneNumber, held: CarrierState, *, fix: bool) -> str | None:
        account = await self._account(row.organization_id)
        if account is None:
            return None
        match held:
            case TwilioTrunk(number_sid=number, trunk_sid=trunk) if self.trunks is not None:
                if await self.trunks.attached(*account, trunk, number):
                    return None
                if fix:
                    await self.trunks.attach(*account, trunk, number)
                return f"Twilio number is not on the Elastic SIP Trunk {trunk} any more"
            case TwilioVoiceUrl() if self.voice_url is not None:
                return await self._voice_drift(row, account, self.voice_url, fix=fix)
        return None

    async def _voice_drift(
        self, row: PhoneNumber, account: tuple[str, str], voice_url: str, *, fix: bool
    ) -> str | None:
        found = await self.numbers.incoming(*account, row.e164)
        if found is None:
            return f"{row.e164} is no longer on the Twilio account"
        if found.reaches(voice_url):
            return None
        if fix:
            await self.numbers.point(*account, found.sid, voice_url)
        if found.trunk_sid:
            return f"Twilio sends the number's calls to its SIP trunk {found.trunk_sid}"
        if found.voice_application_sid:
            return (
                "Twilio sends the number's calls to its TwiML application "
                f"{found.voice_application_sid}"
            )
        return f"Twilio number's voice URL points elsewhere: {found.voice_url}"


def _trunk(org: str) -> str:
    """The organization's Elastic SIP Trunk (by its friendly name)."""
    return f"call-router/{org}"


def termination_spec(org: str, termination: TwilioTermination) -> OutboundSpec:
    """LiveKit's outbound trunk to the Twilio trunk's termination address."""
    return OutboundSpec(
        org=org,
        connection=TWILIO_OUTBOUND,
        address=termination.domain,
        username=termination.username,
        password=termination.password,
    )


def build(context: CarrierContext) -> TwilioCarrier | None:
    """With the credentials store (``ROUTER_SECRETS_KEY``); its voice URL needs
    ``ROUTER_PUBLIC_URL``, its SIP trunks ``LIVEKIT_SIP_URI``."""
    if context.integrations is None:
        return None
    config, base = context.config, context.public_base
    return TwilioCarrier(
        TwilioNumbers(context.session, config.twilio.api_base_url),
        context.integrations,
        f"{base}/webhooks/twilio/voice" if base else None,
        TwilioTrunks(context.session, config.twilio.trunking_base_url),
        sip_host(config.livekit_sip_uri) if config.livekit_sip_uri else None,
        TwilioTerminations(
            context.session, config.twilio.api_base_url, config.twilio.trunking_base_url
        ),
    )
