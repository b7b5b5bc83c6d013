"""The router's own LiveKit SIP configuration, through livekit-api's ``SipService``.

One **managed inbound trunk per organization** (name ``call-router/<org>``, metadata
``{"managedBy": "call-router", "organizationId": …}``) whose ``numbers`` are the
organization's inbound numbers, with ``include_headers: SIP_ALL_HEADERS`` so Diversion,
History-Info, Privacy and the correlation header reach the router as ``sip.h.*`` attributes,
and one **individual dispatch rule** on it with no agent (each caller in a room of its own;
the router dispatches the agent). Per organization, not per number (thousands of trunks) nor
one for the router (every import of every customer rewriting one list): LiveKit matches a call
to the trunk whose ``numbers`` hold the dialed number, and an organization's trunk is a list
only its own writes touch, bounded by its number limit.

Numbers are added and removed with field-level updates (``ListUpdate`` add/remove) and read
back after each write; the trunk and the rule are looked up by name and metadata before
anything is created, so a retried import creates nothing twice. LiveKit has neither unique
trunk names nor a lock in its update (load, change, store): the callers serialize every change
to an organization's trunk (``store.mutex``). A trunk whose last number goes is deleted with
its rules (a trunk with no numbers claims every number). LiveKit's errors, and a connection
that fails on the way, become ``ProvisioningError`` with LiveKit's own words.

A number imported onto a customer's **SIP connection** (``core.sip_connections``) goes on that
connection's own inbound trunk instead (``call-router/<org>/<connection>``, with the
connection's allowed addresses, digest credentials and media encryption, and a dispatch rule
with its PIN): a ``TrunkSpec`` (``outbound.sip_trunks``) says which trunk and what it must be.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
from livekit import api
from livekit.protocol import models, sip

from router.errors import ProvisioningError
from router.outbound.sip_trunks import (
    ENCRYPTION,
    ROOM_PREFIX,
    TRANSPORT,
    OutboundSpec,
    TrunkSpec,
    mine,
)


class LiveKitSip:
    """The managed trunks and rules of every organization (one client per process)."""

    def __init__(self, url: str, api_key: str, api_secret: str) -> None:
        self._api = api.LiveKitAPI(url, api_key, api_secret)

    async def close(self) -> None:
        await self._api.aclose()

    async def _call(self, what: str, request: Any) -> Any:
        try:
            return await request
        except api.TwirpError as exc:
            raise ProvisioningError(
                f"LiveKit refused to {what}: {exc.message} ({exc.code})",
                status=exc.status,
                code=str(exc.code),
            ) from exc
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            # aiohttp's ServerDisconnectedError and ClientPayloadError are not OSErrors
            raise ProvisioningError(
                f"LiveKit did not answer a request to {what}: {exc!r}"[:300]
            ) from exc

    async def trunks(self, spec: TrunkSpec) -> list[sip.SIPInboundTrunkInfo]:
        """Every trunk LiveKit has that is this one (more than one only when two were made at
        once before the router serialized its writes: reconcile merges them)."""
        listed = await self._call(
            "list inbound trunks",
            self._api.sip.list_inbound_trunk(sip.ListSIPInboundTrunkRequest()),
        )
        return [t for t in listed.items if spec.owns(t)]

    async def trunk(self, spec: TrunkSpec) -> sip.SIPInboundTrunkInfo | None:
        """The trunk, if LiveKit has it."""
        found = await self.trunks(spec)
        return found[0] if found else None

    async def dispatch_rules(self) -> list[sip.SIPDispatchRuleInfo]:
        """Every dispatch rule LiveKit has (the router's and the customers' own)."""
        listed = await self._call(
            "list dispatch rules",
            self._api.sip.list_dispatch_rule(sip.ListSIPDispatchRuleRequest()),
        )
        return list(listed.items)

    async def rules(self, trunk_id: str, org: str) -> list[sip.SIPDispatchRuleInfo]:
        """The organization's rules (the router's) on the trunk."""
        return [
            r
            for r in await self.dispatch_rules()
            if trunk_id in r.trunk_ids and mine(r.metadata, org) is not None
        ]

    async def rule(self, trunk_id: str, org: str) -> sip.SIPDispatchRuleInfo | None:
        found = await self.rules(trunk_id, org)
        return found[0] if found else None

    async def ensure(
        self, spec: TrunkSpec, seed: list[str]
    ) -> tuple[sip.SIPInboundTrunkInfo, bool]:
        """The trunk and its rule, made if missing (with ``seed`` as the first numbers);
        whether anything had to be made. LiveKit has no unique trunk name: the caller holds
        the organization's trunk mutex (``store.mutex``)."""
        made = False
        trunk = await self.trunk(spec)
        if trunk is None:
            info = sip.SIPInboundTrunkInfo(
                name=spec.name,
                metadata=spec.metadata,
                numbers=seed,
                allowed_addresses=list(spec.allowed_addresses),
                auth_username=spec.username,
                auth_password=spec.password,
                media=(
                    sip.SIPMediaConfig(encryption=ENCRYPTION[spec.media_encryption])
                    if spec.media_encryption
                    else None
                ),
                include_headers=sip.SIPHeaderOptions.SIP_ALL_HEADERS,
            )
            trunk = await self._call(
                "create the inbound trunk",
                self._api.sip.create_inbound_trunk(sip.CreateSIPInboundTrunkRequest(trunk=info)),
            )
            made = True
        if await self.rule(trunk.sip_trunk_id, spec.org) is None:
            await self.add_rule(trunk.sip_trunk_id, spec.name, spec.metadata, spec.pin)
            made = True
        return trunk, made

    async def change(
        self,
        trunk_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> sip.SIPInboundTrunkInfo:
        """Add and remove numbers on a trunk, field by field (no list is replaced), then read
        the trunk back: LiveKit's update is not atomic with another writer's, so what was
        asked is checked on what LiveKit stored, and asked once more if it is not there."""
        update = models.ListUpdate(add=list(add), remove=list(remove))
        for _ in range(2):
            await self._call(
                "update the inbound trunk's numbers",
                self._api.sip.update_inbound_trunk_fields(trunk_id, numbers=update),
            )
            stored = await self.stored(trunk_id)
            if set(add) <= set(stored.numbers) and not set(remove) & set(stored.numbers):
                return stored
        raise ProvisioningError(
            f"LiveKit's trunk {trunk_id} does not hold the numbers asked for after two "
            "updates (another writer changes it at the same time)"
        )

    async def set_addresses(
        self, trunk: sip.SIPInboundTrunkInfo, addresses: Sequence[str]
    ) -> sip.SIPInboundTrunkInfo:
        """The trunk takes calls from ``addresses`` only (empty: from anywhere), changed field
        by field and read back."""
        current, wanted = set(trunk.allowed_addresses), set(addresses)
        if current == wanted:
            return trunk
        update = models.ListUpdate(add=sorted(wanted - current), remove=sorted(current - wanted))
        await self._call(
            "update the inbound trunk's allowed addresses",
            self._api.sip.update_inbound_trunk_fields(trunk.sip_trunk_id, allowed_addresses=update),
        )
        stored = await self.stored(trunk.sip_trunk_id)
        if set(stored.allowed_addresses) != wanted:
            raise ProvisioningError(
                f"LiveKit's trunk {trunk.sip_trunk_id} does not hold the allowed addresses asked "
                "for after the update"
            )
        return stored

    async def follow(self, trunk: sip.SIPInboundTrunkInfo, spec: TrunkSpec) -> None:
        """A SIP connection's trunk brought in line with the connection's settings (its
        addresses, credentials and media encryption field by field; its rule's PIN by a new
        rule), under the organization's trunk mutex."""
        await self.set_addresses(trunk, spec.allowed_addresses)
        fields: dict[str, Any] = {}
        if (trunk.auth_username, trunk.auth_password) != (spec.username, spec.password):
            fields.update(auth_username=spec.username, auth_password=spec.password)
        if spec.media_encryption and trunk.media.encryption != ENCRYPTION[spec.media_encryption]:
            fields["media"] = sip.SIPMediaConfig(encryption=ENCRYPTION[spec.media_encryption])
        if fields:
            await self._call(
                "update the inbound trunk's settings",
                self._api.sip.update_inbound_trunk_fields(trunk.sip_trunk_id, **fields),
            )
        rule = await self.rule(trunk.sip_trunk_id, spec.org)
        if rule is not None and rule.rule.dispatch_rule_individual.pin != spec.pin:
            await self.delete_rule(rule)
            await self.ensure(spec, [])

    async def add_rule(self, trunk_id: str, name: str, metadata: str, pin: str = "") -> None:
        """An individual dispatch rule on the trunk with no agent: each caller in a room of
        its own, the router dispatching the agent."""
        # dispatch_rule, not the request's top-level fields (deprecated in livekit_sip.proto)
        individual = sip.SIPDispatchRuleIndividual(room_prefix=ROOM_PREFIX, pin=pin)
        rule = sip.SIPDispatchRuleInfo(
            rule=sip.SIPDispatchRule(dispatch_rule_individual=individual),
            trunk_ids=[trunk_id],
            name=name,
            metadata=metadata,
        )
        await self._call(
            "create the dispatch rule",
            self._api.sip.create_dispatch_rule(
                sip.CreateSIPDispatchRuleRequest(dispatch_rule=rule)
            ),
        )

    async def delete_rule(self, rule: sip.SIPDispatchRuleInfo) -> None:
        await self._call(
            "delete the dispatch rule",
            self._api.sip.delete_dispatch_rule(
                sip.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id)
            ),
        )

    # ---- outbound trunks (a SIP connection's) ---------------------------------------------

    async def outbound_trunk(self, spec: OutboundSpec) -> sip.SIPOutboundTrunkInfo | None:
        listed = await self._call(
            "list outbound trunks",
            self._api.sip.list_outbound_trunk(sip.ListSIPOutboundTrunkRequest()),
        )
        found = [t for t in listed.items if spec.owns(t)]
        return found[0] if found else None

    async def outbound_add(self, spec: OutboundSpec, number: str) -> sip.SIPOutboundTrunkInfo:
        """The number on the connection's outbound trunk, made with its first number (LiveKit
        refuses an outbound trunk with none: ``SIPOutboundTrunkInfo.ValidateResult``), its
        settings brought in line; read back."""
        trunk = await self.outbound_trunk(spec)
        if trunk is None:
            info = sip.SIPOutboundTrunkInfo(
                name=spec.name,
                metadata=spec.metadata,
                address=spec.address,
                transport=TRANSPORT[spec.transport],
                numbers=[number],
                auth_username=spec.username,
                auth_password=spec.password,
            )
            created: sip.SIPOutboundTrunkInfo = await self._call(
                "create the outbound trunk",
                self._api.sip.create_outbound_trunk(sip.CreateSIPOutboundTrunkRequest(trunk=info)),
            )
            return created
        fields: dict[str, Any] = {}
        if number not in trunk.numbers:
            fields["numbers"] = models.ListUpdate(add=[number])
        fields.update(self._outbound_changes(trunk, spec))
        if fields:
            await self._call(
                "update the outbound trunk",
                self._api.sip.update_outbound_trunk_fields(trunk.sip_trunk_id, **fields),
            )
            trunk = await self.outbound_trunk(spec) or trunk
        if number not in trunk.numbers:
            raise ProvisioningError(
                f"LiveKit's outbound trunk {trunk.sip_trunk_id} does not hold {number} after "
                "the update"
            )
        return trunk

    @staticmethod
    def _outbound_changes(trunk: sip.SIPOutboundTrunkInfo, spec: OutboundSpec) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if trunk.address != spec.address:
            changes["address"] = spec.address
        if trunk.transport != TRANSPORT[spec.transport]:
            changes["transport"] = TRANSPORT[spec.transport]
        if (trunk.auth_username, trunk.auth_password) != (spec.username, spec.password):
            changes.update(auth_username=spec.username, auth_password=spec.password)
        return changes

    async def outbound_follow(self, spec: OutboundSpec) -> None:
        """The connection's outbound trunk (if it has numbers, it has one) follows its
        settings field by field."""
        trunk = await self.outbound_trunk(spec)
        if trunk is not None and (changes := self._outbound_changes(trunk, spec)):
            await self._call(
                "update the outbound trunk",
                self._api.sip.update_outbound_trunk_fields(trunk.sip_trunk_id, **changes),
            )

    async def call(
        self, *, trunk_id: str, to: str, number: str, room: str, identity: str
    ) -> sip.SIPParticipantInfo:
        """Dial ``to`` from ``number`` on the outbound trunk, the callee joining ``room`` as
        ``identity`` (``CreateSIPParticipant``; answered once LiveKit has placed the call, not
        when the callee picks up)."""
        request = sip.CreateSIPParticipantRequest(
            sip_trunk_id=trunk_id,
            sip_call_to=to,
            sip_number=number,
            room_name=room,
            participant_identity=identity,
            participant_name=to,
        )
        placed: sip.SIPParticipantInfo = await self._call(
            "place the outbound call", self._api.sip.create_sip_participant(request)
        )
        return placed

    async def outbound_drop(self, spec: OutboundSpec) -> bool:
        """Delete the connection's outbound trunk, if LiveKit has it (whether it did)."""
        trunk = await self.outbound_trunk(spec)
        if trunk is None:
            return False
        await self._call(
            "delete the outbound trunk",
            self._api.sip.delete_trunk(sip.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id)),
        )
        return True

    async def outbound_remove(self, spec: OutboundSpec, number: str) -> None:
        """The number off the connection's outbound trunk; the trunk deleted with its last."""
        trunk = await self.outbound_trunk(spec)
        if trunk is None or number not in trunk.numbers:
            return
        if set(trunk.numbers) - {number}:
            await self._call(
                "update the outbound trunk's numbers",
                self._api.sip.update_outbound_trunk_fields(
                    trunk.sip_trunk_id, numbers=models.ListUpdate(remove=[number])
                ),
            )
            return
        await self.outbound_drop(spec)

    async def inbound_exists(self, trunk_id: str) -> bool:
        """Whether LiveKit has an inbound trunk of this id (``ListSIPInboundTrunk``)."""
        listed = await self._call(
            "list inbound trunks",
            self._api.sip.list_inbound_trunk(sip.ListSIPInboundTrunkRequest(trunk_ids=[trunk_id])),
        )
        return any(t.sip_trunk_id == trunk_id for t in listed.items)

    async def stored(self, trunk_id: str) -> sip.SIPInboundTrunkInfo:
        listed = await self._call(
            "read the inbound trunk back",
            self._api.sip.list_inbound_trunk(sip.ListSIPInboundTrunkRequest(trunk_ids=[trunk_id])),
        )
        found: list[sip.SIPInboundTrunkInfo] = [
            t for t in listed.items if t.sip_trunk_id == trunk_id
        ]
        if not found:
            raise ProvisioningError(f"LiveKit's trunk {trunk_id} is gone")
        return found[0]

    async def remove(
        self, trunk: sip.SIPInboundTrunkInfo, org: str, numbers: Sequence[str]
    ) -> None:
        """Take ``numbers`` off the trunk; when the last numbers go, the trunk and its rules
        are deleted instead (the next import makes them again). A trunk with no numbers claims
        every number (livekit/protocol ``ValidateTrunksIter``): with allowed addresses it would
        take calls to any number from them — a carrier's ranges are shared by all its
        customers — and LiveKit refuses a second such trunk; with none, LiveKit refuses it
        outright (``SIPInboundTrunkInfo.Validate``)."""
        if set(trunk.numbers) - set(numbers):
            await self.change(trunk.sip_trunk_id, remove=numbers)
            return
        await self.retire(trunk, org)

    async def retire(self, trunk: sip.SIPInboundTrunkInfo, org: str) -> None:
        """Delete the trunk's dispatch rules, then the trunk."""
        for rule in await self.rules(trunk.sip_trunk_id, org):
            await self.delete_rule(rule)
        await self._call(
            "delete the inbound trunk",
            self._api.sip.delete_trunk(sip.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id)),
        )
