"""Carrier webhooks: Twilio Voice and Telnyx (TeXML and Call Control), answered in milliseconds.

Each request is verified (``carrier_signatures``), parsed into one ``CarrierCall`` event and
queued before the answer is sent. The answer waits on nothing slow — one registry lookup in
Redis decides between bridging to ``LIVEKIT_SIP_URI`` (with an ``X-Router-Call`` correlation
header) and rejecting; pre-call webhooks and LiveKit are the worker's business. A carrier that
asks twice about one call gets the same answer and correlation id (stored with the dedup key).

``POST /webhooks/telnyx`` takes both Telnyx products: a form body is TeXML (answered like
TwiML), a JSON body is Call Control (``call.initiated`` of an incoming call is queued and the
worker transfers or rejects it through Telnyx's API; other events are acknowledged).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from router import logs
from router.core import correlation, events
from router.core.matching import carrier_facts, route
from router.errors import Forbidden, Unavailable, ValidationError
from router.ingress.answers import ANSWERS
from router.ingress.carrier_signatures import (
    SIGNATURE_SETTINGS,
    public_url,
    verify_telnyx,
    verify_twilio,
)
from router.ingress.number_orders import number_order_complete
from router.ingress.queueing import unavailable_as_503
from router.web import state
from router.web.httpapi import decode, json_response, read_body, redis_deadline
from router.web.routing import PUBLIC, Routes

log = logs.get(__name__)
routes = Routes()

MAX_BODY = 64 * 1024
_FORM = "application/x-www-form-urlencoded"
_MAX_ID = 128


class _Header(msgspec.Struct):
    name: str
    value: str


class _CallInitiated(msgspec.Struct):
    call_control_id: str
    to: str
    from_: str = msgspec.field(name="from")
    direction: str = ""
    caller_id_name: str | None = None
    custom_headers: list[_Header] | None = None
    sip_headers: list[_Header] | None = None


class _CallHangup(msgspec.Struct):
    call_control_id: str = ""
    client_state: str | None = None
    hangup_cause: str | None = None


class _TelnyxEvent(msgspec.Struct):
    event_type: str
    id: str = ""
    payload: msgspec.Raw = msgspec.Raw(b"null")


class _TelnyxEnvelope(msgspec.Struct):
    data: _TelnyxEvent


def _form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=300)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"malformed form body: {exc}") from exc


def _call_id(value: str | None, name: str) -> str:
    if not value or len(value) > _MAX_ID or not value.isprintable():
        raise ValidationError(f"{name} is missing or malformed", field=name)
    return value


def _sip_header_params(form: dict[str, str]) -> dict[str, str]:
    """Twilio and TeXML pass SIP headers of SIP-originated calls as SipHeader_<Name>."""
    return {
        k[len("SipHeader_") :].lower(): v for k, v in form.items() if k.startswith("SipHeader_")
    }


async def _carrier_answer(
    request: web.Request, draft: events.CarrierCall, *, inbound: bool
) -> tuple[str, str | None]:
    """(answer, reason): "pending" for Call Control (the worker acts), else bridge or reject."""
    if draft.mode == "call_control":
        return "pending", None
    if not inbound:
        return "reject", "not_inbound: the carrier says this call is not inbound"
    # The same row matching as the worker's (forwarded calls to shared landing numbers, or to
    # no row at all, are taken), without the pre-call webhook.
    config = request.app[state.CONFIG]
    facts = carrier_facts(draft, config.default_region)
    refused = (await route(request.app[state.ROWS], facts, config.default_agent_name)).decision
    if refused.action == "reject":
        return "reject", f"{refused.reject_reason}: {refused.detail}"
    return "bridge", None


async def _admit(
    request: web.Request, draft: events.CarrierCall, *, inbound: bool
) -> tuple[str, str, bool]:
    """Decide the carrier's answer, queue the event; (answer, correlation id, queued now?)."""
    app = request.app
    with unavailable_as_503(app[state.INGRESS], draft.provider, draft.call_id):
        async with redis_deadline(request):  # the lookup, the key and the enqueue together
            answer, reason = await _carrier_answer(request, draft, inbound=inbound)
            key = await app[state.CORRELATION].get()
            dialed = correlation.bridge_dialed(draft.dialed, app[state.CONFIG].default_region)
            minted = correlation.mint(key, dialed, draft.received_at_ms // 1000)
            event = msgspec.structs.replace(
                draft, answer=answer, answer_reason=reason, correlation_id=minted
            )
            queued, marker = await app[state.INGRESS].enqueue(
                event.event_id, event, marker=f"{answer} {minted}"
            )
    answer, _, stored_id = marker.partition(" ")  # a repeated request: the first answer
    app[state.INGRESS].counts[draft.provider, "queued" if queued else "duplicate"] += 1
    log.info(
        "carrier_call_answered",
        source=draft.provider,
        mode=draft.mode,
        call_id=draft.call_id,
        answer=answer,
        reason=reason,
        duplicate=not queued,
    )
    return answer, stored_id, queued


def _markup(
    request: web.Request, flavor: str, answer: str, dialed: str | None, corr: str
) -> web.Response:
    config = request.app[state.CONFIG]
    answers = request.app[ANSWERS]
    if answer == "bridge" and config.livekit_sip_uri:
        target = correlation.bridge_dialed(dialed, config.default_region)
        xml = answers.bridge(flavor, correlation.sip_target(config.livekit_sip_uri, target, corr))
    else:
        xml = answers.reject(flavor)
    return web.Response(text=xml, content_type="application/xml")


def _form_call(
    provider: str, mode: str, form: dict[str, str], received_ms: int
) -> events.CarrierCall:
    call_id = _call_id(form.get("CallSid"), "CallSid")
    return events.CarrierCall(
        event_id=f"{provider}:{call_id}",
        provider=provider,
        mode=mode,
        call_id=call_id,
        correlation_id="",  # minted in _admit, bound to the dialed number
        caller=form.get("From") or form.get("Caller"),
        dialed=form.get("To") or form.get("Called"),
        forwarded_from=form.get("ForwardedFrom") or None,
        caller_name=form.get("CallerName") or form.get("CallerId") or None,
        sip_headers=_sip_header_params(form),
        account=form.get("AccountSid") or None,
        received_at_ms=received_ms,
    )


def _require_sip_uri(request: web.Request, source: str) -> None:
    if not request.app[state.CONFIG].livekit_sip_uri:
        raise Unavailable(f"{source} calls cannot be bridged: LIVEKIT_SIP_URI is not set")


class _Connection(msgspec.Struct):
    connection_id: str | None = None


class _ConnectionData(msgspec.Struct):
    payload: _Connection = msgspec.field(default_factory=_Connection)


class _ConnectionEvent(msgspec.Struct):
    data: _ConnectionData = msgspec.field(default_factory=_ConnectionData)


_connection_event = msgspec.json.Decoder(_ConnectionEvent)


def _telnyx_connection(content_type: str, body: bytes) -> str | None:
    """The application a Telnyx webhook names (TeXML ``ConnectionId``, Call Control
    ``data.payload.connection_id``). Read before the signature is checked, it only chooses
    which account's key checks it: a forged id leads to a key the forger does not hold."""
    if content_type == _FORM:
        return dict(_form_pairs(body)).get("ConnectionId") or None
    try:
        return _connection_event.decode(body).data.payload.connection_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def _telnyx_key(request: web.Request, body: bytes) -> bytes:
    """The public key Telnyx signed this webhook with: each account signs with its own, so a
    connection that is an organization's integration has that account's key; any other is
    the platform's (``TELNYX_PUBLIC_KEY``)."""
    config = request.app[state.CONFIG]
    connection = _telnyx_connection(request.content_type, body)
    integrations = request.app.get(state.INTEGRATIONS)
    if connection and integrations is not None:
        async with redis_deadline(request):
            found = await integrations.telnyx_connection(connection)
        if found is not None and found[1].public_key:
            return base64.b64decode(found[1].public_key)
    if config.telnyx.public_key is None:
        raise Forbidden(
            f"Telnyx connection {connection!r} is no organization's integration with a public "
            "key, and TELNYX_PUBLIC_KEY is not set"
        )
    return config.telnyx.public_key


async def _twilio_token(request: web.Request, account_sid: str | None) -> str | None:
    """The auth token Twilio signed this request with: Twilio signs each account's webhooks
    with that account's own token, so an organization's account (its integration, found by
    ``AccountSid``) has its token; any other is the platform's (``TWILIO_AUTH_TOKEN``) — and
    with ``TWILIO_ACCOUNT_SID`` set, an account that is neither is refused."""
    config = request.app[state.CONFIG]
    integrations = request.app.get(state.INTEGRATIONS)
    if account_sid and integrations is not None:
        async with redis_deadline(request):
            found = await integrations.twilio_account(account_sid)
        if found is not None:
            return found[1].auth_token
    if config.twilio.account_sid is not None and account_sid != config.twilio.account_sid:
        raise Forbidden(
            f"AccountSid {account_sid!r} is neither the platform's (TWILIO_ACCOUNT_SID) nor an "
            "organization's Twilio integration"
        )
    return config.twilio.auth_token


@routes.post("/webhooks/twilio/voice", role=PUBLIC)
async def twilio_voice(request: web.Request) -> web.Response:
    received = events.now_ms()
    config = request.app[state.CONFIG]
    if not (config.twilio.webhooks_enabled or state.INTEGRATIONS in request.app):
        raise Unavailable(
            "Twilio webhooks disabled: set TWILIO_AUTH_TOKEN (or TWILIO_WEBHOOK_SHARED_KEY), "
            "or ROUTER_SECRETS_KEY for organizations' own Twilio accounts"
        )
    _require_sip_uri(request, "Twilio")
    body = await read_body(request, limit=MAX_BODY, types=(_FORM,))
    pairs = _form_pairs(body)
    url = public_url(str(request.url), config.http.public_url)
    verify_twilio(
        await _twilio_token(request, dict(pairs).get("AccountSid")),
        url,
        pairs,
        request.headers.get("X-Twilio-Signature"),
        settings=request.headers.get(SIGNATURE_SETTINGS),
        shared_key=config.twilio.webhook_shared_key,
    )
    form = dict(pairs)
    draft = _form_call("twilio", "twiml", form, received)
    inbound = form.get("Direction", "inbound") == "inbound"
    answer, corr, _ = await _admit(request, draft, inbound=inbound)
    return _markup(request, "twilio", answer, draft.dialed, corr)


@routes.post("/webhooks/telnyx", role=PUBLIC)
async def telnyx(request: web.Request) -> web.Response:
    received = events.now_ms()
    config = request.app[state.CONFIG]
    if config.telnyx.public_key is None and state.INTEGRATIONS not in request.app:
        raise Unavailable(
            "Telnyx webhooks disabled: set TELNYX_PUBLIC_KEY, or ROUTER_SECRETS_KEY for "
            "organizations' own Telnyx accounts"
        )
    body = await read_body(request, limit=MAX_BODY, types=(_FORM, "application/json"))
    verify_telnyx(
        await _telnyx_key(request, body),
        body,
        request.headers.get("telnyx-signature-ed25519"),
        request.headers.get("telnyx-timestamp"),
    )
    if request.content_type == _FORM:
        _require_sip_uri(request, "Telnyx TeXML")
        form = dict(_form_pairs(body))
        draft = _form_call("telnyx", "texml", form, received)
        inbound = form.get("Direction", "inbound") in ("inbound", "incoming")
        answer, corr, _ = await _admit(request, draft, inbound=inbound)
        return _markup(request, "texml", answer, draft.dialed, corr)
    return await _call_control(request, body, received)


async def _transfer_leg_ended(
    request: web.Request, data: _TelnyxEvent, received: int
) -> web.Response | None:
    """``call.hangup`` of a transfer leg we started (its client_state names the inbound call):
    queued, so the worker can end a failed transfer at once. Other hangups: None."""
    hangup = decode(bytes(data.payload), _CallHangup)
    inbound = correlation.inbound_of_transfer(hangup.client_state)
    if inbound is None:
        return None
    leg = _call_id(hangup.call_control_id, "call_control_id")
    event = events.CarrierLegEnded(
        event_id=f"telnyx:{data.id or leg}:hangup",
        provider="telnyx",
        call_id=inbound,
        leg_id=leg,
        cause=(hangup.hangup_cause or "")[:64] or None,
        received_at_ms=received,
    )
    ingress = request.app[state.INGRESS]
    with unavailable_as_503(ingress, "telnyx", inbound):  # enqueue has its batch's deadline
        queued, _ = await ingress.enqueue(event.event_id, event)
    ingress.counts["telnyx", "queued" if queued else "duplicate"] += 1
    return json_response({"queued": queued, "duplicate": not queued, "callId": inbound})


async def _call_control(request: web.Request, body: bytes, received: int) -> web.Response:
    config = request.app[state.CONFIG]
    envelope = decode(body, _TelnyxEnvelope)
    data = envelope.data
    ingress = request.app[state.INGRESS]
    if data.event_type == "call.hangup":
        ended = await _transfer_leg_ended(request, data, received)
        if ended is not None:
            return ended
    if data.event_type == "number_order.complete":
        return number_order_complete(request, bytes(data.payload))
    if data.event_type != "call.initiated":
        ingress.counts["telnyx", f"ignored:{data.event_type[:40]}"] += 1
        return json_response({"queued": False, "reason": f"{data.event_type} needs no action"})
    payload = decode(bytes(data.payload), _CallInitiated)
    if payload.direction != "incoming":
        # Our own transfer leg to LiveKit is an outgoing call.initiated: never route it again.
        ingress.counts["telnyx", "ignored:outgoing"] += 1
        return json_response({"queued": False, "reason": "not an incoming call"})
    if not config.telnyx.api_key:
        raise Unavailable("Telnyx Call Control cannot act: set TELNYX_API_KEY")
    _require_sip_uri(request, "Telnyx Call Control")
    call_id = _call_id(payload.call_control_id, "call_control_id")
    headers: dict[str, Any] = {
        h.name.lower(): h.value
        for h in [*(payload.sip_headers or []), *(payload.custom_headers or [])]
    }
    draft = events.CarrierCall(
        event_id=f"telnyx:{data.id or call_id}",
        provider="telnyx",
        mode="call_control",
        call_id=call_id,
        correlation_id="",  # minted in _admit, bound to the dialed number
        caller=payload.from_,
        dialed=payload.to,
        caller_name=payload.caller_id_name,
        sip_headers=headers,
        received_at_ms=received,
    )
    answer, _, queued = await _admit(request, draft, inbound=True)
    # Answered like the LiveKit webhook: a repeated delivery says it is a duplicate.
    return json_response(
        {"queued": queued, "duplicate": not queued, "callId": call_id, "answer": answer}
    )
