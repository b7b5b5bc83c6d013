"""``/openapi.json``: valid OpenAPI 3.1 by an independent validator, every ``/v1`` route of
the app in it, the answers the API really gives valid against it; ``/docs`` renders it in a
real headless Chromium with nothing from outside."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from router.store import keys
from tests.browser import browse
from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
    post_livekit,
    sip_join_event,
    wait_key,
    wait_record,
)

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
async def document(router) -> dict[str, Any]:
    resp = await router.get("/openapi.json")  # public: it describes, it holds no data
    assert resp.status == 200
    found: dict[str, Any] = await resp.json()
    return found


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)  # openapi-spec-validator: raises on any fault


def test_every_v1_route_is_in_the_document(router, document):
    expected = set()
    for route in router.app.router.routes():
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        if not path.startswith("/v1/"):
            continue
        path = path.replace("{tail:.*}", "{tail}")
        for method in METHODS if route.method == "*" else (route.method.lower(),):
            if method != "head":
                expected.add((path, method))
    listed = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert expected == listed
    assert len(listed) >= 20
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for ops in document["paths"].values():
        for op in ops.values():
            assert "401" in op["responses"]  # every route: the bearer token
            error = op["responses"]["401"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    resource = DRAFT202012.create_resource(document)
    registry: Registry[Any] = Registry().with_resource("urn:openapi", resource)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _answer_schema(document: dict[str, Any], path: str, method: str, status: str) -> Any:
    op = document["paths"][path][method]
    media = next(iter(op["responses"][status]["content"].values()))
    return media["schema"]


def _check(document: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    schema = _answer_schema(document, path, method, str(status))
    rebased = _rebase(schema)
    _validator(document, rebased).validate(body)


def _rebase(schema: Any) -> Any:
    """``#/components/...`` references, pointed into the whole document's resource."""
    if isinstance(schema, dict):
        return {
            k: ("urn:openapi" + v if k == "$ref" and v.startswith("#") else _rebase(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


async def test_real_answers_match_the_document(router, twirp, redis, document):
    agent = await create_agent(router, prompt="Be kind")
    _check(document, "/v1/agents", "post", 201, agent)
    row = await import_number(
        router, e164="+12015550123", agentId=agent["id"], dispatchMetadataTemplate={"a": "b"}
    )
    _check(document, "/v1/phone-numbers/import", "post", 201, row)
    numbers = await (await router.get("/v1/phone-numbers", headers=ADMIN)).json()
    _check(document, "/v1/phone-numbers", "get", 200, numbers)
    event = sip_join_event(headers={"Diversion": "<sip:+16175550177@pbx>;reason=unconditional"})
    assert (await post_livekit(router, event)).status == 200
    await wait_record(redis, "SCL_test1")

    async def noted() -> bool:
        return await redis.xlen(keys.RECENT_CALLS) > 0

    await wait_key(redis, keys.RECENT_CALLS, noted)
    calls = await (await router.get("/v1/calls", headers=ADMIN)).json()
    assert calls
    _check(document, "/v1/calls", "get", 200, calls)
    call = await (await router.get("/v1/calls/SCL_test1", headers=ADMIN)).json()
    _check(document, "/v1/calls/{id}", "get", 200, call)
    missing = await router.get("/v1/calls/nope", headers=ADMIN)
    _check(document, "/v1/calls/{id}", "get", 404, await missing.json())
    bad = await router.post("/v1/agents", json={"name": 5}, headers=ADMIN)
    _check(document, "/v1/agents", "post", 400, await bad.json())
    letters = await (await router.get("/v1/dead-letters", headers=ADMIN)).json()
    _check(document, "/v1/dead-letters", "get", 200, letters)
    # And the document is not a rubber stamp: a wrong body is refused by it.
    with pytest.raises(jsonschema.ValidationError):
        _check(document, "/v1/calls/{id}", "get", 200, {**call, "status": "maybe"})


@pytest.mark.timeout(120)
async def test_docs_render_offline_in_a_real_browser(router, document, tmp_path):
    resp = await router.get("/docs")
    assert resp.status == 200
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    page = await resp.text()
    assert "src=" not in page  # no script, style or font from anywhere
    dom = await browse(str(router.make_url("/docs")), tmp_path / "profile", "--dump-dom")
    for path in document["paths"]:
        assert f'<span class="path">{path}</span>' in dom
    assert "OpenAPI 3.1.0" in dom


def test_each_operation_names_the_role_it_needs(document):
    roles = {
        (path, method): op["x-required-role"]
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    assert set(roles.values()) <= {"viewer", "agent_manager", "admin", "operator"}
    assert roles[("/v1/phone-numbers", "get")] == "viewer"
    assert roles[("/v1/phone-numbers/import", "post")] == "agent_manager"
    assert roles[("/v1/organizations/{id}/api-keys", "post")] == "admin"
    assert roles[("/v1/organizations", "post")] == "operator"
