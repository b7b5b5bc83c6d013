"""LiveKit's ``SIP`` service in the Twirp stand-in: inbound trunks and dispatch rules, kept in
memory, with the real ``livekit-protocol`` messages and LiveKit's rules as far as the router
relies on them: the SIP admin grant is required, an inbound number belongs to one trunk
(``CreateSIPInboundTrunk`` / an ``add`` naming a number another trunk holds is refused), and
``UpdateSIPInboundTrunk`` applies a ``ListUpdate`` field by field (``set``, ``add``,
``remove``), so concurrent adds do not overwrite each other."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web
from livekit import api
from livekit.protocol import sip

METHODS: dict[str, Any] = {
    "livekit.SIP/CreateSIPInboundTrunk": sip.CreateSIPInboundTrunkRequest,
    "livekit.SIP/ListSIPInboundTrunk": sip.ListSIPInboundTrunkRequest,
    "livekit.SIP/UpdateSIPInboundTrunk": sip.UpdateSIPInboundTrunkRequest,
    "livekit.SIP/DeleteSIPTrunk": sip.DeleteSIPTrunkRequest,
    "livekit.SIP/CreateSIPDispatchRule": sip.CreateSIPDispatchRuleRequest,
    "livekit.SIP/ListSIPDispatchRule": sip.ListSIPDispatchRuleRequest,
    "livekit.SIP/DeleteSIPDispatchRule": sip.DeleteSIPDispatchRuleRequest,
}


def _reply(message: Any) -> web.Response:
    return web.Response(body=message.SerializeToString(), content_type="application/protobuf")


def _error(status: int, code: str, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class SipStandIn:
    def __init__(self) -> None:
        self.trunks: dict[str, sip.SIPInboundTrunkInfo] = {}
        self.rules: dict[str, sip.SIPDispatchRuleInfo] = {}
        self.calls: list[str] = []  # the methods asked, in order
        self.fail_next: list[int] = []  # HTTP statuses to answer before carrying anything out
        self._ids = itertools.count(1)

    def handle(self, method: str, message: Any, claims: api.Claims) -> web.Response:
        if not (claims.sip and claims.sip.admin):
            return _error(403, "permission_denied", "token lacks the SIP admin grant")
        self.calls.append(method.rsplit("/", 1)[1])
        if self.fail_next:
            status = self.fail_next.pop(0)
            return _error(status, "unavailable" if status >= 500 else "invalid_argument", "x")
        name = method.rsplit("/", 1)[1]
        return getattr(self, f"_{name}")(message)  # type: ignore[no-any-return]

    def _holder(self, number: str, besides: str = "") -> str | None:
        return next(
            (t.sip_trunk_id for t in self.trunks.values()
             if number in t.numbers and t.sip_trunk_id != besides),
            None,
        )  # fmt: skip

    def _CreateSIPInboundTrunk(self, req: sip.CreateSIPInboundTrunkRequest) -> web.Response:
        for number in req.trunk.numbers:
            if self._holder(number):
                return _error(400, "invalid_argument", f"{number} is on another trunk")
        trunk = sip.SIPInboundTrunkInfo()
        trunk.CopyFrom(req.trunk)
        trunk.sip_trunk_id = f"ST_{next(self._ids)}"
        self.trunks[trunk.sip_trunk_id] = trunk
        return _reply(trunk)

    def _ListSIPInboundTrunk(self, req: sip.ListSIPInboundTrunkRequest) -> web.Response:
        items = [
            t for t in self.trunks.values() if not req.trunk_ids or t.sip_trunk_id in req.trunk_ids
        ]
        return _reply(sip.ListSIPInboundTrunkResponse(items=items))

    def _UpdateSIPInboundTrunk(self, req: sip.UpdateSIPInboundTrunkRequest) -> web.Response:
        trunk = self.trunks.get(req.sip_trunk_id)
        if trunk is None:
            return _error(404, "not_found", f"no trunk {req.sip_trunk_id}")
        if not req.HasField("update"):
            return _error(400, "invalid_argument", "only field updates are served here")
        change = req.update.numbers
        numbers = list(change.set) if change.set else list(trunk.numbers)
        for number in change.add:
            if self._holder(number, besides=trunk.sip_trunk_id):
                return _error(400, "invalid_argument", f"{number} is on another trunk")
            if number not in numbers:
                numbers.append(number)
        numbers = [n for n in numbers if n not in set(change.remove)]
        del trunk.numbers[:]
        trunk.numbers.extend(numbers)
        if req.update.HasField("metadata"):
            trunk.metadata = req.update.metadata
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
        else:
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
