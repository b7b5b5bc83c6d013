"""``dispatchMetadataTemplate``: check it when it is saved, render it for each call.

Rules (docs/routing.md, "Session metadata"): a string that is exactly one token takes the
token's value, ``null`` included; a token inside a longer string is replaced by its text (empty
when null). Keys and non-string values pass through unchanged. Whitespace inside the braces is
allowed (``{{ callerNumber }}``).

Merge rule into the session metadata (``merge``): the rendered template is merged *over* the
router's own metadata, recursively for objects — where both sides hold an object under the same
key their keys are merged, anywhere else the template's value wins. So a template can add to
``agent`` without dropping the hydrated prompt, and can override any single fact on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from router.core import bounds
from router.errors import ValidationError

TOKENS = frozenset(
    {
        "callerNumber",
        "dialedNumber",
        "forwardedFromNumber",
        "callId",
        "provider",
        "phoneNumberId",
        "agentId",
        "label",
    }
)
MAX_DEPTH = 8
MAX_BYTES = 16 * 1024
MAX_NODES = 1000

_TOKEN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WHOLE = re.compile(r"\A\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\Z")
_FIELD = "dispatchMetadataTemplate"


def validate(template: object) -> dict[str, Any]:
    """Return the template if it may be stored, else raise ValidationError naming the problem."""
    if not isinstance(template, dict):
        raise ValidationError(f"{_FIELD} must be a JSON object or null", field=_FIELD)
    problem = bounds.shape_problem(template, max_depth=MAX_DEPTH, max_nodes=MAX_NODES)
    if problem:
        raise ValidationError(f"{_FIELD} {problem}", field=_FIELD)
    if len(msgspec.json.encode(template)) > MAX_BYTES:
        raise ValidationError(f"{_FIELD} is larger than {MAX_BYTES} bytes", field=_FIELD)
    stack: list[object] = [template]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            for name in _TOKEN.findall(node):
                if name not in TOKENS:
                    known = ", ".join("{{" + t + "}}" for t in sorted(TOKENS))
                    raise ValidationError(
                        f"{_FIELD} uses unknown token {{{{{name}}}}}; known tokens: {known}",
                        field=_FIELD,
                    )
    return template


def _render(node: Any, values: Mapping[str, str | None]) -> Any:
    if isinstance(node, str):
        if "{{" not in node:
            return node
        whole = _WHOLE.match(node)
        if whole:
            return values.get(whole.group(1))
        return _TOKEN.sub(lambda m: values.get(m.group(1)) or "", node)
    if isinstance(node, dict):
        return {k: _render(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, values) for v in node]
    return node


def render(template: Mapping[str, Any] | None, values: Mapping[str, str | None]) -> dict[str, Any]:
    """Render a stored template with the call's token values (unknown tokens render as null)."""
    if not template:
        return {}
    rendered: dict[str, Any] = _render(dict(template), values)
    return rendered


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` onto ``base`` (module docstring); neither input is changed."""
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            out[key] = merge(current, value)
        else:
            out[key] = value
    return out
