"""Telnyx numbers of each organization's own account, pointed at the router: the number's
connection set to the organization's application (its integration's ``connectionId``, made
on its account when it names none, or the platform's ``TELNYX_CONNECTION_ID``), and back to
the connection it had on release. Applications belong to an account."""

from __future__ import annotations

import msgspec

from router.core.carrier_states import CarrierState, Provisioning, TelnyxConnection
from router.core.models import PhoneNumber
from router.errors import ProvisioningError, RemoteRefusal, ValidationError
from router.outbound.sip_trunks import OutboundSpec
from router.outbound.telnyx_numbers import TelnyxNumbers
from router.provisioning.carriers.base import CarrierContext, pointed, refused
from router.store.integrations import Credentials, Integrations, TelnyxCredentials


class TelnyxCarrier:
    source = "telnyx"
    repoints = True

    def __init__(
        self,
        numbers: TelnyxNumbers,
        integrations: Integrations,
        connection_id: str | None,
        voice_url: str | None = None,
    ) -> None:
        self.numbers, self.integrations = numbers, integrations
        self.connection_id = connection_id  # the platform account's application
        self.voice_url = voice_url  # the router's Telnyx webhook as Telnyx must call it

    async def _account(self, org: str) -> TelnyxCredentials | None:
        found = await self.integrations.get(org, "telnyx")
        return found if isinstance(found, TelnyxCredentials) else None

    async def _key(self, org: str) -> str | None:
        found = await self._account(org)
        return found.api_key if found is not None else None

    async def _target(self, org: str) -> str | None:
        """The application the organization's numbers are pointed at."""
        found = await self._account(org)
        return (found.connection_id if found else None) or self.connection_id

    async def check_import(self, row: PhoneNumber) -> PhoneNumber:
        key = await self._key(row.organization_id)
        if key is None:
            return row  # no credentials: the operator wires the number by hand (docs/carriers.md)
        try:
            found = await self.numbers.find(key, row.e164)
        except ProvisioningError as exc:
            raise RemoteRefusal(str(exc)) from exc
        if found is None:
            raise ValidationError(
                f"e164: {row.e164} is not a number of the organization's Telnyx account",
                field="e164",
            )
        return row

    async def prepare(self, org: str, credentials: Credentials) -> Credentials:
        """The integration as it will be kept: its application verified on its account; when
        it names none, the platform's if it is on this account (the platform's own), else one
        made there (a TeXML application calling the router)."""
        if not isinstance(credentials, TelnyxCredentials):
            return credentials
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

    async def point(
        self, row: PhoneNumber, held: CarrierState | None, trunk_id: str
    ) -> Provisioning | None:
        key = await self._key(row.organization_id)
        if key is None:
            return None
        if held is not None:
            return pointed(held)  # pointed already (a PATCH of routing fields)
        try:
            target = await self._target(row.organization_id)
            if target is None:
                raise ProvisioningError(
                    "no Telnyx application to point the number at: give the integration's "
                    "connectionId (or set TELNYX_CONNECTION_ID for the platform's account)"
                )
            found = await self.numbers.find(key, row.e164)
            if found is None:
                raise ProvisioningError(f"{row.e164} is no longer on the Telnyx account")
            if found.connection_id != target:
                await self.numbers.point(key, found.id, target)
            return pointed(TelnyxConnection(number_id=found.id, previous=found.connection_id))
        except ProvisioningError as exc:
            return refused("telnyx", exc)

    async def release(self, row: PhoneNumber, held: CarrierState | None) -> None:
        key = await self._key(row.organization_id)
        if key is not None and isinstance(held, TelnyxConnection):
            await self.numbers.point(key, held.number_id, held.previous)

    async def drift(self, row: PhoneNumber, held: CarrierState, *, fix: bool) -> str | None:
        key = await self._key(row.organization_id)
        if key is None:
            return None
        number = await self.numbers.find(key, row.e164)
        if number is None:
            return f"{row.e164} is no longer on the Telnyx account"
        target = await self._target(row.organization_id)
        if target is None or number.connection_id == target:
            return None
        if fix:
            await self.numbers.point(key, number.id, target)
        return f"Telnyx number's connection points elsewhere: {number.connection_id}"

    async def outbound(self, row: PhoneNumber) -> OutboundSpec | None:
        return None  # outbound calls ride a SIP connection (sipConnectionInstallationId)


def build(context: CarrierContext) -> TelnyxCarrier | None:
    """With the credentials store (``ROUTER_SECRETS_KEY``); the platform's application is
    ``TELNYX_CONNECTION_ID``, and one is made on an account with ``ROUTER_PUBLIC_URL``."""
    if context.integrations is None:
        return None
    base = context.public_base
    return TelnyxCarrier(
        TelnyxNumbers(context.session, context.config.telnyx.api_base_url),
        context.integrations,
        context.config.telnyx.connection_id,
        f"{base}/webhooks/telnyx" if base else None,
    )
