"""``python -m router calls simulate``: a test call against a running router (Stripe CLI's
``trigger`` is the model).

It sends what the real sender would, signed the real way, to the router's own webhook
endpoint, then waits for the decision on ``GET /v1/calls/events`` and prints the trace and
the rendered dispatch metadata:

- LiveKit (the default): a ``participant_joined`` of a SIP participant, LiveKit's protobuf
  JSON, with the dialed and caller numbers and the ``Diversion`` / ``History-Info`` headers
  as LiveKit maps them into ``sip.h.*`` attributes, signed as LiveKit signs webhooks (a JWT of
  ``LIVEKIT_API_KEY`` carrying the body's sha256, made by livekit-api's ``AccessToken``).
- ``--carrier twilio``: Twilio's voice webhook (form fields, ``X-Twilio-Signature`` with
  ``TWILIO_AUTH_TOKEN``); the router's TwiML names the LiveKit SIP address and the
  correlation id, and the simulator then joins that bridged leg as LiveKit would.
- ``--carrier telnyx``: the TeXML webhook, signed with an Ed25519 private key whose public
  half is the router's ``TELNYX_PUBLIC_KEY`` (``--telnyx-signing-key``: a test router's own
  key pair; Telnyx's key never leaves Telnyx), then the bridged leg as above.

- ``--outbound --from <one of your numbers>``: the other way round — the router places the
  call (``POST /v1/calls/outbound``) from that number on its SIP connection's outbound trunk,
  the agent in the room; the answer is the call's record, printed as a trace.

Secrets come from the environment (the router's own variable names) or, on a first-run
machine, from the files the router generated.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import secrets
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterable
from datetime import timedelta
from pathlib import Path

import msgspec

from router.cli import lookup
from router.cli.client import AdminClient, ClientError, Refused
from router.cli.output import terminal_safe, trace
from router.config import LIVEKIT_SECRET_FILE, LOCAL_LIVEKIT_KEY, ClientConfig, kept
from router.core.correlation import CORRELATION_HEADER
from router.core.records import FINAL, CallRecord
from router.core.twilio_signing import twilio_signature

HELP = "send a signed test call to a running router and show its decision"
DEFAULT_CALLER = "+14155550100"
_record = msgspec.json.Decoder(CallRecord)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, help="the dialed number (one you imported)")
    parser.add_argument("--from", dest="caller", default=DEFAULT_CALLER, help="the caller")
    parser.add_argument(
        "--diversion", action="append", default=[], metavar="VALUE",
        help="a Diversion header value, e.g. '<sip:+16175550177@pbx>;reason=unconditional'",
    )  # fmt: skip
    parser.add_argument(
        "--history-info", action="append", default=[], metavar="VALUE",
        help="a History-Info entry (repeatable), e.g. '<sip:+16175550177@pbx>;index=1'",
    )  # fmt: skip
    parser.add_argument(
        "--carrier", choices=("livekit", "twilio", "telnyx"), default="livekit",
        help="who sends the call: LiveKit SIP, or a carrier's webhook (livekit)",
    )  # fmt: skip
    parser.add_argument(
        "--telnyx-signing-key", type=Path, metavar="PEM",
        help="the ed25519 private key whose public half is TELNYX_PUBLIC_KEY",
    )  # fmt: skip
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait (15)")
    parser.add_argument("--json", action="store_true", help="print the call record as JSON")
    parser.add_argument(
        "--outbound", action="store_true",
        help="the router calls --to from --from (one of your numbers allowing outbound calls)",
    )  # fmt: skip


async def run(admin: AdminClient, args: argparse.Namespace) -> int:
    if args.outbound:
        return await outbound(admin, args)
    await _visible(admin, args.to)
    tag = secrets.token_hex(4)
    async with admin.event_stream("/v1/calls/events", {}) as decisions:
        if args.carrier == "livekit":
            call_id = f"SCL_sim_{tag}"
            await _post_livekit(admin, _join(args, call_id, args.to, f"sim-{tag}"))
        else:
            call_id = await _carrier_call(admin, args, tag)
        print(f"sent a {args.carrier} call {call_id}; waiting for the decision", file=sys.stderr)
        record = await _decision(decisions, call_id, args.wait)
    if record is None:
        # The stream may have missed it (a reconnecting proxy): ask once more.
        raw, _ = await admin.call("GET", f"/v1/calls/{urllib.parse.quote(call_id, safe='')}")
        record = msgspec.convert(raw, CallRecord) if raw else None
        if record is None or record.status not in FINAL:
            raise ClientError(f"no decision for {call_id} within {args.wait:g} s")
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(record)).decode())
    else:
        print(trace(record))
        if record.metadata is not None:
            print("  dispatch metadata:")
            text = msgspec.json.format(msgspec.json.encode(record.metadata)).decode()
            print(terminal_safe(text).replace("\\n", "\n    ").join(("    ", "")))
    return 0 if record.status in ("dispatched", "dry_run") else 1


async def _visible(admin: AdminClient, dialed: str) -> None:
    """An organization's key sees only its organization's calls: a call to a number that is
    not one of them is decided where the key cannot see it (another organization's, or an
    unknown number's) — said at once, not after waiting for a decision that cannot come."""
    preview, _ = await admin.call("POST", "/v1/route/preview", body={"dialedNumber": dialed})
    if not str((preview or {}).get("rejectReason") or "").startswith("unknown_number"):
        return
    try:
        await admin.call("GET", "/v1/organizations")  # the operator's: sees every call
    except Refused as exc:
        if exc.status != 403:
            raise
        raise ClientError(
            f"{dialed} is not one of this key's organization's numbers (numbers list shows "
            "them): its call would be decided where this key cannot see it"
        ) from None


async def outbound(admin: AdminClient, args: argparse.Namespace) -> int:
    """``calls outbound``: the router places the call (``POST /v1/calls/outbound``); its
    record, as a trace."""
    if args.caller in (DEFAULT_CALLER, None):
        raise ClientError("an outbound call is from one of your numbers: give it with --from")
    body = {"from": args.caller, "to": args.to}
    if getattr(args, "agent", None):
        body["agentId"] = await lookup.agent_id(admin, args.agent)
    raw, _ = await admin.call("POST", "/v1/calls/outbound", body=body)
    record = msgspec.convert(raw, CallRecord)
    print(msgspec.json.encode(record).decode() if args.json else trace(record))
    return 0 if record.status == "dispatched" else 1


async def _decision(
    decisions: AsyncIterable[bytes], call_id: str, wait_s: float
) -> CallRecord | None:
    try:
        async with asyncio.timeout(wait_s):
            async for data in decisions:
                record = _record.decode(data)
                if call_id in (record.call_id, record.sip_call_id) and record.status in FINAL:
                    return record
    except TimeoutError:
        return None
    return None


# ---- LiveKit --------------------------------------------------------------------------------


def _livekit_keys(settings: ClientConfig) -> tuple[str, str]:
    key, secret = settings.livekit_api_key, settings.livekit_api_secret
    if key and secret:
        return key, secret
    local = kept(LIVEKIT_SECRET_FILE)
    if local:
        return LOCAL_LIVEKIT_KEY, local
    raise ClientError(
        "set LIVEKIT_API_KEY and LIVEKIT_API_SECRET to the router's (a first run on this "
        "machine keeps a local pair, but none was found)"
    )


def _join(args: argparse.Namespace, call_id: str, dialed: str, room: str, **extra: str) -> str:
    """A SIP participant's ``participant_joined``, as LiveKit's server sends it."""
    # livekit-api and protobuf imported where used: the CLI's other commands start fast
    from google.protobuf.json_format import MessageToJson
    from livekit import api

    attributes = {
        "sip.callID": call_id,
        "sip.trunkPhoneNumber": dialed,
        "sip.phoneNumber": args.caller,
        "sip.trunkID": "ST_simulated",
        "sip.ruleID": "SDR_simulated",
        **extra,
    }
    if args.diversion:
        attributes["sip.h.diversion"] = ", ".join(args.diversion)
    if args.history_info:
        attributes["sip.h.history-info"] = ", ".join(args.history_info)
    event = api.WebhookEvent(
        event="participant_joined",
        id=f"EV_{call_id}",
        created_at=int(time.time()),
        room=api.Room(name=room, sid=f"RM_{call_id}"),
        participant=api.ParticipantInfo(
            sid=f"PA_{call_id}",
            identity=f"sip_{args.caller}",
            kind=api.ParticipantInfo.Kind.SIP,
            attributes=attributes,
        ),
    )
    return MessageToJson(event)


async def _post_livekit(admin: AdminClient, body: str) -> None:
    from livekit import api

    key, secret = _livekit_keys(admin.settings)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = api.AccessToken(key, secret).with_sha256(digest).with_ttl(timedelta(minutes=5)).to_jwt()
    await admin.call(
        "POST",
        "/webhooks/livekit",
        data=body.encode(),
        headers={"Authorization": token, "Content-Type": "application/webhook+json"},
    )


# ---- carriers --------------------------------------------------------------------------------


async def _carrier_call(admin: AdminClient, args: argparse.Namespace, tag: str) -> str:
    call_id = f"CA_sim_{tag}" if args.carrier == "twilio" else f"v3:sim_{tag}"
    form = {
        "CallSid": call_id,
        "AccountSid": "AC_simulated",
        "From": args.caller,
        "To": args.to,
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    for value in args.diversion:
        form["ForwardedFrom"] = _number_of(value)
    if args.carrier == "twilio":
        form["ApiVersion"] = "2010-04-01"
        answer = await _post_twilio(admin, form)
    else:
        answer = await _post_texml(admin, args, form)
    sip_uri = _bridge_target(answer)
    dialed, correlation_id = _bridge_parts(sip_uri)
    print(f"the router answered: bridge to {sip_uri}", file=sys.stderr)
    join = _join(
        args,
        f"SCL_sim_{tag}",
        dialed,
        f"sim-{tag}",
        **{f"sip.h.{CORRELATION_HEADER.lower()}": correlation_id},
    )
    await _post_livekit(admin, join)
    return call_id


def _number_of(header_value: str) -> str:
    """The user part of a Diversion value's URI (what a carrier puts in ForwardedFrom)."""
    inside = header_value.split("<", 1)[-1].split(">", 1)[0]
    return inside.split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]


async def _post_twilio(admin: AdminClient, form: dict[str, str]) -> str:
    token = admin.settings.twilio_auth_token
    if not token:
        raise ClientError("--carrier twilio signs with TWILIO_AUTH_TOKEN: set it to the router's")
    url = admin.url("/webhooks/twilio/voice")
    signature = twilio_signature(token, url, form.items())
    return await _post_form(
        admin, "/webhooks/twilio/voice", form, {"X-Twilio-Signature": signature}
    )


async def _post_texml(admin: AdminClient, args: argparse.Namespace, form: dict[str, str]) -> str:
    # imported where used: the CLI's other commands start fast
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if args.telnyx_signing_key is None:
        raise ClientError(
            "--carrier telnyx needs --telnyx-signing-key: the PEM Ed25519 private key whose "
            "public half is the router's TELNYX_PUBLIC_KEY (a test router's own pair)"
        )
    key = serialization.load_pem_private_key(args.telnyx_signing_key.read_bytes(), None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ClientError("--telnyx-signing-key: not an Ed25519 private key")
    body = urllib.parse.urlencode(form).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(key.sign(stamp.encode() + b"|" + body)).decode()
    headers = {"telnyx-signature-ed25519": signature, "telnyx-timestamp": stamp}
    return await _post_form(admin, "/webhooks/telnyx", form, headers, body=body)


async def _post_form(
    admin: AdminClient,
    path: str,
    form: dict[str, str],
    headers: dict[str, str],
    body: bytes | None = None,
) -> str:
    payload = body if body is not None else urllib.parse.urlencode(form).encode()
    headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    return await admin.text("POST", path, data=payload, headers=headers)


def _bridge_target(answer: str) -> str:
    """The ``<Sip>`` address of a TwiML/TeXML bridge answer."""
    try:
        sip = ET.fromstring(answer).find("./Dial/Sip")
    except ET.ParseError as exc:
        raise ClientError(f"the router's answer is not TwiML/TeXML: {answer[:200]!r}") from exc
    if sip is None or not (sip.text or "").strip():
        raise ClientError(f"the router did not bridge the call: {answer.strip()[:300]}")
    return (sip.text or "").strip()


def _bridge_parts(sip_uri: str) -> tuple[str, str]:
    """(dialed number, correlation id) of ``sip:<dialed>@host?X-Router-Call=<id>``."""
    address, _, query = sip_uri.partition("?")
    user = address.split(":", 1)[-1].split("@", 1)[0]
    headers = urllib.parse.parse_qs(query)
    found = headers.get(CORRELATION_HEADER)
    if not found:
        raise ClientError(f"no {CORRELATION_HEADER} in the bridge address {sip_uri}")
    return urllib.parse.unquote(user), found[0]
