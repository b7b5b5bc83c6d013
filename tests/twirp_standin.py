"""A stand-in for the LiveKit server API, served over real HTTP on loopback.

It speaks Twirp as livekit-api does: ``POST /twirp/livekit.<Service>/<Method>`` with a protobuf
body and ``Authorization: Bearer <jwt>``. Requests are decoded with the real
``livekit-protocol`` messages and the JWT is checked with ``livekit.api.TokenVerifier`` (HS256,
issuer, expiry) and for the ``roomAdmin`` grant on the request's room. Tests read what arrived
from asyncio queues, and can make the next calls fail with chosen statuses.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from livekit import api
from livekit.protocol.sip import TransferSIPParticipantRequest, TransferSIPParticipantResponse

from tests.livekit_helpers import agent_join_event, participant_left_event
from tests.phone_number_standin import PhoneNumberStandIn
from tests.sip_standin import METHODS as SIP_METHODS
from tests.sip_standin import SipStandIn

_METHODS = {
    "livekit.AgentDispatchService/CreateDispatch": api.CreateAgentDispatchRequest,
    "livekit.RoomService/RemoveParticipant": api.RoomParticipantIdentity,
    "livekit.AgentDispatchService/ListDispatch": api.ListAgentDispatchRequest,
    "livekit.AgentDispatchService/DeleteDispatch": api.DeleteAgentDispatchRequest,
    "livekit.SIP/TransferSIPParticipant": TransferSIPParticipantRequest,
    "livekit.RoomService/ListRooms": api.ListRoomsRequest,
}


class TwirpStandIn:
    def __init__(
        self,
        api_key: str,
        api_secret: str,
        on_dispatch: Callable[[api.CreateAgentDispatchRequest, float], None] | None = None,
    ) -> None:
        self.verifier = api.TokenVerifier(api_key, api_secret)
        # The benchmark's hook: each valid CreateDispatch with the perf_counter() at which its
        # request reached this server (before our Python token check, which LiveKit does in Go).
        self.on_dispatch = on_dispatch
        self.dispatches: asyncio.Queue[api.CreateAgentDispatchRequest] = asyncio.Queue()
        self.removals: asyncio.Queue[api.RoomParticipantIdentity] = asyncio.Queue()
        self.dispatch_log: list[api.CreateAgentDispatchRequest] = []
        self.created: list[api.AgentDispatch] = []
        self.fail_next: list[int] = []  # HTTP statuses to answer, in order, before succeeding
        # Carry out the next N CreateDispatch requests, then drop the connection unanswered
        # (an answer lost on the way back: the caller cannot know the dispatch exists).
        self.drop_answers = 0
        # Carry out the next CreateDispatch requests, then answer each with one of these
        # (status, body, headers) instead of the dispatch: a 5xx from LiveKit or a proxy,
        # Twirp deadline_exceeded, a 200 of garbage — outcomes that may hide a success.
        self.after_create: list[tuple[int, bytes, dict[str, str]]] = []
        # Answer the next CreateDispatch requests with these (status, code, Retry-After) before
        # carrying anything out: 429 resource_exhausted, 408.
        self.refuse_next: list[tuple[int, str, str | None]] = []
        self.request_ids: list[str] = []  # X-Livekit-Request-Id of every CreateDispatch
        self.requests = 0
        self._ids = itertools.count(1)
        # What follows a dispatch, as LiveKit's server does it: with ``webhooks`` (a coroutine
        # posting a signed WebhookEvent to the router), an agent name that has a worker joins
        # the room (participant_joined, kind AGENT) and a removed SIP participant leaves it
        # (participant_left, PARTICIPANT_REMOVED). An agent name in ``no_worker`` is
        # dispatched and never joins: the open-source server answers CreateDispatch with
        # success and logs "not dispatching agent job since no worker is available".
        self.webhooks: Callable[[api.WebhookEvent], Awaitable[Any]] | None = None
        self.no_worker: set[str] = set()
        self.deleted: list[api.DeleteAgentDispatchRequest] = []
        self.transfers: asyncio.Queue[Any] = asyncio.Queue()  # TransferSIPParticipant asks
        # Rooms LiveKit no longer has (ListRooms leaves them out): a test ends a room whose
        # webhooks were lost by naming it here; any other room asked for exists.
        self.gone_rooms: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sip = SipStandIn()  # livekit.SIP: inbound trunks and dispatch rules
        # livekit.PhoneNumberService: the project's numbers bought from LiveKit, by E.164
        self.phone_numbers: dict[str, dict[str, Any]] = {}
        self.phone_number_service = PhoneNumberStandIn(self.phone_numbers, self.sip.rules)
        self.sip_drop_next = 0  # SIP requests whose connection is dropped unanswered

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/twirp/{method:.+}", self._handle)
        return app

    async def _phone_numbers(self, request: web.Request, name: str) -> web.Response:
        """``livekit.PhoneNumberService`` (tests/phone_number_standin.py), JSON only, with the
        SIP admin grant."""
        if request.content_type != "application/json":
            return self._error(400, "malformed", "this stand-in serves JSON here")
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = self.verifier.verify(auth)
        except Exception as exc:
            return self._error(401, "unauthenticated", f"invalid token: {exc}")
        if not (claims.sip and claims.sip.admin):
            return self._error(403, "permission_denied", "token lacks the SIP admin grant")
        return await self.phone_number_service.handle(name, await request.json())

    @staticmethod
    def _error(status: int, code: str, msg: str) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        received_at = time.perf_counter()
        self.requests += 1
        method = request.match_info["method"]
        if method.startswith("livekit.PhoneNumberService/"):
            return await self._phone_numbers(request, method.rsplit("/", 1)[1])
        kind = _METHODS.get(method) or SIP_METHODS.get(method)
        if kind is None:
            return self._error(404, "bad_route", f"no such method {method}")
        if request.content_type != "application/protobuf":
            return self._error(400, "malformed", "content type must be application/protobuf")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self._error(401, "unauthenticated", "missing bearer token")
        try:
            claims = self.verifier.verify(auth.removeprefix("Bearer "))
        except Exception as exc:
            return self._error(401, "unauthenticated", f"invalid token: {exc}")
        message = kind.FromString(await request.read())
        if method == "livekit.SIP/TransferSIPParticipant":
            return self._transfer(message, claims)
        if method == "livekit.RoomService/ListRooms":
            # RoomService.ListRooms needs the roomList grant (livekit/protocol auth grants).
            if not (claims.video and claims.video.room_list):
                return self._error(403, "permission_denied", "token lacks roomList")
            rooms = [api.Room(name=n) for n in message.names if n not in self.gone_rooms]
            return web.Response(
                body=api.ListRoomsResponse(rooms=rooms).SerializeToString(),
                content_type="application/protobuf",
            )
        if method in SIP_METHODS:
            if self.sip_drop_next:
                self.sip_drop_next -= 1
                assert request.transport is not None
                request.transport.abort()
                raise ConnectionResetError("answer dropped on purpose")
            return await self.sip.handle(method, message, claims)
        room = message.room
        if not (claims.video and claims.video.room_admin and claims.video.room == room):
            return self._error(403, "permission_denied", "token lacks roomAdmin for this room")
        if self.fail_next:
            status = self.fail_next.pop(0)
            return self._error(status, "internal" if status >= 500 else "invalid_argument", "x")
        if isinstance(message, api.CreateAgentDispatchRequest):
            self.request_ids.append(request.headers.get("X-Livekit-Request-Id", ""))
            if self.refuse_next:
                status, code, retry_after = self.refuse_next.pop(0)
                refused = self._error(status, code, "not now")
                if retry_after is not None:
                    refused.headers["Retry-After"] = retry_after
                return refused
            if self.on_dispatch is not None:
                self.on_dispatch(message, received_at)
                return web.Response(
                    body=api.AgentDispatch(id="AD_bench").SerializeToString(),
                    content_type="application/protobuf",
                )
            self.dispatch_log.append(message)
            self.dispatches.put_nowait(message)
            reply = api.AgentDispatch(
                id=f"AD_{next(self._ids)}",
                agent_name=message.agent_name,
                room=message.room,
                metadata=message.metadata,
            )
            self.created.append(reply)
            if self.webhooks is not None and message.agent_name not in self.no_worker:
                self._send(_agent_joined(message.room, reply.id))
            if self.after_create:
                status, body, headers = self.after_create.pop(0)
                return web.Response(status=status, body=body, headers=headers)
            if self.drop_answers:
                self.drop_answers -= 1
                assert request.transport is not None
                request.transport.abort()
                raise ConnectionResetError("answer dropped on purpose")
            return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")
        if isinstance(message, api.ListAgentDispatchRequest):
            listed = api.ListAgentDispatchResponse(
                agent_dispatches=[
                    api.AgentDispatch(id=d.id, agent_name=d.agent_name, room=d.room)
                    for d in self.created
                    if d.room == room
                ]
            )
            return web.Response(
                body=listed.SerializeToString(), content_type="application/protobuf"
            )
        if isinstance(message, api.DeleteAgentDispatchRequest):
            found = next((d for d in self.created if d.id == message.dispatch_id), None)
            if found is None or found.room != room:
                return self._error(404, "not_found", f"no dispatch {message.dispatch_id}")
            self.created.remove(found)
            self.deleted.append(message)
            return web.Response(body=found.SerializeToString(), content_type="application/protobuf")
        self.removals.put_nowait(message)
        if self.webhooks is not None:
            self._send(_left(room, message.identity))
        return web.Response(
            body=api.RemoveParticipantResponse().SerializeToString(),
            content_type="application/protobuf",
        )

    def _transfer(self, message: Any, claims: api.Claims) -> web.Response:
        """``TransferSIPParticipant``: LiveKit asks for the SIP call grant and room admin on
        the participant's room (livekit-api sends exactly these: ``SipService``); the caller
        then leaves the room (its SIP side was referred elsewhere)."""
        room = message.room_name
        if not (claims.sip and claims.sip.call):
            return self._error(403, "permission_denied", "token lacks the SIP call grant")
        if not (claims.video and claims.video.room_admin and claims.video.room == room):
            return self._error(403, "permission_denied", "token lacks roomAdmin for this room")
        if not message.transfer_to.startswith(("tel:", "sip:", "sips:")):
            return self._error(400, "invalid_argument", "transfer_to must be a tel: or sip: URI")
        self.transfers.put_nowait(message)
        if self.webhooks is not None:
            self._send(_left(room, message.participant_identity, "CLIENT_INITIATED"))
        return web.Response(
            body=TransferSIPParticipantResponse(status=1).SerializeToString(),
            content_type="application/protobuf",
        )

    def _send(self, event: api.WebhookEvent) -> None:
        assert self.webhooks is not None
        task = asyncio.get_running_loop().create_task(self.webhooks(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _agent_joined(room: str, dispatch_id: str) -> api.WebhookEvent:
    return agent_join_event(room=room, identity=f"agent-{dispatch_id}")


def _left(room: str, identity: str, reason: str = "PARTICIPANT_REMOVED") -> api.WebhookEvent:
    return participant_left_event(
        room=room, identity=identity, reason=api.DisconnectReason.Value(reason)
    )
