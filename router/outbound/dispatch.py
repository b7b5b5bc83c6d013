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

from google.protobuf.message import Message
from livekit import api

from router import logs
from router.errors import DispatchRejected, DispatchUnavailable
from router.outbound.tokens import room_admin_token
from router.outbound.twirp import TwirpServerError, TwirpTransport, TwirpTransportError

log = logs.get(__name__)


class Dispatcher(Protocol):
    dry_run: bool

    async def dispatch(self, *, room: str, agent_name: str, metadata: str) -> str:
        """Create the agent dispatch; return its id."""
        ...

    async def remove(self, *, room: str, identity: str) -> None:
        """Hang up on a SIP participant by removing it from its room."""
        ...

    async def find(self, *, room: str, agent_name: str) -> str | None:
        """The id of an existing dispatch of this agent in the room (a retry's first check)."""
        ...


_Reply = TypeVar("_Reply", bound=Message)


class LiveKitDispatcher:
    dry_run = False

    def __init__(self, transport: TwirpTransport, api_key: str, api_secret: str) -> None:
        self.transport = transport
        self._key, self._secret = api_key, api_secret

    async def _call(
        self, service: str, method: str, room: str, req: Message, reply: type[_Reply]
    ) -> _Reply:
        token = room_admin_token(self._key, self._secret, room)
        with _translated():
            body = await self.transport.call(service, method, req.SerializeToString(), token)
        return reply.FromString(body)

    async def dispatch(self, *, room: str, agent_name: str, metadata: str) -> str:
        req = api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
        created = await self._call(
            "AgentDispatchService", "CreateDispatch", room, req, api.AgentDispatch
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


@contextmanager
def _translated() -> Iterator[None]:
    """Twirp failures as ours: 4xx terminal, 5xx and transport worth a retry."""
    try:
        yield
    except TwirpServerError as exc:
        kind = DispatchRejected if exc.status < 500 else DispatchUnavailable
        message = f"LiveKit {exc.status} {exc.code}: {exc.message}"
        raise kind(message, status=exc.status, code=exc.code) from exc
    except TwirpTransportError as exc:
        raise DispatchUnavailable(f"LiveKit unreachable: {exc}") from exc


class DryRunDispatcher:
    dry_run = True

    async def dispatch(self, *, room: str, agent_name: str, metadata: str) -> str:
        log.info("dry_run_dispatch", room=room, agent=agent_name, metadata_bytes=len(metadata))
        return "dry-run"

    async def remove(self, *, room: str, identity: str) -> None:
        log.info("dry_run_remove_participant", room=room, identity=identity)

    async def find(self, *, room: str, agent_name: str) -> str | None:
        return None
