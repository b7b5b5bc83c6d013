"""LiveKit's ``SIP`` service in the Twirp stand-in: inbound and outbound trunks, dispatch rules
and outbound calls (``CreateSIPParticipant``), kept in memory, decoded with the real
``livekit-protocol`` messages and held to LiveKit's own rules.
Each rule names its source (livekit/protocol ``livekit/sip.go`` and ``livekit/types.go``,
livekit/livekit ``pkg/service/sip.go``):

- every method needs the SIP admin grant (``pkg/service/sip.go``: ``ensureSIPAdminPermission``);
- an inbound trunk must set one of auth, allowed addresses or numbers, on create and after
  every update ("for security, one of the fields must be set…",
  ``SIPInboundTrunkInfo.ValidateResult``);
- a ``ListUpdate`` may not be empty, nor set and change, nor clear and change, nor name an
  empty element (``ListUpdate.Validate``); it removes, then adds (``applyListUpdate``);
- inbound trunks may not conflict (livekit/protocol ``sip/sip.go`` ``ValidateTrunksIter``,
  run on every create and update by ``pkg/service/sip.go``): trunks are grouped by each
  number they claim (normalized as ``NormalizeNumber`` does; a trunk with no numbers claims
  every number, the ``""`` group), and two trunks of one group conflict unless their
  ``allowed_numbers`` tell them apart — auth and allowed addresses do not;
- an outbound trunk needs numbers and an address that is a host or IP, not a SIP URI nor a
  ``transport=`` parameter (``SIPOutboundTrunkInfo.ValidateResult``,
  ``validateHostnameFormat``), and its id must not be given (``CreateSIPOutboundTrunkRequest``);
- a trunk id that does not exist is ``not_found`` for every method that names one;
- ``CreateSIPParticipant`` needs the SIP call grant (``EnsureSIPCallPermission``) and an
  outbound trunk that exists, and dials one of the trunk's numbers (``sip_number``, else the
  trunk's first);
- ``UpdateSIPInboundTrunk`` loads the trunk, changes it and stores it back without a lock
  (``pkg/service/sip.go``): with ``interleave`` set, the stand-in waits between load and store,
  so two updates of one trunk at once lose one of them, as the open-source server can;
- trunk names are not unique (nothing in ``CreateSIPInboundTrunk`` checks them);
- dispatch rules may not conflict (livekit/protocol ``sip/sip.go``
  ``DispatchRuleValidator.Validate``, run over every rule and the new one by
  ``CreateSIPDispatchRule`` in ``pkg/service/sip.go``): two rules with the same PIN, trunk,
  inbound number and number (an empty list is the ``""`` key: a rule with no trunks is the
  default for every trunk, and collides only with other defaults) are refused.
"""

from __future__ import annotations

import asyncio
import itertools
import re
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
    "livekit.SIP/CreateSIPOutboundTrunk": sip.CreateSIPOutboundTrunkRequest,
    "livekit.SIP/ListSIPOutboundTrunk": sip.ListSIPOutboundTrunkRequest,
    "livekit.SIP/UpdateSIPOutboundTrunk": sip.UpdateSIPOutboundTrunkRequest,
    "livekit.SIP/CreateSIPParticipant": sip.CreateSIPParticipantRequest,
}
_NUMBER = re.compile(r"^\+?[\d\- ()]+$")
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


def normalize(number: str) -> str:
    """livekit/protocol ``NormalizeNumber``: formatting dropped and a ``+`` put in front, for
    what looks like a number; anything else as it is."""
    if not number or not _NUMBER.match(number):
        return number
    digits = re.sub(r"[ ()\-]", "", number)
    return digits if digits.startswith("+") else "+" + digits


def trunk_conflict(trunks: list[sip.SIPInboundTrunkInfo]) -> str | None:
    """livekit/protocol ``ValidateTrunksIter`` over every inbound trunk: the words of the
    first conflict, or None."""
    groups: dict[str, dict[str, sip.SIPInboundTrunkInfo]] = {}
    for trunk in trunks:
        for number in dict.fromkeys(normalize(n) for n in trunk.numbers) if trunk.numbers else [""]:
            group = groups.setdefault(number, {})
            callers = dict.fromkeys(normalize(n) for n in trunk.allowed_numbers) or {"": None}
            for caller in callers:
                other = group.get(caller)
                if other is not None and other.sip_trunk_id != trunk.sip_trunk_id:
                    return (
                        f"Conflicting inbound SIP Trunks: {trunk.sip_trunk_id or '<new>'!r} and "
                        f"{other.sip_trunk_id!r}, using the same number(s) "
                        f"{list(trunk.numbers) or '<any>'}"
                        + (
                            f" and AllowedNumber {caller!r}"
                            if caller
                            else " without AllowedNumbers set"
                        )
                    )
                group[caller] = trunk
    return None


def _outbound_error(trunk: sip.SIPOutboundTrunkInfo) -> str | None:
    """livekit/protocol ``SIPOutboundTrunkInfo.ValidateResult``."""
    if not trunk.numbers:
        return "no trunk numbers specified"
    if not trunk.address:
        return "no outbound address specified"
    for value, name in ((trunk.address, "trunk address"), (trunk.from_host, "from_host")):
        if "transport=" in value:
            return f"{name} should not contain transport parameter"
        if any(c in value for c in "@;") or value.startswith(("sip:", "sips:")):
            return f"{name} should be a hostname or IP, not SIP URI"
    return None


def rule_conflict(rules: list[sip.SIPDispatchRuleInfo]) -> str | None:
    """livekit/protocol ``DispatchRuleValidator.Validate`` over every rule, the new one last:
    the words of the first conflict, or None."""
    seen: dict[tuple[str, str, str, str], sip.SIPDispatchRuleInfo] = {}
    for rule in rules:
        kind = rule.rule.WhichOneof("rule")
        pin = getattr(rule.rule, kind).pin if kind else ""
        for trunk in rule.trunk_ids or [""]:
            for inbound in rule.inbound_numbers or [""]:
                for number in rule.numbers or [""]:
                    key = (pin, trunk, normalize(inbound), normalize(number))
                    other = seen.get(key)
                    if other is not None:
                        return (
                            "Dispatch rule for the same trunk, inbound number, number, and PIN "
                            "combination already exists in dispatch rule "
                            f"{other.sip_dispatch_rule_id!r} {other.name or '<blank name>'!r}"
                        )
                    seen[key] = rule
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
        self.outbound: dict[str, sip.SIPOutboundTrunkInfo] = {}
        self.participants: list[sip.CreateSIPParticipantRequest] = []  # outbound calls made
        self.rules: dict[str, sip.SIPDispatchRuleInfo] = {}
        self.calls: list[str] = []  # the methods asked, in order
        self.fail_next: list[int] = []  # HTTP statuses to answer before carrying anything out
        # Seconds an update waits between loading and storing its trunk (0: none). LiveKit's
        # open-source server takes no lock there; this makes concurrent updates overlap.
        self.interleave = 0.0
        self.deprecated_rule_fields = 0  # CreateSIPDispatchRule requests using them
        self._ids = itertools.count(1)

    async def handle(self, method: str, message: Any, claims: api.Claims) -> web.Response:
        if method.endswith("/CreateSIPParticipant"):
            if not (claims.sip and claims.sip.call):
                return _error(403, "permission_denied", "token lacks the SIP call grant")
        elif not (claims.sip and claims.sip.admin):
            return _error(403, "permission_denied", "token lacks the SIP admin grant")
        self.calls.append(method.rsplit("/", 1)[1])
        if self.fail_next:
            status = self.fail_next.pop(0)
            return _error(status, "unavailable" if status >= 500 else "invalid_argument", "x")
        name = method.rsplit("/", 1)[1]
        if name == "UpdateSIPInboundTrunk":
            return await self._UpdateSIPInboundTrunk(message)
        return getattr(self, f"_{name}")(message)  # type: ignore[no-any-return]

    def _conflict(self, trunk: sip.SIPInboundTrunkInfo) -> str | None:
        """Every stored inbound trunk with ``trunk`` (new, or in place of its stored self)."""
        others = [t for t in self.trunks.values() if t.sip_trunk_id != trunk.sip_trunk_id]
        return trunk_conflict([*others, trunk])

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
        for field in ("metadata", "name", "auth_username", "auth_password", "auth_realm"):
            if req.update.HasField(field):
                setattr(trunk, field, getattr(req.update, field))
        if req.update.HasField("media"):  # applyUpdatePtr: the whole media config replaced
            trunk.media.CopyFrom(req.update.media)
        if _insecure(trunk):
            return _error(400, "invalid_argument", SECURITY)
        if conflict := self._conflict(trunk):
            return _error(400, "invalid_argument", conflict)
        if req.sip_trunk_id not in self.trunks:
            return _error(404, "not_found", f"no trunk {req.sip_trunk_id}")
        self.trunks[req.sip_trunk_id] = trunk  # stored: whatever changed meanwhile is lost
        return _reply(trunk)

    def _DeleteSIPTrunk(self, req: sip.DeleteSIPTrunkRequest) -> web.Response:
        """Either kind of trunk (livekit/livekit pkg/service/sip.go: DeleteSIPTrunk)."""
        trunk = self.trunks.pop(req.sip_trunk_id, None) or self.outbound.pop(req.sip_trunk_id, None)
        if trunk is None:
            return _error(404, "not_found", f"no trunk {req.sip_trunk_id}")
        return _reply(sip.SIPTrunkInfo(sip_trunk_id=trunk.sip_trunk_id))

    def _CreateSIPOutboundTrunk(self, req: sip.CreateSIPOutboundTrunkRequest) -> web.Response:
        if req.trunk.sip_trunk_id:
            return _error(400, "invalid_argument", "trunk id must not be set")
        if problem := _outbound_error(req.trunk):
            return _error(400, "invalid_argument", problem)
        trunk = sip.SIPOutboundTrunkInfo()
        trunk.CopyFrom(req.trunk)
        trunk.sip_trunk_id = f"ST_{next(self._ids)}"
        self.outbound[trunk.sip_trunk_id] = trunk
        return _reply(trunk)

    def _ListSIPOutboundTrunk(self, req: sip.ListSIPOutboundTrunkRequest) -> web.Response:
        items = [
            t
            for t in self.outbound.values()
            if not req.trunk_ids or t.sip_trunk_id in req.trunk_ids
        ]
        return _reply(sip.ListSIPOutboundTrunkResponse(items=items))

    def _UpdateSIPOutboundTrunk(self, req: sip.UpdateSIPOutboundTrunkRequest) -> web.Response:
        """``SIPOutboundTrunkUpdate.ApplyResult``: each field given is set, the numbers by their
        ``ListUpdate``; the result must still be a valid trunk. (``replace`` is refused here:
        the router changes trunks field by field.)"""
        stored = self.outbound.get(req.sip_trunk_id)
        if stored is None:
            return _error(404, "not_found", f"no trunk {req.sip_trunk_id}")
        if not req.HasField("update"):
            return _error(400, "invalid_argument", "only field updates are served here")
        change = req.update
        if change.HasField("numbers") and (problem := _list_update_error(change.numbers)):
            return _error(400, "invalid_argument", problem)
        trunk = sip.SIPOutboundTrunkInfo()
        trunk.CopyFrom(stored)
        for field in ("address", "transport", "destination_country", "auth_username",
                      "auth_password", "name", "metadata", "from_host"):  # fmt: skip
            if change.HasField(field):
                setattr(trunk, field, getattr(change, field))
        if change.HasField("numbers"):
            applied = _apply(list(trunk.numbers), change.numbers)
            del trunk.numbers[:]
            trunk.numbers.extend(applied)
        if problem := _outbound_error(trunk):
            return _error(400, "invalid_argument", problem)
        self.outbound[req.sip_trunk_id] = trunk
        return _reply(trunk)

    def _CreateSIPParticipant(self, req: sip.CreateSIPParticipantRequest) -> web.Response:
        trunk = self.outbound.get(req.sip_trunk_id)
        if trunk is None:
            return _error(404, "not_found", f"no outbound trunk {req.sip_trunk_id}")
        if not req.sip_call_to:
            return _error(400, "invalid_argument", "missing sip call to")
        if not req.room_name:
            return _error(400, "invalid_argument", "missing room name")
        if req.sip_number and req.sip_number not in trunk.numbers:
            return _error(400, "invalid_argument", f"{req.sip_number} is not a number of the trunk")
        self.participants.append(req)
        identity = req.participant_identity or f"sip_{req.sip_call_to}"
        return _reply(
            sip.SIPParticipantInfo(
                participant_id=f"PA_{next(self._ids)}",
                participant_identity=identity,
                room_name=req.room_name,
                sip_call_id=f"SCL_out_{next(self._ids)}",
            )
        )

    def _CreateSIPDispatchRule(self, req: sip.CreateSIPDispatchRuleRequest) -> web.Response:
        rule = sip.SIPDispatchRuleInfo()
        if req.HasField("dispatch_rule"):
            rule.CopyFrom(req.dispatch_rule)
        else:  # the deprecated top-level fields, still accepted (livekit_sip.proto)
            self.deprecated_rule_fields += 1
            rule.rule.CopyFrom(req.rule)
            rule.trunk_ids.extend(req.trunk_ids)
            rule.name, rule.metadata = req.name, req.metadata
        if conflict := rule_conflict([*self.rules.values(), rule]):
            return _error(400, "invalid_argument", conflict)
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
