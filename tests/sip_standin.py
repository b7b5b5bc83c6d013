"""LiveKit's ``SIP`` service in the Twirp stand-in: inbound trunks and dispatch rules, kept in
memory, decoded with the real ``livekit-protocol`` messages and held to LiveKit's own rules.
Each rule names its source (livekit/protocol ``livekit/sip.go`` and ``livekit/types.go``,
livekit/livekit ``pkg/service/sip.go``):

- every method needs the SIP admin grant (``pkg/service/sip.go``: ``ensureSIPAdminPermission``);
- an inbound trunk must set one of auth, allowed addresses or numbers, on create and after
  every update ("for security, one of the fields must be set…",
  ``SIPInboundTrunkInfo.ValidateResult``);
- a ``ListUpdate`` may not be empty, nor set and change, nor clear and change, nor name an
  empty element (``ListUpdate.Validate``); it removes, then adds (``applyListUpdate``);
- an inbound number belongs to one trunk (a create or an ``add`` naming a number another
  trunk holds is refused: the router's trunks carry no distinguishing auth or addresses);
- ``UpdateSIPInboundTrunk`` loads the trunk, changes it and stores it back without a lock
  (``pkg/service/sip.go``): with ``interleave`` set, the stand-in waits between load and store,
  so two updates of one trunk at once lose one of them, as the open-source server can;
- trunk names are not unique (nothing in ``CreateSIPInboundTrunk`` checks them).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from aiohttp import web
from livekit import api
from livekit.protocol import models, sip

METHODS: dict[str, Any] = {
    "livekit.SIP/CreateSIPInboundTrunk": sip.CreateSIPInboundTrunkRequest,
    "livekit.SIP/ListSIPInboundTrunk": sip.ListSIPInboundTrunkRequest,
    "livekit.SIP/UpdateSIPInboundTrunk": sip.UpdateSIPInboundTrunkRequest,
    "livekit.SIP/DeleteSIPTrunk": sip.DeleteSIPTrunkRequest,
    "livekit.SIP/CreateSIPDispatchRule": sip.CreateSIPDispatchRuleRequest,
    "livekit.SIP/ListSIPDispatchRule": sip.ListSIPDispatchRuleRequest,
    "livekit.SIP/DeleteSIPDispatchRule": sip.DeleteSIPDispatchRuleRequest,
}
SECURITY = (
    "for security, one of the fields must be set: AuthUsername+AuthPassword, "
    "AllowedAddresses or Numbers"
)


def _reply(message: Any) -> web.Response:
    return web.Response(body=message.SerializeToString(), content_type="application/protobuf")


def _error(status: int, code: str, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _insecure(trunk: sip.SIPInboundTrunkInfo) -> bool:
    """livekit/protocol SIPInboundTrunkInfo.ValidateResult: auth, addresses or numbers."""
    has_auth = bool(trunk.auth_username or trunk.auth_password)
    return not (has_auth or trunk.allowed_addresses or trunk.numbers)


def _list_update_error(change: models.ListUpdate) -> str | None:
    """livekit/protocol ListUpdate.Validate."""
    changes = len(change.set) + len(change.add) + len(change.remove)
    if not change.clear and not changes:
        return "unsupported list update operation"
    if change.clear and changes:
        return "cannot clear and change the list at the same time"
    if change.set and (change.add or change.remove):
        return "cannot set and change the list at the same time"
    if any(v == "" for v in [*change.set, *change.add, *change.remove]):
        return "empty element in the list"
    return None


def _apply(current: list[str], change: models.ListUpdate) -> list[str]:
    """livekit/protocol applyListUpdate: clear, or set, or remove then add."""
    if change.clear:
        return []
    if change.set:
        return list(change.set)
    kept = [n for n in current if n not in set(change.remove)]
    return kept + [n for n in dict.fromkeys(change.add) if n not in kept]


class SipStandIn:
    def __init__(self) -> None:
        self.trunks: dict[str, sip.SIPInboundTrunkInfo] = {}
        self.rules: dict[str, sip.SIPDispatchRuleInfo] = {}
        self.calls: list[str] = []  # the methods asked, in order
        self.fail_next: list[int] = []  # HTTP statuses to answer before carrying anything out
        # Seconds an update waits between loading and storing its trunk (0: none). LiveKit's
        # open-source server takes no lock there; this makes concurrent updates overlap.
        self.interleave = 0.0
        self.deprecated_rule_fields = 0  # CreateSIPDispatchRule requests using them
        self._ids = itertools.count(1)

    async def handle(self, method: str, message: Any, claims: api.Claims) -> web.Response:
        if not (claims.sip and claims.sip.admin):
            return _error(403, "permission_denied", "token lacks the SIP admin grant")
        self.calls.append(method.rsplit("/", 1)[1])
        if self.fail_next:
            status = self.fail_next.pop(0)
            return _error(status, "unavailable" if status >= 500 else "invalid_argument", "x")
        name = method.rsplit("/", 1)[1]
        if name == "UpdateSIPInboundTrunk":
            return await self._UpdateSIPInboundTrunk(message)
        return getattr(self, f"_{name}")(message)  # type: ignore[no-any-return]

    def _holder(self, number: str, besides: str = "") -> str | None:
        return next(
            (t.sip_trunk_id for t in self.trunks.values()
             if number in t.numbers and t.sip_trunk_id != besides),
            None,
        )  # fmt: skip

    def _conflict(self, trunk: sip.SIPInboundTrunkInfo) -> str | None:
        for number in trunk.numbers:
            holder = self._holder(number, besides=trunk.sip_trunk_id)
            if holder:
                return f"{number} is already on trunk {holder}"
        return None

    def _CreateSIPInboundTrunk(self, req: sip.CreateSIPInboundTrunkRequest) -> web.Response:
        if _insecure(req.trunk):
            return _error(400, "invalid_argument", SECURITY)
        trunk = sip.SIPInboundTrunkInfo()
        trunk.CopyFrom(req.trunk)
        trunk.sip_trunk_id = f"ST_{next(self._ids)}"
        if conflict := self._conflict(trunk):
            return _error(400, "invalid_argument", conflict)
        self.trunks[trunk.sip_trunk_id] = trunk
        return _reply(trunk)

    def _ListSIPInboundTrunk(self, req: sip.ListSIPInboundTrunkRequest) -> web.Response:
        items = [
            t for t in self.trunks.values() if not req.trunk_ids or t.sip_trunk_id in req.trunk_ids
        ]
        return _reply(sip.ListSIPInboundTrunkResponse(items=items))

    async def _UpdateSIPInboundTrunk(self, req: sip.UpdateSIPInboundTrunkRequest) -> web.Response:
        stored = self.trunks.get(req.sip_trunk_id)
        if stored is None:
            return _error(404, "not_found", f"no trunk {req.sip_trunk_id}")
        if not req.HasField("update"):
            return _error(400, "invalid_argument", "only field updates are served here")
        for field in ("numbers", "allowed_addresses"):
            if req.update.HasField(field) and (
                problem := _list_update_error(getattr(req.update, field))
            ):
                return _error(400, "invalid_argument", problem)
        trunk = sip.SIPInboundTrunkInfo()
        trunk.CopyFrom(stored)  # loaded
        if self.interleave:
            await asyncio.sleep(self.interleave)  # another update may load the same trunk now
        for field in ("numbers", "allowed_addresses"):
            if req.update.HasField(field):
                applied = _apply(list(getattr(trunk, field)), getattr(req.update, field))
                del getattr(trunk, field)[:]
                getattr(trunk, field).extend(applied)
        if req.update.HasField("metadata"):
            trunk.metadata = req.update.metadata
        if _insecure(trunk):
            return _error(400, "invalid_argument", SECURITY)
        if conflict := self._conflict(trunk):
            return _error(400, "invalid_argument", conflict)
        if req.sip_trunk_id not in self.trunks:
            return _error(404, "not_found", f"no trunk {req.sip_trunk_id}")
        self.trunks[req.sip_trunk_id] = trunk  # stored: whatever changed meanwhile is lost
        return _reply(trunk)

    def _DeleteSIPTrunk(self, req: sip.DeleteSIPTrunkRequest) -> web.Response:
        trunk = self.trunks.pop(req.sip_trunk_id, None)
        if trunk is None:
            return _error(404, "not_found", f"no trunk {req.sip_trunk_id}")
        return _reply(sip.SIPTrunkInfo(sip_trunk_id=trunk.sip_trunk_id))

    def _CreateSIPDispatchRule(self, req: sip.CreateSIPDispatchRuleRequest) -> web.Response:
        rule = sip.SIPDispatchRuleInfo()
        if req.HasField("dispatch_rule"):
            rule.CopyFrom(req.dispatch_rule)
        else:  # the deprecated top-level fields, still accepted (livekit_sip.proto)
            self.deprecated_rule_fields += 1
            rule.rule.CopyFrom(req.rule)
            rule.trunk_ids.extend(req.trunk_ids)
            rule.name, rule.metadata = req.name, req.metadata
        rule.sip_dispatch_rule_id = f"SDR_{next(self._ids)}"
        self.rules[rule.sip_dispatch_rule_id] = rule
        return _reply(rule)

    def _ListSIPDispatchRule(self, req: sip.ListSIPDispatchRuleRequest) -> web.Response:
        return _reply(sip.ListSIPDispatchRuleResponse(items=list(self.rules.values())))

    def _DeleteSIPDispatchRule(self, req: sip.DeleteSIPDispatchRuleRequest) -> web.Response:
        rule = self.rules.pop(req.sip_dispatch_rule_id, None)
        if rule is None:
            return _error(404, "not_found", f"no rule {req.sip_dispatch_rule_id}")
        return _reply(rule)
