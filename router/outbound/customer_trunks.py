"""A customer's own LiveKit inbound trunk: a number imported with ``sipTrunkId`` (the
reference's ``byoc`` with ``trunk_id``: "the number is registered against that trunk").

The router adds the number to the trunk's ``numbers`` and sees that a dispatch rule covers the
trunk, making one of its own (an individual rule named ``call-router/<org>/trunk/<id>``, no
agent: the router dispatches it) only when none does — the customer's own rule on that trunk,
or a default rule with no trunks, is left to put the caller in a room. What the customer made
is never narrowed nor widened: a trunk that lists no numbers takes every number already (adding
one would narrow it to that number), a number the router did not add is never taken off, and
neither is the trunk's last number (an empty list would widen it to every number); the trunk
itself is never deleted.
"""

from __future__ import annotations

import json
import re

from livekit.protocol import sip

from router.errors import ProvisioningError
from router.outbound.livekit_sip import LiveKitSip
from router.outbound.sip_trunks import MANAGED_BY, mine, trunk_name


def _normalized(number: str) -> str:
    """As LiveKit compares trunk numbers (livekit/protocol ``NormalizeNumber``)."""
    digits = re.sub(r"[ ()\-]", "", number)
    return digits if digits.startswith("+") else "+" + digits


def holds(trunk: sip.SIPInboundTrunkInfo, number: str) -> bool:
    """LiveKit matches a call to this number on the trunk (a trunk with no numbers takes
    every number)."""
    return not trunk.numbers or _normalized(number) in {_normalized(n) for n in trunk.numbers}


class CustomerTrunks:
    """Numbers on the customers' own inbound trunks, and the rules the router adds there."""

    def __init__(self, livekit: LiveKitSip) -> None:
        self.livekit = livekit

    async def find(self, trunk_id: str) -> sip.SIPInboundTrunkInfo | None:
        try:
            return await self.livekit.stored(trunk_id)
        except ProvisioningError:
            if await self.livekit.inbound_exists(trunk_id):
                raise
            return None

    async def join(self, trunk_id: str, org: str, number: str) -> bool:
        """The number on the trunk and a rule covering the trunk; whether the router added
        the number (False: the trunk took it already)."""
        trunk = await self.find(trunk_id)
        if trunk is None:
            raise ProvisioningError(f"LiveKit has no inbound trunk {trunk_id} (sipTrunkId)")
        added = not holds(trunk, number)
        if added:
            await self.livekit.change(trunk_id, add=[number])
        if not await self.covered(trunk_id):
            await self.livekit.add_rule(
                trunk_id, rule_name(org, trunk_id), _metadata(org, trunk_id)
            )
        return added

    async def covered(self, trunk_id: str) -> bool:
        """A dispatch rule puts the trunk's callers in rooms: one naming the trunk, or a
        default rule naming none."""
        rules = await self.livekit.dispatch_rules()
        return any(not r.trunk_ids or trunk_id in r.trunk_ids for r in rules)

    async def leave(self, trunk_id: str, org: str, number: str, *, added: bool, last: bool) -> None:
        """The number off the trunk if the router put it there (never the trunk's last);
        with ``last`` (no number of the organization on the trunk any more) the router's rule
        goes too."""
        trunk = await self.find(trunk_id)
        if trunk is None:
            return  # deleted by its owner: nothing of ours is left on it
        listed = [n for n in trunk.numbers if _normalized(n) == _normalized(number)]
        if added and listed and len(trunk.numbers) > len(listed):
            await self.livekit.change(trunk_id, remove=listed)
        if last:
            for rule in await self.ours(trunk_id, org):
                await self.livekit.delete_rule(rule)

    async def ours(self, trunk_id: str, org: str) -> list[sip.SIPDispatchRuleInfo]:
        """The rules the router made on this customer trunk for the organization."""
        return [
            r
            for r in await self.livekit.rules(trunk_id, org)
            if (mine(r.metadata, org) or {}).get("trunkId") == trunk_id
        ]


def rule_name(org: str, trunk_id: str) -> str:
    return f"{trunk_name(org)}/trunk/{trunk_id}"


def _metadata(org: str, trunk_id: str) -> str:
    return json.dumps({"managedBy": MANAGED_BY, "organizationId": org, "trunkId": trunk_id})
