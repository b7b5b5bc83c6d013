"""A customer's own SIP trunk, both directions (the reference's "SIP connection"): what the
admin API takes and shows, and its rules — pure, no I/O.

Inbound: where the customer's carrier sends SIP from (IPs or CIDRs), digest credentials,
media encryption and an optional PIN. Outbound: the SIP server calls go out through, its
transport and digest credentials. Passwords and the PIN are write-only: taken in the request,
kept encrypted beside the row (``store.sip_connections``), shown only as ``passwordSet`` /
``pinSet``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from router.core.models import Body, Row
from router.errors import ValidationError

MediaEncryption = Literal["disable", "allow", "require"]
Transport = Literal["udp", "tcp", "tls"]
MAX_NAME = 200
MAX_ADDRESSES = 100
MAX_SECRET = 128
_PIN = re.compile(r"[0-9]{4,12}")
# A host or IP with an optional port: what LiveKit's outbound trunk takes as its address (not
# a SIP URI: livekit/protocol validateHostnameFormat).
_HOST = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(:[0-9]{1,5})?"
)


class InboundSettings(Body, kw_only=True):
    allowed_addresses: list[str] = msgspec.field(default_factory=list)
    username: str | None = None
    password: str | None = None
    media_encryption: MediaEncryption = "allow"
    pin: str | None = None


class OutboundSettings(Body, kw_only=True):
    address: str
    transport: Transport = "udp"
    username: str | None = None
    password: str | None = None


class SipConnectionCreate(Body, kw_only=True):
    name: str
    organization_id: str | None = None
    sip_provider_name: str | None = None
    inbound: InboundSettings = msgspec.field(default_factory=InboundSettings)
    outbound: OutboundSettings | None = None


class InboundPatch(Body, kw_only=True):
    allowed_addresses: list[str] | UnsetType = UNSET
    username: str | UnsetType | None = UNSET
    password: str | UnsetType | None = UNSET
    media_encryption: MediaEncryption | UnsetType = UNSET
    pin: str | UnsetType | None = UNSET


class OutboundPatch(Body, kw_only=True):
    address: str | UnsetType = UNSET
    transport: Transport | UnsetType = UNSET
    username: str | UnsetType | None = UNSET
    password: str | UnsetType | None = UNSET


class SipConnectionPatch(Body, kw_only=True):
    """Field by field: a field left out stays; ``null`` clears it; ``outbound: null`` takes the
    outbound side away."""

    name: str | UnsetType = UNSET
    sip_provider_name: str | UnsetType | None = UNSET
    inbound: InboundPatch | UnsetType = UNSET
    outbound: OutboundPatch | UnsetType | None = UNSET


class Inbound(Row, kw_only=True):
    allowed_addresses: list[str] = msgspec.field(default_factory=list)
    username: str | None = None
    password_set: bool = False
    media_encryption: MediaEncryption = "allow"
    pin_set: bool = False


class Outbound(Row, kw_only=True):
    address: str
    transport: Transport = "udp"
    username: str | None = None
    password_set: bool = False


class SipConnection(Row, kw_only=True):
    """A connection as stored and shown: never a password."""

    id: str
    organization_id: str
    name: str
    sip_provider_name: str | None = None
    inbound: Inbound = msgspec.field(default_factory=Inbound)
    outbound: Outbound | None = None
    created_at: str
    updated_at: str


class Secrets(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """What is kept encrypted beside the row (``store.sip_connections``)."""

    inbound_password: str | None = None
    outbound_password: str | None = None
    pin: str | None = None


def canonical_addresses(addresses: list[str], field: str) -> list[str]:
    """IPs and CIDR ranges in canonical form (``203.0.113.7/32``), each once."""
    if len(addresses) > MAX_ADDRESSES:
        raise ValidationError(f"{field}: at most {MAX_ADDRESSES}", field=field.split(".")[0])
    canonical = []
    for address in addresses:
        try:
            canonical.append(str(ipaddress.ip_network(address.strip(), strict=False)))
        except ValueError:
            raise ValidationError(
                f"{field}: {address!r} is not an IP address or CIDR range",
                field=field.split(".")[0],
            ) from None
    return list(dict.fromkeys(canonical))


def _secret(value: str | None, field: str) -> str | None:
    if value is not None and not 1 <= len(value) <= MAX_SECRET:
        raise ValidationError(f"{field}: 1 to {MAX_SECRET} characters", field=field.split(".")[0])
    return value


def _text(value: str | None, field: str) -> str | None:
    if value is not None and (not value.strip() or len(value) > MAX_NAME):
        raise ValidationError(f"{field}: 1 to {MAX_NAME} characters", field=field.split(".")[0])
    return value


def check_address(address: str) -> str:
    """The outbound SIP server as LiveKit takes it: a host or IP, with a port if not 5060."""
    address = address.strip()
    if address.lower().startswith(("sip:", "sips:")) or not _HOST.fullmatch(address):
        raise ValidationError(
            f"outbound.address: a host name or IP address with an optional port "
            f"(pbx.example.com:5061), not a SIP URI; got {address!r}",
            field="outbound",
        )
    return address


def build(
    body: SipConnectionCreate, connection_id: str, organization_id: str, at: str
) -> tuple[SipConnection, Secrets]:
    """The connection as stored and its secrets, every rule checked."""
    _text(body.name, "name")
    _text(body.sip_provider_name, "sipProviderName")
    inbound, outbound = body.inbound, body.outbound
    _pair(inbound.username, inbound.password, "inbound")
    if inbound.pin is not None and not _PIN.fullmatch(inbound.pin):
        raise ValidationError("inbound.pin: 4 to 12 digits", field="inbound")
    if outbound is not None:
        _pair(outbound.username, outbound.password, "outbound")
    row = SipConnection(
        id=connection_id,
        organization_id=organization_id,
        name=body.name.strip(),
        sip_provider_name=body.sip_provider_name,
        inbound=Inbound(
            allowed_addresses=canonical_addresses(
                inbound.allowed_addresses, "inbound.allowedAddresses"
            ),
            username=_text(inbound.username, "inbound.username"),
            password_set=inbound.password is not None,
            media_encryption=inbound.media_encryption,
            pin_set=inbound.pin is not None,
        ),
        outbound=(
            None
            if outbound is None
            else Outbound(
                address=check_address(outbound.address),
                transport=outbound.transport,
                username=_text(outbound.username, "outbound.username"),
                password_set=outbound.password is not None,
            )
        ),
        created_at=at,
        updated_at=at,
    )
    secrets = Secrets(
        inbound_password=_secret(inbound.password, "inbound.password"),
        outbound_password=_secret(outbound.password, "outbound.password") if outbound else None,
        pin=inbound.pin,
    )
    return row, secrets


def _pair(username: str | None, password: str | None, side: str) -> None:
    """Digest authentication needs both halves."""
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise ValidationError(
            f"{side}.{missing}: digest authentication needs a username and a password",
            field=side,
        )


def patched(
    row: SipConnection, secrets: Secrets, patch: SipConnectionPatch, at: str
) -> tuple[SipConnection, Secrets]:
    """The connection and its secrets with the patch applied field by field, every rule
    checked on the result."""
    inbound = InboundSettings(
        allowed_addresses=row.inbound.allowed_addresses,
        username=row.inbound.username,
        password=secrets.inbound_password,
        media_encryption=row.inbound.media_encryption,
        pin=secrets.pin,
    )
    if isinstance(patch.inbound, InboundPatch):
        inbound = _merge(inbound, patch.inbound)
    outbound = (
        None
        if row.outbound is None
        else OutboundSettings(
            address=row.outbound.address,
            transport=row.outbound.transport,
            username=row.outbound.username,
            password=secrets.outbound_password,
        )
    )
    if patch.outbound is None:
        outbound = None
    elif isinstance(patch.outbound, OutboundPatch):
        if outbound is None:
            if isinstance(patch.outbound.address, UnsetType):
                raise ValidationError(
                    "outbound.address: the connection has no outbound side yet: give its address",
                    field="outbound",
                )
            outbound = OutboundSettings(address=patch.outbound.address)
        outbound = _merge(outbound, patch.outbound)
    body = SipConnectionCreate(
        name=row.name if isinstance(patch.name, UnsetType) else patch.name,
        sip_provider_name=(
            row.sip_provider_name
            if isinstance(patch.sip_provider_name, UnsetType)
            else patch.sip_provider_name
        ),
        inbound=inbound,
        outbound=outbound,
    )
    new, new_secrets = build(body, row.id, row.organization_id, row.created_at)
    return msgspec.structs.replace(new, updated_at=at), new_secrets


def _merge(settings: InboundSettings | OutboundSettings, patch: msgspec.Struct) -> Any:
    changes = {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not UNSET}
    return msgspec.structs.replace(settings, **changes)
