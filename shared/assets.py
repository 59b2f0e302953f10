"""Self-hosted GraphiQL and Swagger UI, so the dev/ops UIs work without a CDN.

The JavaScript/CSS are vendored under ``shared/static`` (see the ``NOTICE.md``
files there) and served by each app at ``/static``. Nothing here references an
external URL: the platform must stay usable on air-gapped government networks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cross_web import HTTPException as GraphQLHTTPException
from litestar import Controller, Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from strawberry.litestar import make_graphql_controller as _strawberry_controller

from shared.errors import BadRequest, KsdError, UnsupportedMediaType
from shared.hardening import check_json_depth, database_unavailable
from shared.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.connection import ASGIConnection
    from strawberry.schema import BaseSchema
    from strawberry.types import ExecutionResult

STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/static"

# Versions of the vendored files. They go into the asset URLs as ``?v=``, which
# lets us cache the files "forever" yet have browsers fetch new ones on upgrade.
GRAPHIQL_VERSION = "3.8.3"
REACT_VERSION = "18.2.0"
SWAGGER_UI_VERSION = "5.35.0"

# Marks routes our auth middleware must skip.
PUBLIC_OPT: dict[str, Any] = {"exclude_from_auth": True}

# An empty inline icon: stops Litestar's default favicon (a CDN URL) and the
# browser's /favicon.ico probe.
_NO_FAVICON = "<link rel='icon' href='data:,'>"


def _asset(path: str, version: str) -> str:
    return f"{STATIC_PATH}/{path}?v={version}"


def _own_asset(path: str) -> str:
    """A file of ours under ``shared/static``, versioned by its content."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return _asset(path, digest)


def _json_data_block(element_id: str, data: bytes) -> str:
    """JSON in a ``<script type="application/json">``: data, never executed, so the CSP needs
    no inline script. ``</`` is escaped so nothing in the data can close the element."""
    text = data.decode().replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


class SwaggerPage(SwaggerRenderPlugin):
    """Litestar's Swagger UI page without its inline script: the OpenAPI document travels in a
    JSON data block and ``/static/swagger/ksd-swagger.js`` starts Swagger UI, so the page
    works under a Content-Security-Policy with ``script-src 'self'``."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = openapi_schema["info"]["title"].replace("&", "&amp;").replace("<", "&lt;")
        return f"""<!DOCTYPE html>
<html lang="id">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{title}</title>
    {self.favicon}
    <link rel="stylesheet" href="{self.css_url}">
    <link rel="stylesheet" href="{_own_asset("swagger/ksd-swagger.css")}">
  </head>
  <body>
    <div id="swagger-container"></div>
    {_json_data_block("openapi-spec", self.render_json(request, openapi_schema))}
    <script src="{self.js_url}"></script>
    <script src="{self.standalone_preset_js_url}"></script>
    <script src="{_own_asset("swagger/ksd-swagger.js")}"></script>
  </body>
</html>
""".encode()


def static_files_router() -> Router:
    """Serve ``shared/static`` at ``/static``, public and cached for a year.

    Public because the login-less pages (GraphiQL, Swagger UI) load from here;
    the files are open-source assets, nothing secret. Long ``immutable``
    caching is safe because every URL carries the asset version.
    """
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        name="static",
        cache_control=CacheControlHeader(max_age=365 * 24 * 3600, public=True, immutable=True),
        include_in_schema=False,
        opt=dict(PUBLIC_OPT),
    )


def openapi_config(title: str, version: str, description: str = "") -> OpenAPIConfig:
    """OpenAPI 3.1 at ``/schema/openapi.json``, Swagger UI at ``/schema`` and ``/schema/swagger``.

    Swagger UI loads the vendored files instead of Litestar's CDN defaults. The
    ``BearerToken`` scheme plus a global requirement makes Swagger's
    "Authorize" button send ``Authorization: Bearer <JWT>``. The docs routes
    are public (``exclude_from_auth``): otherwise a browser could never open
    the page to paste a token in the first place.
    """
    swagger = SwaggerPage(
        js_url=_asset("swagger/swagger-ui-bundle.js", SWAGGER_UI_VERSION),
        css_url=_asset("swagger/swagger-ui.css", SWAGGER_UI_VERSION),
        standalone_preset_js_url=_asset("swagger/swagger-ui-standalone-preset.js", SWAGGER_UI_VERSION),
        path="/swagger",
        favicon=_NO_FAVICON,
    )
    return OpenAPIConfig(
        title=title,
        version=version,
        description=description or None,
        # The first render plugin is also served at the root, i.e. /schema.
        # openapi.json is added by Litestar when no plugin claims that path.
        render_plugins=[swagger],
        openapi_router=Router("/schema", route_handlers=[], include_in_schema=False, opt=dict(PUBLIC_OPT)),
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
            }
        ),
        security=[{"BearerToken": []}],
    )


_DEFAULT_QUERY = """\
# Sinergi KSD GraphQL API. Run with Ctrl-Enter; Ctrl-Space autocompletes.
# The token comes from the Headers tab below (open /graphql#token=<JWT>
# to have it filled in for you).
query Agreements {
  agreements(first: 10) {
    edges {
      node {
        id
        title
        stage
      }
    }
  }
}
"""

_GRAPHIQL_TEMPLATE = """\
<!doctype html>
<html lang="id">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Sinergi KSD — GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="__CSS__">
    <link rel="stylesheet" href="__OWN_CSS__">
  </head>
  <body>
    <div id="graphiql">Loading…</div>
    __CONFIG__
    <script src="__REACT__"></script>
    <script src="__REACT_DOM__"></script>
    <script src="__GRAPHIQL__"></script>
    <script src="__START__"></script>
  </body>
</html>
"""


def graphiql_html(graphql_path: str = "/graphql") -> str:
    """The GraphiQL page for ``graphql_path``, using only vendored assets and no inline
    script: ``ksd-graphiql.js`` starts GraphiQL with the settings of a JSON data block."""
    config = json.dumps({"graphqlPath": graphql_path, "defaultQuery": _DEFAULT_QUERY})
    replacements = {
        "__CSS__": _asset("graphiql/graphiql.min.css", GRAPHIQL_VERSION),
        "__OWN_CSS__": _own_asset("graphiql/ksd-graphiql.css"),
        "__REACT__": _asset("graphiql/react.production.min.js", REACT_VERSION),
        "__REACT_DOM__": _asset("graphiql/react-dom.production.min.js", REACT_VERSION),
        "__GRAPHIQL__": _asset("graphiql/graphiql.min.js", GRAPHIQL_VERSION),
        "__START__": _own_asset("graphiql/ksd-graphiql.js"),
        "__CONFIG__": _json_data_block("graphiql-config", config.encode()),
    }
    html = _GRAPHIQL_TEMPLATE
    for marker, value in replacements.items():
        html = html.replace(marker, value)
    return html


def is_graphiql_request(connection: ASGIConnection[Any, Any, Any, Any], graphql_path: str = "/graphql") -> bool:
    """True if strawberry will answer this request with the GraphiQL page.

    Same rule as strawberry's ``should_render_graphql_ide`` (GET, no ``query``
    parameter, Accept containing ``text/html`` or ``*/*``), so the auth
    middleware can let exactly these requests through anonymously: they never
    execute GraphQL, while ``GET /graphql?query=...`` and POST still need a token.
    """
    accept = connection.headers.get("accept", "")
    return (
        connection.scope.get("method") == "GET"
        and connection.scope["path"].rstrip("/") == graphql_path.rstrip("/")
        and connection.query_params.get("query") is None
        and ("text/html" in accept or "*/*" in accept)
    )


def make_graphql_controller(
    schema: BaseSchema,
    *,
    context_getter: Callable[..., Any],
    path: str = "/graphql",
) -> type[Controller]:
    """Strawberry's Litestar controller, with our offline GraphiQL page.

    GET and POST GraphQL requests are handled by strawberry unchanged; only the
    IDE HTML (strawberry's ``graphql_ide_html`` hook, which otherwise loads
    from unpkg) is replaced by :func:`graphiql_html`.

    Auth: strawberry serves the IDE page and ``GET ?query=`` from a single GET
    handler, so ``exclude_from_auth`` cannot be set for the page alone without
    also exposing GET queries. The auth middleware must therefore let
    :func:`is_graphiql_request` requests through itself. Note that strawberry
    resolves ``context_getter`` before deciding to render the page, so the
    getter must cope with an anonymous request.
    """
    base = _strawberry_controller(schema, path=path, context_getter=context_getter)
    page = graphiql_html(path)

    class GraphQLController(base):  # type: ignore[valid-type,misc]
        # GraphQL documents itself (its schema, introspection); the OpenAPI is the REST API's.
        include_in_schema = False

        @property
        def graphql_ide_html(self) -> str:
            return page

        async def execute_request(self, request: Request[Any, Any, Any], context: Any, root_value: Any) -> Any:
            # strawberry's own, minus its plain-text English refusals: ours are problems.
            limit = getattr(request.app.state, "settings", _DEFAULTS).max_json_depth
            if request.method == "POST":
                check_json_depth(await request.body(), limit)
            elif variables := request.query_params.get("variables"):
                check_json_depth(variables, limit)
            try:
                return await self.run(request, context=context, root_value=root_value)
            except GraphQLHTTPException as exc:
                raise _graphql_refusal(exc) from None

        def decode_json(self, data: str | bytes) -> object:
            try:
                value = json.loads(data)
            except ValueError:  # not JSON, or a number beyond Python's digit limit
                raise BadRequest("Isi permintaan bukan JSON yang valid.", code="malformed_json") from None
            if not isinstance(value, dict | list):
                raise BadRequest("Permintaan GraphQL harus berupa objek JSON.", code="malformed_graphql_request")
            return value

        async def process_result(self, request: Request[Any, Any, Any], result: ExecutionResult) -> Any:
            # A database outage anywhere in the answer: 503 with Retry-After, as on REST.
            if any((error.extensions or {}).get("code") == "database_unavailable" for error in result.errors or ()):
                raise database_unavailable()
            return await super().process_result(request, result)

    return GraphQLController


_DEFAULTS = Settings()  # for an app without settings in its state (the unit tests')


# strawberry's refusals of a request it cannot run, as our problems (in Indonesian).
_GRAPHQL_REFUSALS: dict[str, tuple[str, str]] = {
    "Unable to parse request body as JSON": ("malformed_json", "Isi permintaan bukan JSON yang valid."),
    "No GraphQL query found in the request": ("query_missing", "Permintaan GraphQL tidak berisi query."),
    "Batching is not enabled": ("batching_not_supported", "Beberapa operasi dalam satu larik tidak didukung."),
    "Too many operations": ("batching_not_supported", "Beberapa operasi dalam satu larik tidak didukung."),
}


def _graphql_refusal(exc: GraphQLHTTPException) -> KsdError:
    reason = str(exc.reason)
    if reason == "Unsupported content type":
        refusal: KsdError = UnsupportedMediaType(
            "GraphQL menerima POST dengan Content-Type application/json, atau GET dengan parameter query.",
            code="unsupported_content_type",
        )
        refusal.title = "Jenis konten tidak didukung"
        return refusal
    if reason in _GRAPHQL_REFUSALS:
        code, detail = _GRAPHQL_REFUSALS[reason]
    elif reason.startswith("The GraphQL operation's"):
        code, detail = "malformed_graphql_request", "query harus teks; variables dan extensions harus objek JSON."
    elif "operation" in reason.lower() and ("unknown" in reason.lower() or "can't get" in reason.lower()):
        code, detail = "unknown_operation", "operationName tidak menyebut operasi yang ada dalam dokumen."
    elif "GET" in reason:
        code, detail = "operation_not_allowed", "Operasi ini tidak boleh dikirim dengan GET; gunakan POST."
    else:
        code, detail = "bad_graphql_request", "Permintaan GraphQL tidak valid."
    refusal = BadRequest(detail, code=code)
    refusal.status = exc.status_code if 400 <= exc.status_code < 500 else 400
    return refusal
