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

Numbers are added and removed with field-level updates (``ListUpdate`` add/remove), so two
imports at once do not overwrite each other; the trunk and the rule are looked up by name and
metadata before anything is created, so a retried import creates nothing twice. LiveKit's
errors become ``ProvisioningError`` with LiveKit's own message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from livekit import api
from livekit.protocol import models, sip

from router.errors import RemoteError

MANAGED_BY = "call-router"
ROOM_PREFIX = "call-"


class ProvisioningError(RemoteError):
    """LiveKit refused or did not answer a provisioning request."""


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
        except (OSError, TimeoutError) as exc:
            raise ProvisioningError(
                f"LiveKit did not answer a request to {what}: {exc!r}"[:300]
            ) from exc

    async def trunk(self, org: str) -> sip.SIPInboundTrunkInfo | None:
        """The organization's managed trunk, if LiveKit has it."""
        listed = await self._call(
            "list inbound trunks",
            self._api.sip.list_inbound_trunk(sip.ListSIPInboundTrunkRequest()),
        )
        return next(
            (t for t in listed.items if t.name == trunk_name(org) and _managed(t.metadata, org)),
            None,
        )

    async def rule(self, trunk_id: str, org: str) -> sip.SIPDispatchRuleInfo | None:
        listed = await self._call(
            "list dispatch rules",
            self._api.sip.list_dispatch_rule(sip.ListSIPDispatchRuleRequest()),
        )
        return next(
            (r for r in listed.items if trunk_id in r.trunk_ids and _managed(r.metadata, org)),
            None,
        )

    async def ensure(self, org: str, seed: list[str]) -> tuple[sip.SIPInboundTrunkInfo, bool]:
        """The organization's trunk and rule, made if missing (with ``seed`` as the first
        numbers); whether anything had to be made."""
        made = False
        trunk = await self.trunk(org)
        if trunk is None:
            info = sip.SIPInboundTrunkInfo(
                name=trunk_name(org),
                metadata=_metadata(org),
                numbers=seed,
                include_headers=sip.SIPHeaderOptions.SIP_ALL_HEADERS,
            )
            trunk = await self._call(
                "create the inbound trunk",
                self._api.sip.create_inbound_trunk(sip.CreateSIPInboundTrunkRequest(trunk=info)),
            )
            made = True
        if await self.rule(trunk.sip_trunk_id, org) is None:
            rule = sip.SIPDispatchRule(
                dispatch_rule_individual=sip.SIPDispatchRuleIndividual(room_prefix=ROOM_PREFIX)
            )
            await self._call(
                "create the dispatch rule",
                self._api.sip.create_dispatch_rule(
                    sip.CreateSIPDispatchRuleRequest(
                        rule=rule,
                        trunk_ids=[trunk.sip_trunk_id],
                        name=trunk_name(org),
                        metadata=_metadata(org),
                    )
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
        """Add and remove numbers on a trunk, field by field (no list is replaced)."""
        update = models.ListUpdate(add=list(add), remove=list(remove))
        trunk: sip.SIPInboundTrunkInfo = await self._call(
            "update the inbound trunk's numbers",
            self._api.sip.update_inbound_trunk_fields(trunk_id, numbers=update),
        )
        return trunk
