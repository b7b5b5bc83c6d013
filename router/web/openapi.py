"""``GET /openapi.json`` (OpenAPI 3.1), ``GET /docs`` (a page that renders it, offline) and
``GET /schemas/dispatch-metadata.json`` (the JSON Schema of a dispatch's metadata).

The document is built once per process from the app's own route table and the msgspec
Structs each handler declares (``web.apidoc``): msgspec writes the JSON Schemas (2020-12, the
dialect OpenAPI 3.1 uses), this module the paths, parameters, the error envelope and the
bearer scheme. A ``/v1`` route with no declaration is an error at build time, so the document
cannot fall behind the code. Both routes are public: they describe, they hold no data.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from aiohttp import web

from router.config import TEMPLATES_DIR
from router.core import dispatch_metadata
from router.web.apidoc import Operation, operation_of
from router.web.routing import PUBLIC, Routes, required_role

routes = Routes()
_DOCUMENT = web.AppKey("openapi_document", bytes)
_REF = "#/components/schemas/{name}"
_METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERROR_WORDS = {
    400: "invalid input: the field is named",
    401: "no or wrong bearer token (or a revoked key)",
    402: "the organization holds its number limit",
    403: "the key's role does not allow this",
    429: "the organization is over its request budget: see Retry-After",
    404: "no such resource",
    408: "the request body did not arrive in time",
    409: "conflicts with another row, or changed meanwhile: retry",
    413: "body too large",
    415: "wrong Content-Type",
    501: "not part of the call router",
    503: "the state store is unavailable: retry",
}
_EVERY_V1 = (400, 401, 403, 429, 503)


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every refusal: a message for people, a stable code for programs, the field at fault."""

    error: str
    code: str
    field: str | None = None


def _package_version() -> str:
    try:
        return version("call-router")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0"


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every ``/v1`` route of ``app``."""
    found: list[tuple[str, str, Any, Operation]] = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if not path.startswith("/v1/"):
            continue
        operation = operation_of(route.handler)
        if operation is None:
            raise AssertionError(f"{route.method} {path}: no @documented declaration")
        methods = _METHODS if route.method == "*" else (route.method.lower(),)
        for method in methods:
            if method != "head":
                found.append((_PARAM.sub(r"{\1}", path), method, route.handler, operation))
    types: list[Any] = [ErrorBody]
    for _, _, _, op in found:
        types += [t for t in (op.response, op.request) if t is not None]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    by_type = dict(zip((id(t) for t in types), schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler, op in found:
        paths.setdefault(path, {})[method] = _operation(path, method, handler, op, by_type)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Inbound call router — admin API",
            "version": _package_version(),
            "description": (
                "Phone numbers and agents, shaped like the platform's phone-number API (its SMS "
                "fields are always null: the router does not send SMS), with business "
                "verification, credits and bought numbers; call "
                "records and their routing traces; the dead-letter stream. Every refusal is "
                '`{"error", "code"}` (ErrorBody). Lists answer a JSON array a page at a time '
                'and give the next page in a `Link: <…>; rel="next"` header. What a '
                "dispatched agent receives as its job metadata is described by the JSON "
                f"Schema at `{dispatch_metadata.SCHEMA_ID}`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "ROUTER_ADMIN_TOKEN (the operator: every organization; a first run "
                        "generates one), or an organization's API key (sk_...), whose role — "
                        "viewer < agent_manager < admin — each operation names in "
                        "x-required-role"
                    ),
                }
            },
        },
    }


def _operation(
    path: str, method: str, handler: Any, op: Operation, schema_of: dict[int, Any]
) -> dict[str, Any]:
    words = " ".join((handler.__doc__ or "").split())
    summary = words.split(". ")[0].split(" (")[0].rstrip(".:;")
    answer: dict[str, Any] = {"description": summary or "the answer"}
    if op.response is not None:
        answer["content"] = {op.media_type: {"schema": schema_of[id(op.response)]}}
    if op.paged:
        answer["headers"] = {
            "Link": {
                "description": 'the next page: `<URL>; rel="next"` (absent on the last page)',
                "schema": {"type": "string"},
            }
        }
    responses: dict[str, Any] = {str(op.status): answer}
    for status in sorted({*_EVERY_V1, *op.errors} - {op.status}):
        responses[str(status)] = _error(status)
    if op.status >= 400:
        responses[str(op.status)] = _error(op.status)
    role = required_role(handler)
    out: dict[str, Any] = {
        "operationId": f"{method}_{handler.__name__}",
        "summary": summary,
        "tags": [path.split("/")[2]],
        "responses": responses,
        "x-required-role": role,
    }
    needs = f"Needs role: {role}" + (
        " (the operator token)." if role == "operator" else " or above."
    )
    out["description"] = f"{words} {needs}" if words and words != summary else needs
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(path)
    ]
    parameters += [
        {"name": p.name, "in": "query", "description": p.description, "schema": p.schema}
        for p in op.query
    ]
    if parameters:
        out["parameters"] = parameters
    if op.request is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema_of[id(op.request)]}},
        }
    return out


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _ERROR_WORDS.get(status, "refused"),
        "content": {"application/json": {"schema": {"$ref": _REF.format(name="ErrorBody")}}},
    }


async def _remember(app: web.Application) -> None:
    app[_DOCUMENT] = msgspec.json.encode(build(app))


def install(app: web.Application) -> None:
    """Serve the document of ``app``'s routes (built at start-up, once)."""
    app.on_startup.append(_remember)
    app.add_routes(routes)


@routes.get("/openapi.json", role=PUBLIC)
async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[_DOCUMENT], content_type="application/json")


_PAGE = (TEMPLATES_DIR / "docs.html").read_bytes()
_HEADERS = {
    # Its own inline script and style only; it fetches /openapi.json from this origin.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


_METADATA_SCHEMA = msgspec.json.encode(dispatch_metadata.schema())


@routes.get(dispatch_metadata.SCHEMA_ID, role=PUBLIC)
async def dispatch_metadata_schema(request: web.Request) -> web.Response:
    """The JSON Schema of what a dispatched agent finds in ``ctx.job.metadata``."""
    return web.Response(body=_METADATA_SCHEMA, content_type="application/schema+json")


@routes.get("/docs", role=PUBLIC)
async def docs_page(request: web.Request) -> web.Response:
    """The document rendered in the browser, by a page with no outside resources."""
    return web.Response(body=_PAGE, content_type="text/html", charset="utf-8", headers=_HEADERS)
