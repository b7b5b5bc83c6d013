"""Supervision: what follows a dispatch, for each call, until it ends.

LiveKit's server answers ``CreateDispatch`` with success even when no worker serves the agent
name, and LiveKit SIP keeps a caller ringing until an agent subscribes (or minutes pass): after
the dispatch nothing else notices an agent that never comes. So:

- at dispatch (``store.livecalls.before_dispatch``, one script with the admission) the room
  is tied to the call and a watchdog (``agent:<call id>`` in ``router:{live}:watchdogs``) is
  set at the agent's ``joinTimeoutS`` (``join_timeout``).
- ``room_event``: LiveKit's events in the room — the agent joined, the caller or the agent
  left, the room finished — update the call's record under its lease (``agentJoinedAt`` and
  ``timingsMs.toAgent``; ``completed`` with ``endedAt``, ``durationS``, ``endedBy`` and
  LiveKit's disconnect reason). The caller leaving a room before anything was dispatched into
  it is remembered for the room, and the join is then not dispatched (``abandoned``).
- ``agent_timeout``: the watchdog fired. An agent that has not joined is a no-show and its
  policy runs once, under the call's lease, recorded with reason ``agent_no_show``:
  ``fallback_agent`` withdraws the first dispatch (``DeleteDispatch``: a late agent must not
  join beside the fallback), dispatches the fallback agent with its own hydrated metadata and
  watches it the same way (one level); ``transfer`` sends the caller to the agent's
  ``transferTo`` line (the policy, or the step after a fallback that did not join either:
  ``transfer_caller``); ``hangup`` — the policy, or the end of every other path — removes the
  caller. Every path ends in a transfer or a hang-up, never in silence.

A timer is claimed, not taken (``entries.Worker.tick``): a worker killed while acting leaves it
to come due again, and the call's lease and record make the second attempt find what the
first did (a fallback dispatch is looked up before it is made again).
"""

from __future__ import annotations

import datetime
import time

import msgspec

from router import logs, metrics
from router.core import events, records
from router.core.models import DEFAULT_JOIN_TIMEOUT_S, Agent
from router.core.records import CallRecord, EndedBy, Leg
from router.core.routing import fallback_metadata
from router.errors import DispatchError, RemoteError
from router.store import keys
from router.worker.lifecycle import Lifecycle
from router.worker.services import Services

log = logs.get(__name__)
_json = msgspec.json.Encoder()
NO_SHOW = "agent_no_show"
HANGUP_RETRY_S = 5.0  # a hang-up LiveKit refused or did not answer is tried again after this
# LiveKit's DisconnectReason of a participant someone else removed (the agent's side, when it
# was not the router: the router records its own hang-up first).
_REMOVED = frozenset({"PARTICIPANT_REMOVED", "ROOM_DELETED", "ROOM_CLOSED"})


def timer(call_id: str) -> str:
    return f"agent:{call_id}"


def join_timeout(agent: Agent | None) -> float:
    """How long after the dispatch the agent must have joined (the watchdog's delay)."""
    return agent.join_timeout_s if agent is not None else DEFAULT_JOIN_TIMEOUT_S


async def room_event(
    svc: Services, event: events.LiveKitRoomEvent, lifecycle: Lifecycle | None = None
) -> None:
    """Apply one of LiveKit's room events to the call dispatched into that room (and tell
    the agent's lifecycle webhook: ``call.agent_joined``, ``call.ended``)."""
    raw = await svc.redis.get(keys.room_call(event.room))
    call_id = raw.decode() if isinstance(raw, bytes) else raw
    if call_id is None:
        if _caller_left(event) or event.kind == "room_finished":
            await svc.calls.caller_left(event.room, event.received_at_ms)
        log.info("room_event_without_dispatch", room=event.room, kind=event.kind)
        return
    record = await svc.leases.exclusive(
        call_id,
        lambda r: r is None or r.status != "dispatched",
        lambda r: _apply(svc, r, event),
    )
    if lifecycle is None or record is None:
        return
    # After the record is written; a redelivered entry enqueues again, harmlessly (one
    # delivery per call and event type).
    agent = await svc.rows.find_agent(record.agent_id or "")
    if record.status == "completed":
        await lifecycle.enqueue(record, agent, "call.ended")
    elif event.kind == "agent_joined" and record.agent_joined_at is not None:
        await lifecycle.enqueue(record, agent, "call.agent_joined")


def _caller_left(event: events.LiveKitRoomEvent) -> bool:
    return event.kind == "participant_left" and event.participant_kind == "SIP"


async def _apply(
    svc: Services, record: CallRecord | None, event: events.LiveKitRoomEvent
) -> CallRecord | None:
    assert record is not None
    at = records.iso(event.received_at_ms)
    if event.kind == "agent_joined":
        if record.agent_joined_at is not None:
            return record
        await svc.redis.zrem(keys.WATCHDOGS, timer(record.call_id))
        to_agent = float(event.received_at_ms - _ms(record.decided_at))
        metrics.TIME_TO_AGENT.observe(to_agent / 1000)
        log.info("agent_joined", ms=to_agent, agent=record.agent_name)
        return msgspec.structs.replace(
            record, agent_joined_at=at, timings_ms={**record.timings_ms, "toAgent": to_agent}
        )
    if event.kind == "participant_left" and event.participant_kind == "AGENT":
        return msgspec.structs.replace(record, agent_left_at=at)
    if _caller_left(event) and event.participant_identity not in ("", record.participant_identity):
        return record  # another SIP participant of the room (a transfer target): not the caller
    if not (_caller_left(event) or event.kind == "room_finished"):
        return record
    ended_by: EndedBy
    if record.no_show in ("hangup", "transfer"):
        ended_by = "router"
    elif _caller_left(event):
        ended_by = "agent" if event.disconnect_reason in _REMOVED else "caller"
    else:
        ended_by = "agent" if record.agent_left_at else "unknown"
    # Counted under the agent dispatched first (a fallback replaced it on the record); the
    # release also takes its watchdog off.
    counted_under = record.no_show_agent_id or record.agent_id
    await svc.live.release(record.call_id, record.organization_id, counted_under)
    duration = round((event.received_at_ms - _ms(record.received_at)) / 1000, 3)
    log.info("call_ended", ended_by=ended_by, duration_s=duration, reason=event.disconnect_reason)
    metrics.CALLS_ENDED.labels(ended_by).inc()
    return msgspec.structs.replace(
        record,
        status="completed",
        ended_at=at,
        duration_s=duration,
        ended_by=ended_by,
        disconnect_reason=event.disconnect_reason or None,
    )


async def agent_timeout(svc: Services, call_id: str, lifecycle: Lifecycle | None = None) -> None:
    """The watchdog fired: a dispatched call whose agent has not joined runs its policy (and
    the no-show agent's lifecycle webhook hears ``call.no_show``)."""
    no_show: list[tuple[CallRecord, Agent | None]] = []

    async def act(record: CallRecord | None) -> CallRecord | None:
        assert record is not None
        agent = await svc.rows.find_agent(record.agent_id or "")
        done = await _no_show(svc, record, agent)
        no_show.append((done, agent))
        return done

    await svc.leases.exclusive(
        call_id,
        lambda r: r is None or r.status != "dispatched" or r.agent_joined_at is not None,
        act,
    )
    if lifecycle is not None:
        for record, agent in no_show:
            await lifecycle.enqueue(record, agent, "call.no_show")


async def _no_show(svc: Services, record: CallRecord, agent: Agent | None) -> CallRecord:
    room = record.room
    assert room is not None
    metrics.NO_SHOWS.inc()
    fallback = None
    if record.no_show is None and agent is not None and agent.no_show == "fallback_agent":
        fallback = await svc.rows.find_agent(agent.fallback_agent_id or "")
    if fallback is not None:
        try:
            return await _fall_back(svc, record, fallback)
        except DispatchError as exc:
            log.warning("fallback_dispatch_failed", error=str(exc))
            record = msgspec.structs.replace(
                record, notes=[*record.notes, f"{NO_SHOW}: fallback dispatch failed: {exc}"]
            )
    # A human line: the policy, or the step after a fallback that did not join. The agent
    # whose line it is: the first one's (a fallback's own watchdog finds the fallback here).
    first = agent
    if record.no_show == "fallback_agent":
        first = await _first_agent(svc, record) or agent
    line = first.transfer_to if first is not None and first.no_show != "hangup" else None
    if line and record.no_show not in ("transfer", "hangup") and record.participant_identity:
        transferred = await _transfer(svc, record, room, line)
        if transferred is not None:
            return transferred
        record = msgspec.structs.replace(
            record, notes=[*record.notes, f"{NO_SHOW}: transfer to {line} failed"]
        )
    # Hang up: the policy, or the end of every other path. The end itself comes with the
    # caller's participant_left (endedBy: router).
    error = None
    if record.participant_identity:
        try:
            await svc.dispatcher.remove(room=room, identity=record.participant_identity)
        except DispatchError as exc:
            # Never silence: the watchdog comes back to try again.
            error = f"{NO_SHOW}: hang-up failed: {exc}"
            log.warning("no_show_hangup_failed", error=str(exc), retry_in_s=HANGUP_RETRY_S)
            retry = {timer(record.call_id): time.time() + HANGUP_RETRY_S}
            await svc.redis.zadd(keys.WATCHDOGS, retry)
    log.info("agent_no_show", policy="hangup", agent=record.agent_name)
    return msgspec.structs.replace(
        record,
        no_show="hangup",
        error=error or record.error,
        notes=[*record.notes, f"{NO_SHOW}: {record.agent_name} did not join; caller hung up"],
    )


async def _fall_back(svc: Services, record: CallRecord, fallback: Agent) -> CallRecord:
    assert record.room is not None
    if record.dispatch_id:
        try:  # withdrawn so that a late agent does not join beside the fallback
            await svc.dispatcher.delete(room=record.room, dispatch_id=record.dispatch_id)
        except DispatchError as exc:
            log.warning("no_show_delete_dispatch_failed", error=str(exc))
    # A worker killed after this dispatch and before its record leaves the timer to fire
    # again: the fallback's dispatch is looked up before it is made a second time.
    name = fallback.livekit_agent_name
    dispatch_id = await svc.dispatcher.find(room=record.room, agent_name=name)
    if dispatch_id is None:
        metadata = _json.encode(fallback_metadata(record.metadata, fallback)).decode()
        dispatch_id = await svc.dispatcher.dispatch(
            room=record.room, agent_name=name, metadata=metadata
        )
    await svc.redis.zadd(
        keys.WATCHDOGS, {timer(record.call_id): time.time() + fallback.join_timeout_s}
    )
    log.info("agent_no_show", policy="fallback_agent", fallback=name)
    return msgspec.structs.replace(
        record,
        no_show="fallback_agent",
        no_show_agent_id=record.agent_id,
        fallback_dispatch_id=dispatch_id,
        agent_id=fallback.id,
        agent_name=name,
        notes=[
            *record.notes,
            f"{NO_SHOW}: {record.agent_name} did not join; fallback agent {name} dispatched",
        ],
    )


async def _twilio_account(svc: Services, carrier: Leg) -> tuple[str, str] | None:
    """The (AccountSid, auth token) a Twilio webhook call can be updated with: its
    organization's integration, else the platform's own account."""
    if carrier.provider != "twilio" or not carrier.account:
        return None
    if svc.integrations is not None:
        found = await svc.integrations.twilio_account(carrier.account)
        if found is not None:
            return found[1].account_sid, found[1].auth_token
    platform = svc.config.twilio.account_sid
    token = svc.config.twilio.auth_token
    if token and platform in (None, carrier.account):
        return carrier.account, token
    return None


async def _first_agent(svc: Services, record: CallRecord) -> Agent | None:
    """The agent dispatched first (before a fallback replaced it on the record)."""
    return await svc.rows.find_agent(record.no_show_agent_id or "")


async def _transfer(svc: Services, record: CallRecord, room: str, line: str) -> CallRecord | None:
    """Send the caller to ``line`` (``transfer_caller``); the record saying so, or None if it
    could not be asked."""
    if await transfer_caller(svc, record, room, line) is not None:
        return None
    log.info("agent_no_show", policy="transfer", to=line)
    return msgspec.structs.replace(
        record,
        no_show="transfer",
        notes=[
            *record.notes,
            f"{NO_SHOW}: {record.agent_name} did not join; caller transferred to {line}",
        ],
    )


async def transfer_caller(svc: Services, record: CallRecord, room: str, line: str) -> str | None:
    """Send the call's caller to ``line``; why not, or None once it is asked.

    A call that came in over LiveKit SIP is transferred by LiveKit (a SIP REFER to the
    caller's side: ``TransferSIPParticipant``); a call bridged from the Twilio webhook by
    Twilio (the call updated with TwiML that dials the line), a Telnyx Call Control call by
    Telnyx's own ``transfer`` of the inbound leg — neither needs REFER support on a trunk. The
    end arrives as the caller's participant_left (endedBy: router)."""
    assert record.participant_identity is not None
    carrier = next((leg for leg in record.legs if leg.kind == "carrier"), None)
    try:
        twilio = await _twilio_account(svc, carrier) if carrier is not None else None
        if carrier is not None and twilio is not None and svc.twilio_calls is not None:
            await svc.twilio_calls.redirect(twilio[0], twilio[1], carrier.call_id, line)
        elif carrier is not None and carrier.mode == "call_control" and svc.telnyx is not None:
            await svc.telnyx.transfer(
                record.call_id,
                to=line.removeprefix("tel:"),
                from_=None,
                headers={},
                command_id=f"transfer-{record.call_id}",
            )
        else:
            await svc.dispatcher.transfer(room=room, identity=record.participant_identity, to=line)
    except RemoteError as exc:
        if not getattr(exc, "maybe_done", False):
            log.warning("transfer_failed", error=str(exc))
            return str(exc)
        log.warning("transfer_outcome_unknown", error=str(exc))  # dialing takes long
    return None


ROOM_CHECK_S = 60.0  # how often the live calls' rooms are checked at LiveKit
ROOMS_TIMER = "rooms:check"


async def check_rooms(svc: Services, older_than_s: float = ROOM_CHECK_S) -> int:
    """End the live calls whose room LiveKit no longer has (their end event was lost):
    ``completed``, endedBy ``unknown``. Calls dispatched within ``older_than_s`` are left to
    their webhooks. The number of calls ended."""
    members: list[bytes] = await svc.redis.zrange(keys.live_calls("all"), 0, 999)  # type: ignore[assignment, unused-ignore]
    ids = [m.decode() for m in members]
    found = [r for r in await svc.calls.get_many(ids) if r is not None]
    before = (time.time() - older_than_s) * 1000
    old = [r for r in found if r.status == "dispatched" and r.room and _ms(r.decided_at) <= before]
    if not old:
        return 0
    try:
        present = await svc.dispatcher.rooms(sorted({r.room for r in old if r.room}))
    except DispatchError as exc:
        log.warning("room_check_failed", error=str(exc))
        return 0
    if present is None:
        return 0
    ended = 0
    for record in old:
        if record.room in present:
            continue
        gone = events.LiveKitRoomEvent(
            event_id=f"check:{record.call_id}",
            call_id=record.room or "",
            kind="room_finished",
            room=record.room or "",
            disconnect_reason="ROOM_GONE",
            received_at_ms=events.now_ms(),
        )
        await room_event(svc, gone)
        ended += 1
    if ended:
        log.warning("calls_ended_by_room_check", calls=ended)
    return ended


def _ms(iso: str) -> int:
    """Epoch ms of one of the records' ISO 8601 UTC times."""
    when = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(when.timestamp() * 1000)
