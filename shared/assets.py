"""Self-hosted GraphiQL and Swagger UI, so the dev/ops UIs work without a CDN.

The JavaScript/CSS are vendored under ``shared/static`` (see the ``NOTICE.md``
files there) and served by each app at ``/static``. Nothing here references an
external URL: the platform must stay usable on air-gapped government networks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Controller, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from strawberry.litestar import make_graphql_controller as _strawberry_controller

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.connection import ASGIConnection
    from strawberry.schema import BaseSchema

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
    swagger = SwaggerRenderPlugin(
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
    <style>
      body { margin: 0; height: 100vh; overflow: hidden; }
      #graphiql { height: 100vh; }
    </style>
  </head>
  <body>
    <div id="graphiql">Loading…</div>
    <script src="__REACT__"></script>
    <script src="__REACT_DOM__"></script>
    <script src="__GRAPHIQL__"></script>
    <script>
      const cfg = __CONFIG__;
      const url = new URL(cfg.graphqlPath, window.location.href);
      const wsUrl = new URL(url);
      wsUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      // "#token=XYZ" prefills the Authorization header. A fragment never
      // reaches the server, so the token does not end up in access logs.
      const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
      const props = {
        fetcher: GraphiQL.createFetcher({ url: url.href, subscriptionUrl: wsUrl.href }),
        defaultQuery: cfg.defaultQuery,
        defaultEditorToolsVisibility: "headers",
        isHeadersEditorEnabled: true,
        // Never store tokens in localStorage.
        shouldPersistHeaders: false,
      };
      if (token) {
        props.headers = JSON.stringify({ Authorization: "Bearer " + token }, null, 2);
      }
      ReactDOM.createRoot(document.getElementById("graphiql"))
        .render(React.createElement(GraphiQL, props));
    </script>
  </body>
</html>
"""


def graphiql_html(graphql_path: str = "/graphql") -> str:
    """The GraphiQL page for ``graphql_path``, using only vendored assets."""
    # Dumped as JSON and with "</" escaped so nothing can close the <script>.
    config = json.dumps({"graphqlPath": graphql_path, "defaultQuery": _DEFAULT_QUERY})
    replacements = {
        "__CSS__": _asset("graphiql/graphiql.min.css", GRAPHIQL_VERSION),
        "__REACT__": _asset("graphiql/react.production.min.js", REACT_VERSION),
        "__REACT_DOM__": _asset("graphiql/react-dom.production.min.js", REACT_VERSION),
        "__GRAPHIQL__": _asset("graphiql/graphiql.min.js", GRAPHIQL_VERSION),
        "__CONFIG__": config.replace("</", "<\\/"),
    }
    html = _GRAPHIQL_TEMPLATE
    for marker, value in replacements.items():
        html = html.replace(marker, value)
    return html


def is_graphiql_request(connection: ASGIConnection, graphql_path: str = "/graphql") -> bool:
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
        @property
        def graphql_ide_html(self) -> str:
            return page

    return GraphQLController
