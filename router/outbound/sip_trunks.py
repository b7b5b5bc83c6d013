"""What one of the router's LiveKit SIP trunks must be: the organization's managed inbound
trunk (``call-router/<org>``) or a SIP connection's inbound and outbound trunks
(``call-router/<org>/<connection>``), each recognised by its name and the router's metadata
(``{"managedBy": "call-router", "organizationId": …, "connectionId": …}``). Pure: no I/O
(``outbound.livekit_sip`` talks to LiveKit)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from livekit.protocol import sip

MANAGED_BY = "call-router"
ROOM_PREFIX = "call-"
ENCRYPTION = {
    "disable": sip.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE,
    "allow": sip.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW,
    "require": sip.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE,
}


def trunk_name(org: str, connection: str | None = None) -> str:
    return f"{MANAGED_BY}/{org}" + (f"/{connection}" if connection else "")


class TrunkSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One of the router's inbound trunks: the organization's managed trunk, or a SIP
    connection's (with its credentials, media encryption and PIN)."""

    org: str
    connection: str | None = None
    allowed_addresses: tuple[str, ...] = ()
    username: str = ""
    password: str = ""
    media_encryption: str | None = None  # None: LiveKit's default (the managed trunks)
    pin: str = ""

    @property
    def name(self) -> str:
        return trunk_name(self.org, self.connection)

    @property
    def metadata(self) -> str:
        fields = {"managedBy": MANAGED_BY, "organizationId": self.org}
        if self.connection:
            fields["connectionId"] = self.connection
        return json.dumps(fields)

    def differs(self, trunk: sip.SIPInboundTrunkInfo) -> bool:
        """The trunk's addresses, credentials or media encryption are not these."""
        encryption = ENCRYPTION[self.media_encryption] if self.media_encryption else None
        return (
            set(trunk.allowed_addresses) != set(self.allowed_addresses)
            or (trunk.auth_username, trunk.auth_password) != (self.username, self.password)
            or (encryption is not None and trunk.media.encryption != encryption)
        )

    def owns(self, trunk: sip.SIPInboundTrunkInfo) -> bool:
        """The trunk is this one (by name and the router's metadata)."""
        return _owned(trunk, self.name, self.org, self.connection)


def mine(metadata: str, org: str) -> dict[str, Any] | None:
    """The router's metadata on a trunk or rule of the organization's (None: not ours)."""
    try:
        found = json.loads(metadata or "{}")
    except ValueError:
        return None
    if not isinstance(found, dict) or found.get("managedBy") != MANAGED_BY:
        return None
    return found if found.get("organizationId") == org else None


def _owned(
    trunk: sip.SIPInboundTrunkInfo | sip.SIPOutboundTrunkInfo,
    name: str,
    org: str,
    connection: str | None,
) -> bool:
    ours = mine(trunk.metadata, org) if trunk.name == name else None
    return ours is not None and ours.get("connectionId") == connection


TRANSPORT = {
    "udp": sip.SIPTransport.SIP_TRANSPORT_UDP,
    "tcp": sip.SIPTransport.SIP_TRANSPORT_TCP,
    "tls": sip.SIPTransport.SIP_TRANSPORT_TLS,
}


class OutboundSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A SIP connection's outbound trunk: where its calls go out and how they authenticate."""

    org: str
    connection: str
    address: str
    transport: str = "udp"
    username: str = ""
    password: str = ""

    @property
    def name(self) -> str:
        return trunk_name(self.org, self.connection)

    @property
    def metadata(self) -> str:
        return TrunkSpec(org=self.org, connection=self.connection).metadata

    def owns(self, trunk: sip.SIPOutboundTrunkInfo) -> bool:
        return _owned(trunk, self.name, self.org, self.connection)
