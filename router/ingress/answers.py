"""Carrier answer documents (TwiML for Twilio, TeXML for Telnyx), loaded once from the package.

The documents are data (``templates/twilio/*.xml``, ``templates/texml/*.xml``) with
``string.Template`` placeholders; every value is XML-escaped when it is substituted.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from string import Template
from xml.sax.saxutils import escape

from aiohttp import web

from router.config import TEMPLATES_DIR
from router.errors import ConfigError

_FLAVORS = ("twilio", "texml")
_KINDS = ("bridge", "reject")


class Answers:
    """The TwiML/TeXML documents, loaded once (the web app holds them under ``ANSWERS``)."""

    def __init__(self, root: Traversable = TEMPLATES_DIR) -> None:
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


ANSWERS = web.AppKey("answers", Answers)
