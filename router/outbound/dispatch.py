"""Acting on LiveKit: dispatch an agent into a room, or remove a rejected caller.

``LiveKitDispatcher`` sends ``livekit-protocol`` messages over Twirp on one keep-alive pool
(``twirp``: the hot path's HTTP, much cheaper than aiohttp's general-purpose client). Retries
are ours, by error type (4xx terminal, 5xx and transport errors retried inside the call's
deadline). ``find`` (ListDispatch) lets a redelivered call adopt a dispatch an earlier attempt
created before it could record it: exactly one agent per call.

Each request carries its own short-lived room-admin token (``tokens``).
``DryRunDispatcher`` is the clearly named mode for a router with no LiveKit server configured:
it only logs what it would have done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from google.protobuf.message import DecodeError, Message
from livekit import api
from livekit.protocol.sip import TransferSIPParticipantRequest, TransferSIPParticipantResponse

from router import logs
from router.errors import DispatchRejected, DispatchUnavailable
from router.outbound.tokens import room_admin_token, room_list_token
from router.outbound.twirp import TwirpServerError, TwirpTransport, TwirpTransportError

log = logs.get(__name__)


class Dispatcher(Protocol):
    dry_run: bool

    async def dispatch(
        self, *, room: str, agent_name: str, metadata: str, request_id: str | None = None
    ) -> str:
        """Create the agent dispatch; return its id. The retries of one dispatch pass the same
        ``request_id`` (``X-Livekit-Request-Id``), as livekit-api does."""
        ...

    def request_id(self) -> str:
        """A new request id for one dispatch and its retries."""
        ...

    async def remove(self, *, room: str, identity: str) -> None:
        """Hang up on a SIP participant by removing it from its room."""
        ...

    async def find(self, *, room: str, agent_name: str) -> str | None:
        """The id of an existing dispatch of this agent in the room (a retry's first check)."""
        ...

    async def delete(self, *, room: str, dispatch_id: str) -> None:
        """Withdraw a dispatch (a no-show's: its agent must not join late beside another)."""
        ...

    async def transfer(self, *, room: str, identity: str, to: str) -> None:
        """Send a SIP participant to ``to`` (``tel:`` or ``sip:``) with a SIP REFER."""
        ...

    async def rooms(self, names: list[str]) -> set[str] | None:
        """Which of these rooms LiveKit has now (None: cannot tell — a dry run)."""
        ...


_Reply = TypeVar("_Reply", bound=Message)


class LiveKitDispatcher:
    dry_run = False

    def __init__(self, transport: TwirpTransport, api_key: str, api_secret: str) -> None:
        self.transport = transport
        self._key, self._secret = api_key, api_secret

    async def _call(
        self,
        service: str,
        method: str,
        room: str,
        req: Message,
        reply: type[_Reply],
        request_id: str | None = None,
        *,
        sip_call: bool = False,
    ) -> _Reply:
        token = room_admin_token(self._key, self._secret, room, sip_call=sip_call)
        with _translated():
            body = await self.transport.call(
                service, method, req.SerializeToString(), token, request_id
            )
            return reply.FromString(body)

    def request_id(self) -> str:
        return self.transport.request_id()

    async def dispatch(
        self, *, room: str, agent_name: str, metadata: str, request_id: str | None = None
    ) -> str:
        req = api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
        created = await self._call(
            "AgentDispatchService", "CreateDispatch", room, req, api.AgentDispatch, request_id
        )
        return created.id

    async def find(self, *, room: str, agent_name: str) -> str | None:
        req = api.ListAgentDispatchRequest(room=room)
        listed = await self._call(
            "AgentDispatchService", "ListDispatch", room, req, api.ListAgentDispatchResponse
        )
        return next((d.id for d in listed.agent_dispatches if d.agent_name == agent_name), None)

    async def remove(self, *, room: str, identity: str) -> None:
        req = api.RoomParticipantIdentity(room=room, identity=identity)
        await self._call(
            "RoomService", "RemoveParticipant", room, req, api.RemoveParticipantResponse
        )

    async def delete(self, *, room: str, dispatch_id: str) -> None:
        req = api.DeleteAgentDispatchRequest(dispatch_id=dispatch_id, room=room)
        await self._call("AgentDispatchService", "DeleteDispatch", room, req, api.AgentDispatch)

    async def rooms(self, names: list[str]) -> set[str] | None:
        token = room_list_token(self._key, self._secret)
        req = api.ListRoomsRequest(names=names)
        with _translated():
            body = await self.transport.call(
                "RoomService", "ListRooms", req.SerializeToString(), token
            )
            listed = api.ListRoomsResponse.FromString(body)
        return {room.name for room in listed.rooms}

    async def transfer(self, *, room: str, identity: str, to: str) -> None:
        req = TransferSIPParticipantRequest(
            participant_identity=identity, room_name=room, transfer_to=to, play_dialtone=True
        )
        await self._call(
            "SIP", "TransferSIPParticipant", room, req, TransferSIPParticipantResponse,
            sip_call=True,
        )  # fmt: skip


# Twirp codes that say the request may have run on the server though no success came back.
_MAYBE_DONE_CODES = frozenset({"deadline_exceeded", "canceled", "unknown", "internal"})
_RETRYABLE_4XX = frozenset({408, 429})  # request timeout; Twirp resource_exhausted


@contextmanager
def _translated() -> Iterator[None]:
    """Twirp failures as ours, by what they say about the request:

    - 408 and 429 (``resource_exhausted``): not carried out, retried with backoff (honouring
      Retry-After) — a rate limit must not hang up the caller;
    - other 4xx: terminal;
    - 5xx (LiveKit's or a proxy's), Twirp ``deadline_exceeded`` / ``canceled``, no answer at
      all: retried, and *maybe done* — the retry first asks ``ListDispatch``."""
    try:
        yield
    except TwirpServerError as exc:
        message = f"LiveKit {exc.status} {exc.code}: {exc.message}"
        maybe_done = exc.status >= 500 or exc.code in _MAYBE_DONE_CODES
        retryable = maybe_done or exc.status in _RETRYABLE_4XX
        kind = DispatchUnavailable if retryable else DispatchRejected
        raise kind(
            message,
            status=exc.status,
            code=exc.code,
            maybe_done=maybe_done,
            retry_after_s=exc.retry_after_s,
        ) from exc
    except TwirpTransportError as exc:
        raise DispatchUnavailable(f"LiveKit unreachable: {exc}", maybe_done=True) from exc
    except DecodeError as exc:  # a 200 whose body is not the reply (a proxy's page, garbage)
        raise DispatchUnavailable(f"LiveKit answered garbage: {exc}", maybe_done=True) from exc


class DryRunDispatcher:
    dry_run = True

    def request_id(self) -> str:
        return "dry-run"

    async def dispatch(
        self, *, room: str, agent_name: str, metadata: str, request_id: str | None = None
    ) -> str:
        log.info("dry_run_dispatch", room=room, agent=agent_name, metadata_bytes=len(metadata))
        return "dry-run"

    async def remove(self, *, room: str, identity: str) -> None:
        log.info("dry_run_remove_participant", room=room, identity=identity)

    async def find(self, *, room: str, agent_name: str) -> str | None:
        return None

    async def delete(self, *, room: str, dispatch_id: str) -> None:
        log.info("dry_run_delete_dispatch", room=room, dispatch_id=dispatch_id)

    async def transfer(self, *, room: str, identity: str, to: str) -> None:
        log.info("dry_run_transfer", room=room, identity=identity, to=to)

    async def rooms(self, names: list[str]) -> set[str] | None:
        return None
