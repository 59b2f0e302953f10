"""The OpenAPI of every service tells the truth about failures and files.

Litestar documents a handler's success response and, for a handler with parameters, a 400
in its own error shape; our answers are RFC 9457 problem details (`shared.http.problem`)
with more statuses than that. `ProblemResponses` is a plugin `create_service_app` installs:
as each route is registered it adds, under `application/problem+json` with the `Problem`
schema, the problem responses that operation can give, read off the handler itself:

* 400 whenever it takes a parameter or a body (malformed JSON, a bad query/path/header);
* 401 and 403 unless it is public (`opt={"exclude_from_auth": True}`);
* 404 when its path names a resource (`{agreement_id}`, `{period}`, ...);
* 409 and 428 when it takes `If-Match` (stale, missing); 409 when it takes `Idempotency-Key`
  (the key reused with another body);
* 413, 415 and 422 when it takes a body (too large, wrong type, invalid data or a rule);
* 429 and 503 on every operation (rate limit, database or read model not ready), both
  with `Retry-After` when the client should come back later.

A public operation also says it needs no token (`security: []`).

A handler adds what it can give beyond these with `responses={409: problem_response(...)}`
(the handler's own entries win), and a handler answering a file in one of several media
types says so with `operation_class=file_operation(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import HeaderParameter
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import HTTPRoute

if TYPE_CHECKING:
    from litestar.routes import BaseRoute

PROBLEM_JSON = "application/problem+json"


class FieldError(msgspec.Struct):
    """One offending field: its path in the body (`parties[0].region`) or the parameter's name."""

    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem details object. `detail` is for a person (Bahasa Indonesia); `code`
    is for a program (a rule such as `framework_not_signed`, `version_conflict`); more members
    may follow (e.g. `current_version` on 409, `projection_lag` on 503)."""

    type: Annotated[str, msgspec.Meta(description="`urn:ksd:problem:<code>`", examples=["urn:ksd:problem:not_found"])]
    title: Annotated[str, msgspec.Meta(description="the kind of problem, for a person")]
    status: Annotated[int, msgspec.Meta(ge=400, le=599, description="the HTTP status")]
    detail: Annotated[str, msgspec.Meta(description="what went wrong and what to do, for a person")]
    code: Annotated[str, msgspec.Meta(description="the rule or reason, for a program")] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    errors: Annotated[list[FieldError], msgspec.Meta(description="each offending field")] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    current_version: Annotated[int, msgspec.Meta(
        description="409, 428: the resource's version now, for the next `If-Match`"
    )] | msgspec.UnsetType = msgspec.UNSET


DESCRIPTIONS = {
    400: "Malformed request: JSON that does not parse, or a query, path or header parameter that is not valid "
    "(`errors` names it).",
    401: "No bearer token, or one that is not valid (expired, forged, another issuer).",
    403: "The token's tenant or roles may not do this (e.g. `forbidden`, `not_a_party`).",
    404: "Nothing the caller may see is at this address.",
    409: "Conflict: the `If-Match` version is stale (`version_conflict`, with `current_version`), or a concurrent "
    "change won.",
    413: "The request body is larger than the limit.",
    415: "The body's media type (or an uploaded file's) is not accepted.",
    422: "The data breaks a field rule (`validation_failed`, `errors` names each field) or a business rule "
    "(`code` names it).",
    428: "The change needs `If-Match` with the version it is based on.",
    429: "Too many requests from this token or address; retry after `Retry-After` seconds.",
    503: "Not now: the database or a read model is not ready; retry after `Retry-After` seconds.",
}

_HEADERS = {
    401: {"WWW-Authenticate": "The scheme to use: `Bearer`."},
    429: {"Retry-After": "Seconds to wait before retrying."},
    503: {"Retry-After": "Seconds to wait before retrying."},
}

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Handler arguments Litestar fills from the connection itself, not from the client's parameters.
_RESERVED_KWARGS = frozenset({"request", "state", "scope", "headers", "cookies", "query", "body", "response"})


def problem_response(status: int, description: str | None = None) -> ResponseSpec:
    """A problem response for a handler's `responses=`, e.g. a 409 on a POST without If-Match."""
    return ResponseSpec(
        data_container=Problem,
        description=description or DESCRIPTIONS.get(status, "A problem."),
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )


def success_response(description: str, data_container: Any = dict[str, Any]) -> ResponseSpec:
    """Another success a handler can answer, for its `responses=` (e.g. 200 beside the 201 of
    a POST that creates, when the same POST corrects)."""
    return ResponseSpec(data_container=data_container, description=description, generate_examples=False)


def _header_names(handler: HTTPRouteHandler) -> set[str]:
    names = set()
    for field in handler.parsed_fn_signature.parameters.values():
        kwarg = field.kwarg_definition
        name = kwarg.name if isinstance(kwarg, HeaderParameter) else getattr(kwarg, "header", None)
        if name:
            names.add(name.lower())
    return names


def problem_statuses(handler: HTTPRouteHandler, method: str, path_parameters: Any) -> list[int]:
    """The problem statuses an operation can answer, from its declaration (see the module doc)."""
    signature = handler.parsed_fn_signature.parameters
    has_body = "data" in signature and method in _BODY_METHODS
    headers = _header_names(handler)
    statuses = {429, 503}
    if not handler.opt.get("exclude_from_auth"):
        statuses |= {401, 403}
    if has_body or path_parameters or any(name not in _RESERVED_KWARGS for name in signature):
        statuses.add(400)
    if path_parameters:
        statuses.add(404)
    if "if-match" in headers:
        statuses |= {409, 428}
    if "idempotency-key" in headers:
        statuses.add(409)  # the key reused with another body
    if has_body:
        statuses |= {413, 415, 422}
    return sorted(statuses)


def _operation_class(base: type[Operation], *, public: bool) -> type[Operation]:
    """`base` (Litestar's `Operation`, or a handler's own `operation_class`), whose problem
    responses also name their headers (`ResponseSpec` has none), listed in status order, and
    which, for a public operation, says so (`security: []`, not the API's bearer default)."""

    @dataclass
    class ProblemOperation(base):  # type: ignore[valid-type,misc]
        if TYPE_CHECKING:  # Operation's fields (`base` is only known at run time)
            security: list[dict[str, list[str]]] | None
            responses: dict[str, Any] | None

        def __post_init__(self) -> None:
            parent = getattr(super(), "__post_init__", None)
            if parent is not None:
                parent()
            if public:
                self.security = []
            if not self.responses:
                return
            self.responses = dict(sorted(self.responses.items()))
            for status, headers in _HEADERS.items():
                response = self.responses.get(str(status))
                if isinstance(response, OpenAPIResponse) and response.content and PROBLEM_JSON in response.content:
                    response.headers = {
                        **(response.headers or {}),
                        **{
                            name: OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description=text)
                            for name, text in headers.items()
                        },
                    }

    ProblemOperation._ksd_base = base
    ProblemOperation.__name__ = ProblemOperation.__qualname__ = f"Problem{base.__name__}"
    return ProblemOperation


def file_operation(*media_types: str, description: str = "The file.") -> type[Operation]:
    """An `operation_class` for a handler answering a file in one of `media_types` (an export
    as XLSX, CSV or PDF; an attachment as PDF or an image), instead of Litestar's one media type."""

    @dataclass
    class FileOperation(Operation):
        def __post_init__(self) -> None:
            for status, response in (self.responses or {}).items():
                if status.startswith("2") and isinstance(response, OpenAPIResponse) and response.content:
                    response.description = description
                    response.content = {
                        media_type: OpenAPIMediaType(
                            schema=Schema(type=OpenAPIType.STRING, content_media_type=media_type)
                        )
                        for media_type in media_types
                    }

    return FileOperation


class ProblemResponses(ReceiveRoutePlugin):
    """Adds the problem responses of every HTTP operation as its route is registered."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for method, (handler, _) in route.route_handler_map.items():
            if method == "OPTIONS" or not handler.resolve_include_in_schema():
                continue
            statuses = problem_statuses(handler, method, route.path_parameters)
            own = dict(handler.responses or {})
            handler.responses = {**{s: problem_response(s) for s in statuses}, **own}
            # The handler's own class, not ours: a handler registered again (another app) is
            # wrapped once.
            base = getattr(handler.operation_class, "_ksd_base", handler.operation_class)
            handler.operation_class = _operation_class(base, public=bool(handler.opt.get("exclude_from_auth")))
