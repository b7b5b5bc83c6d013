"""What each ``/v1`` handler takes and answers, declared beside it for the OpenAPI document.

``@documented(...)`` puts an ``Operation`` on the handler; ``web.openapi`` walks the app's
routes and builds the document from these and from the msgspec Structs they name, so the
description is the code's own (a route without a declaration fails the document's test).
Who may call a route is declared where it is registered (``web.routing``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

H = TypeVar("H", bound=Callable[..., Any])
API_DOC = "__api_operation__"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


LIMIT = Param("limit", "rows a page holds", {"type": "integer", "minimum": 1})
CURSOR = Param("cursor", 'where the page starts: take it from the Link rel="next" header')


@dataclass(frozen=True, slots=True)
class Operation:
    response: Any = None  # a type msgspec describes (a Struct, list[Struct], dict...)
    request: Any = None
    status: int = 200
    query: tuple[Param, ...] = ()
    paged: bool = False  # answers a Link: rel="next" header
    media_type: str = "application/json"  # of the answer
    errors: tuple[int, ...] = ()  # beyond those every /v1 route may answer


def documented(
    *,
    response: Any = None,
    request: Any = None,
    status: int = 200,
    query: tuple[Param, ...] = (),
    paged: bool = False,
    media_type: str = "application/json",
    errors: tuple[int, ...] = (),
) -> Callable[[H], H]:
    operation = Operation(response, request, status, query, paged, media_type, errors)

    def mark(handler: H) -> H:
        setattr(handler, API_DOC, operation)
        return handler

    return mark


def operation_of(handler: Any) -> Operation | None:
    found: Operation | None = getattr(handler, API_DOC, None)
    return found
