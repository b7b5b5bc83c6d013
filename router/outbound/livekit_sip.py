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
its rules, since LiveKit refuses a trunk with no numbers, auth or addresses. LiveKit's errors,
and a connection that fails on the way, become ``ProvisioningError`` with LiveKit's own words.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiohttp
from livekit import api
from livekit.protocol import models, sip

from router.errors import ProvisioningError

MANAGED_BY = "call-router"
ROOM_PREFIX = "call-"


def trunk_name(org: str) -> str:
    return f"{MANAGED_BY}/{org}"


def _managed(metadata: str, org: str) -> bool:
    try:
        found = json.loads(metadata or "{}")
    except ValueError:
        return False
    return (
        isinstance(found, dict)
        and found.get("managedBy") == MANAGED_BY
        and (found.get("organizationId") == org)
    )


def _metadata(org: str) -> str:
    return json.dumps({"managedBy": MANAGED_BY, "organizationId": org})


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

    async def trunks(self, org: str) -> list[sip.SIPInboundTrunkInfo]:
        """Every managed trunk of the organization LiveKit has (more than one only when two
        were made at once before the router serialized its writes: reconcile merges them)."""
        listed = await self._call(
            "list inbound trunks",
            self._api.sip.list_inbound_trunk(sip.ListSIPInboundTrunkRequest()),
        )
        return [t for t in listed.items if t.name == trunk_name(org) and _managed(t.metadata, org)]

    async def trunk(self, org: str) -> sip.SIPInboundTrunkInfo | None:
        """The organization's managed trunk, if LiveKit has it."""
        found = await self.trunks(org)
        return found[0] if found else None

    async def rules(self, trunk_id: str, org: str) -> list[sip.SIPDispatchRuleInfo]:
        listed = await self._call(
            "list dispatch rules",
            self._api.sip.list_dispatch_rule(sip.ListSIPDispatchRuleRequest()),
        )
        return [r for r in listed.items if trunk_id in r.trunk_ids and _managed(r.metadata, org)]

    async def rule(self, trunk_id: str, org: str) -> sip.SIPDispatchRuleInfo | None:
        found = await self.rules(trunk_id, org)
        return found[0] if found else None

    async def ensure(
        self, org: str, seed: list[str], addresses: Sequence[str] = ()
    ) -> tuple[sip.SIPInboundTrunkInfo, bool]:
        """The organization's trunk and rule, made if missing (with ``seed`` as the first
        numbers); whether anything had to be made. LiveKit has no unique trunk name: the
        caller holds the organization's trunk mutex (``store.mutex``)."""
        made = False
        trunk = await self.trunk(org)
        if trunk is None:
            info = sip.SIPInboundTrunkInfo(
                name=trunk_name(org),
                metadata=_metadata(org),
                numbers=seed,
                allowed_addresses=list(addresses),
                include_headers=sip.SIPHeaderOptions.SIP_ALL_HEADERS,
            )
            trunk = await self._call(
                "create the inbound trunk",
                self._api.sip.create_inbound_trunk(sip.CreateSIPInboundTrunkRequest(trunk=info)),
            )
            made = True
        if await self.rule(trunk.sip_trunk_id, org) is None:
            # dispatch_rule, not the request's top-level fields (deprecated in livekit_sip.proto)
            rule = sip.SIPDispatchRuleInfo(
                rule=sip.SIPDispatchRule(
                    dispatch_rule_individual=sip.SIPDispatchRuleIndividual(room_prefix=ROOM_PREFIX)
                ),
                trunk_ids=[trunk.sip_trunk_id],
                name=trunk_name(org),
                metadata=_metadata(org),
            )
            await self._call(
                "create the dispatch rule",
                self._api.sip.create_dispatch_rule(
                    sip.CreateSIPDispatchRuleRequest(dispatch_rule=rule)
                ),
            )
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
            stored = await self._stored(trunk_id)
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
        stored = await self._stored(trunk.sip_trunk_id)
        if set(stored.allowed_addresses) != wanted:
            raise ProvisioningError(
                f"LiveKit's trunk {trunk.sip_trunk_id} does not hold the allowed addresses asked "
                "for after the update"
            )
        return stored

    async def _stored(self, trunk_id: str) -> sip.SIPInboundTrunkInfo:
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
            await self._call(
                "delete the dispatch rule",
                self._api.sip.delete_dispatch_rule(
                    sip.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id)
                ),
            )
        await self._call(
            "delete the inbound trunk",
            self._api.sip.delete_trunk(sip.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id)),
        )
