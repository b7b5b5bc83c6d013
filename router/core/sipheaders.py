"""SIP header syntax: split a name-addr list and read each entry's URI and parameters.

Only what Diversion (RFC 5806) and History-Info (RFC 7044) need from RFC 3261's grammar:
comma-separated entries (commas inside quotes or ``<...>`` do not split), an optional display
name, the URI (``sip:``, ``sips:`` or ``tel:``) with its user part, URI parameters and escaped
headers, then the header parameters. Malformed entries are dropped, never guessed at.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import msgspec

MAX_HEADER_CHARS = 8192
MAX_ENTRIES = 32


class SipUri(msgspec.Struct, frozen=True):
    scheme: str
    user: str  # unescaped, without telephone-subscriber parameters
    host: str
    params: dict[str, str]  # URI parameters, lower-cased names (RFC 4458 cause= lives here)
    headers: dict[str, str]  # escaped URI headers (?Reason=...&Privacy=history), lower-cased names
    # telephone-subscriber parameters of a sip: user part (RFC 3966 phone-context, ...)
    user_params: dict[str, str] = msgspec.field(default_factory=dict)


class NameAddr(msgspec.Struct, frozen=True):
    uri: SipUri
    params: dict[str, str]  # header parameters, lower-cased names


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def split_entries(value: str) -> list[str]:
    """Split a header value on top-level commas (RFC 3261 section 7.3.1)."""
    if "," not in value:  # the common case: one entry per header line
        return [value.strip()] if value.strip() else []
    entries: list[str] = []
    depth_angle, quoted, escaped, start = False, False, False, 0
    for i, c in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if c == "\\":
                escaped = True
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "<":
            depth_angle = True
        elif c == ">":
            depth_angle = False
        elif c == "," and not depth_angle:
            entries.append(value[start:i])
            start = i + 1
    entries.append(value[start:])
    return [e.strip() for e in entries if e.strip()]


def _params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(";"):
        name, _, val = part.partition("=")
        name = name.strip().lower()
        if name:
            out[name] = val.strip().strip('"')
    return out


def parse_uri(text: str) -> SipUri | None:
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips", "tel"):
        return None
    rest, _, hdrs = rest.partition("?")
    headers: dict[str, str] = {}
    for pair in hdrs.split("&") if hdrs else []:
        name, _, val = pair.partition("=")
        if name:
            headers[unquote(name).strip().lower()] = unquote(val)
    user_params_text = ""
    if scheme == "tel":
        user, _, params_text = rest.partition(";")
        host = ""
    else:
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            userinfo, hostpart = "", rest
        user = userinfo.partition(":")[0]  # drop a password, never keep it
        user, _, user_params_text = user.partition(";")  # telephone-subscriber parameters
        host, _, params_text = hostpart.partition(";")
    user = unquote(user).strip()
    if not user and not host:
        return None
    user_params = _params(user_params_text) if scheme != "tel" else {}
    return SipUri(scheme, user, host.strip().lower(), _params(params_text), headers, user_params)


def parse_name_addr(entry: str) -> NameAddr | None:
    """One entry: ``"Name" <uri;uparams?headers>;hparams`` or a bare ``uri;hparams``."""
    if _has_control(entry):
        return None
    lt = entry.find("<")
    if lt >= 0:
        gt = entry.find(">", lt)
        if gt < 0:
            return None
        uri = parse_uri(entry[lt + 1 : gt])
        params = _params(entry[gt + 1 :].lstrip().removeprefix(";"))
    else:
        # RFC 3261: in a bare addr-spec, everything after the first ';' is a header parameter.
        addr, _, rest = entry.partition(";")
        uri = parse_uri(addr)
        params = _params(rest)
    return NameAddr(uri, params) if uri is not None else None


def parse_list(value: str | None) -> list[NameAddr]:
    """Every well-formed entry of a name-addr list header, in header order (bounded)."""
    if not value or len(value) > MAX_HEADER_CHARS:
        return []
    parsed = (parse_name_addr(e) for e in split_entries(value)[:MAX_ENTRIES])
    return [p for p in parsed if p is not None]
