"""The API's writable fields as command-line flags, one table per resource: the same flags on
``create`` (or ``import``) and ``update``, named after the API field they set, each with its
help; values checked by argparse (a JSON flag that is not JSON is a usage error, exit 2);
agents given by id or LiveKit agent name wherever one is taken."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from router.cli.client import ClientError
from router.cli.lookup import agent_id

if TYPE_CHECKING:
    from router.cli.client import AdminClient


def _json_of(kind: type, what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not JSON ({exc})") from None
        if not isinstance(value, kind):
            raise argparse.ArgumentTypeError(f"wants {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


def _bool(text: str) -> bool:
    if text.lower() in ("true", "yes", "on", "1"):
        return True
    if text.lower() in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"true or false, got {text!r}")


class Flag(NamedTuple):
    """``--name`` on the command line, ``api`` in the request body."""

    name: str
    api: str
    help: str
    options: dict[str, Any] = {}
    agent: bool = False  # an agent: its id, or resolved from its LiveKit agent name
    secret: bool = False  # "-": read from stdin (not the shell's history); never printed

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


_OBJECT = _json_of(dict, "a JSON object")
_LIST = _json_of(list, "a JSON list")
_NUMBER_OF_CALLS: dict[str, Any] = {"type": int, "metavar": "N"}
_ADDRESSES: dict[str, Any] = {
    "type": lambda text: [a.strip() for a in text.split(",") if a.strip()],
    "metavar": "A,B",
}

AGENT_FLAGS = (
    Flag("name", "name", "a name for people"),
    Flag("livekit-agent-name", "livekitAgentName", "the name the agent registers with LiveKit"),
    Flag("prompt", "prompt", "the agent's prompt, passed in its metadata"),
    Flag("routing-intent", "routingIntent", "what the agent is for, in words"),
    Flag("join-timeout", "joinTimeoutS", "seconds it has to join a call (2 to 60; 10)",
         {"type": float, "metavar": "S"}),
    Flag("no-show", "noShow", "when it does not join in time (hangup)",
         {"choices": ("hangup", "fallback_agent", "transfer")}),
    Flag("fallback-agent", "fallbackAgentId", "no-show fallback_agent: the agent (id or name)",
         agent=True),
    Flag("transfer-to", "transferTo", "no-show transfer: tel:+E.164 or sip:user@host"),
    Flag("max-concurrent-calls", "maxConcurrentCalls", "its live calls at once (no cap)",
         _NUMBER_OF_CALLS),
    Flag("webhooks", "webhooks", 'JSON, e.g. {"preCall": {"url": "https://…"}}',
         {"type": _OBJECT}),
    Flag("tools", "tools", "JSON list, passed in its metadata", {"type": _LIST}),
    Flag("provider-preferences", "providerPreferences", "JSON object, passed in its metadata",
         {"type": _OBJECT}),
)  # fmt: skip

NUMBER_FLAGS = (
    Flag("agent", "agentId", "the agent it routes to (id or LiveKit agent name)", agent=True),
    Flag("template", "dispatchMetadataTemplate", "dispatchMetadataTemplate, a JSON object",
         {"type": _OBJECT}),
    Flag("label", "label", "a human-readable label"),
    Flag("direction", "direction", "calls allowed (inbound)",
         {"choices": ("inbound", "outbound", "both")}),
    Flag("sip-connection", "sipConnectionInstallationId", "one of your SIP connections' id"),
    Flag("sip-trunk", "sipTrunkId", "a LiveKit inbound trunk you made (its id)"),
    Flag("sip-provider", "sipProviderName", "the carrier behind the SIP trunk, in words"),
    Flag("shared-landing", "sharedLanding",
         "true: many businesses forward here, calls match on where they came from",
         {"type": _bool, "metavar": "true|false"}),
    Flag("origin-overrides", "originOverrides",
         'JSON list, e.g. [{"match": "+1617", "agentId": "ag_…"}]', {"type": _LIST}),
    Flag("overflow", "overflow", "a call over the concurrency limit (reject)",
         {"choices": ("reject", "overflow_agent", "transfer")}),
    Flag("overflow-agent", "overflowAgentId", "overflow_agent: the agent (id or name)",
         agent=True),
    Flag("overflow-transfer-to", "overflowTransferTo", "overflow transfer: tel:+E.164 or sip:…"),
)  # fmt: skip

ORG_FLAGS = (
    Flag("name", "name", "its name"),
    Flag("number-limit", "numberLimit", "numbers it may hold", _NUMBER_OF_CALLS),
    Flag("sip-allowed-addresses", "sipAllowedAddresses",
         "where its carrier sends SIP from: IPs or CIDRs, comma-separated ('' for anywhere)",
         _ADDRESSES),
    Flag("max-concurrent-calls", "maxConcurrentCalls", "its live calls at once (no cap)",
         _NUMBER_OF_CALLS),
)  # fmt: skip

_SECRET = {"metavar": "SECRET|-"}
CONNECTION_FLAGS = (
    Flag("name", "name", "a name for people"),
    Flag("sip-provider", "sipProviderName", "the carrier behind it, in words"),
    Flag("allowed-addresses", "inbound.allowedAddresses",
         "inbound: where calls come from, IPs or CIDRs, comma-separated",
         _ADDRESSES),
    Flag("inbound-username", "inbound.username", "inbound: the digest username it sends"),
    Flag("inbound-password", "inbound.password", "inbound: its password ('-': from stdin)",
         _SECRET, secret=True),
    Flag("media-encryption", "inbound.mediaEncryption", "inbound: SRTP (allow)",
         {"choices": ("disable", "allow", "require")}),
    Flag("pin", "inbound.pin", "inbound: a PIN callers enter, 4 to 12 digits ('-': stdin)",
         _SECRET, secret=True),
    Flag("outbound-address", "outbound.address", "outbound: the trunk's host[:port]"),
    Flag("outbound-transport", "outbound.transport", "outbound: udp, tcp or tls (udp)",
         {"choices": ("udp", "tcp", "tls")}),
    Flag("outbound-username", "outbound.username", "outbound: the username we log in with"),
    Flag("outbound-password", "outbound.password", "outbound: its password ('-': stdin)",
         _SECRET, secret=True),
)  # fmt: skip

# Where a new agent or number goes.
ORG = Flag("org", "organizationId", "the organization (operator; default: yours)")
# Set once, when a number is imported (PATCH does not take them).
IMPORT_FLAGS = (
    Flag("source", "source", "where it came from (sip_trunk)",
         {"choices": ("sip_trunk", "livekit", "twilio", "telnyx", "byoc", "verified_caller_id")}),
    Flag("mode", "mode", "a Twilio number: its voice URL (webhook) or an Elastic SIP Trunk",
         {"choices": ("webhook", "sip_trunk")}),
    ORG,
)  # fmt: skip


def add_flags(
    parser: argparse.ArgumentParser, flags: tuple[Flag, ...], required: tuple[str, ...] = ()
) -> None:
    for flag in flags:
        parser.add_argument(
            f"--{flag.name}", dest=flag.dest, required=flag.name in required,
            help=flag.help, **flag.options,
        )  # fmt: skip


def add_clear(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clear", action="append", metavar="FIELD",
        help="an API field to clear (null), e.g. label; repeat for more",
    )  # fmt: skip


def given(args: argparse.Namespace, flags: tuple[Flag, ...]) -> bool:
    return any(getattr(args, flag.dest, None) is not None for flag in flags)


async def body_of(
    client: AdminClient, args: argparse.Namespace, flags: tuple[Flag, ...]
) -> dict[str, Any]:
    """The flags given, under their API names (agents resolved to ids); ``--clear`` as null."""
    body: dict[str, Any] = {}
    for flag in flags:
        value = getattr(args, flag.dest, None)
        if value is None:
            continue
        if flag.agent:
            value = await agent_id(client, value)
        elif flag.secret and value == "-":
            value = sys.stdin.readline().rstrip("\n")
        _put(body, flag.api, value)
    for name in getattr(args, "clear", None) or []:
        _put(body, name, None)
    return body


def _put(body: dict[str, Any], api: str, value: Any) -> None:
    """``inbound.pin`` → ``{"inbound": {"pin": …}}`` (a nested field of the API's body)."""
    *outer, name = api.split(".")
    for part in outer:
        body = body.setdefault(part, {})
    body[name] = value


async def changes(
    client: AdminClient, args: argparse.Namespace, flags: tuple[Flag, ...],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """An update's body (``extra``: what other flags set): refused when it changes nothing."""
    body = {**await body_of(client, args, flags), **(extra or {})}
    if not body:
        raise ClientError("nothing to change: give a flag (or --clear FIELD)")
    return body
