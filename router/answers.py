"""Carrier answer documents (TwiML for Twilio, TeXML for Telnyx), loaded once from templates/.

The documents are data (``templates/twilio/*.xml``, ``templates/texml/*.xml``) with
``string.Template`` placeholders; every value is XML-escaped when it is substituted.
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from urllib.parse import quote
from xml.sax.saxutils import escape

from router.errors import ConfigError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
CORRELATION_HEADER = "X-Router-Call"
_FLAVORS = ("twilio", "texml")
_KINDS = ("bridge", "reject")


class Answers:
    def __init__(self, root: Path = TEMPLATES_DIR) -> None:
        self._docs: dict[tuple[str, str], Template] = {}
        for flavor in _FLAVORS:
            for kind in _KINDS:
                path = root / flavor / f"{kind}.xml"
                if not path.is_file():
                    raise ConfigError("templates", f"{path} is missing")
                self._docs[flavor, kind] = Template(path.read_text())

    def bridge(self, flavor: str, sip_uri: str) -> str:
        return self._docs[flavor, "bridge"].substitute(sip_uri=escape(sip_uri))

    def reject(self, flavor: str) -> str:
        return self._docs[flavor, "reject"].substitute()


def sip_address(livekit_sip_uri: str, dialed: str) -> str:
    """``sip:<dialed>@<LiveKit SIP host>``: the dialed number at LiveKit's SIP endpoint."""
    scheme, _, rest = livekit_sip_uri.partition(":")
    host = rest.split("@", 1)[-1]
    return f"{scheme}:{quote(dialed, safe='+')}@{host}"


def sip_target(livekit_sip_uri: str, dialed: str, correlation_id: str) -> str:
    """The address with ``?X-Router-Call=<id>``: TwiML/TeXML send URI headers as SIP headers."""
    address = sip_address(livekit_sip_uri, dialed)
    return f"{address}?{CORRELATION_HEADER}={quote(correlation_id)}"
