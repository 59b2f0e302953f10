"""The GraphiQL and Swagger UI pages must work offline: only self-served assets."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator

import pytest
import strawberry
from litestar import Litestar
from litestar.testing import TestClient
from strawberry.litestar import BaseContext

from shared.assets import (
    STATIC_DIR,
    graphiql_html,
    is_graphiql_request,
    make_graphql_controller,
    openapi_config,
    static_files_router,
)

_ATTR_URL = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_CONTENT_TYPES = {".js": "javascript", ".css": "text/css"}


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "halo"


class Context(BaseContext, kw_only=True):
    tenant: str = "test"


async def get_context() -> Context:
    return Context()


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Litestar]]:
    controller = make_graphql_controller(strawberry.Schema(query=Query), context_getter=get_context)
    app = Litestar(
        route_handlers=[controller, static_files_router()],
        openapi_config=openapi_config("Test API", "0.0.1", "test"),
    )
    with TestClient(app) as test_client:
        yield test_client


def _assert_local_assets(client: TestClient[Litestar], html: str) -> list[str]:
    """Every src/href is local (or an inline data: URL) and answers 200 with the right type."""
    urls = _ATTR_URL.findall(html)
    assert urls
    static = []
    for url in urls:
        assert not url.lower().startswith(("http://", "https://", "//")), url
        if url.startswith("data:"):
            continue
        assert url.startswith("/static/"), url
        static.append(url)
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url.split("?")[0].rsplit(".", 1)[-1]
        assert _CONTENT_TYPES["." + suffix] in response.headers["content-type"], url
        assert "max-age=31536000" in response.headers["cache-control"]
    return static


def test_graphiql_page_is_served_with_local_assets(client: TestClient[Litestar]) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert html == graphiql_html("/graphql")
    assert '<html lang="id">' in html
    assert "<title>Sinergi KSD — GraphiQL</title>" in html
    assert "agreements(first: 10)" in html
    assert "unpkg" not in html
    static = _assert_local_assets(client, html)
    assert {u.split("?")[0] for u in static} == {
        "/static/graphiql/graphiql.min.css",
        "/static/graphiql/graphiql.min.js",
        "/static/graphiql/react.production.min.js",
        "/static/graphiql/react-dom.production.min.js",
        "/static/graphiql/ksd-graphiql.css",
        "/static/graphiql/ksd-graphiql.js",
    }


def _inline_scripts(html: str) -> list[tuple[str, str]]:
    return [(a, c) for a, c in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S) if "src=" not in a]


def test_graphiql_html_prefills_token_from_fragment() -> None:
    html = graphiql_html("/api/graphql")
    # The settings travel in a JSON data block; the code that reads them is a static file.
    (attributes, config), = _inline_scripts(html)
    assert 'type="application/json"' in attributes and 'id="graphiql-config"' in attributes
    assert json.loads(config)["graphqlPath"] == "/api/graphql"
    start = (STATIC_DIR / "graphiql" / "ksd-graphiql.js").read_text()
    assert "graphiql-config" in start
    assert "window.location.hash" in start and '"Bearer " + token' in start
    assert "isHeadersEditorEnabled: true" in start and "shouldPersistHeaders: false" in start
    # The path is embedded in a <script>: "</script>" in it must not end the script.
    hostile = graphiql_html("/x</script><script>")
    assert "</script><script>" not in hostile
    assert json.loads(_inline_scripts(hostile)[0][1].replace("<\\/", "</"))["graphqlPath"] == "/x</script><script>"


def test_own_assets_are_versioned_by_their_content() -> None:
    html = graphiql_html()
    digest = hashlib.sha256((STATIC_DIR / "graphiql" / "ksd-graphiql.js").read_bytes()).hexdigest()[:12]
    assert f"/static/graphiql/ksd-graphiql.js?v={digest}" in html


def test_post_query(client: TestClient[Litestar]) -> None:
    response = client.post("/graphql", json={"query": "{ hello }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "halo"}}


def test_get_query_still_executes(client: TestClient[Litestar]) -> None:
    response = client.get("/graphql", params={"query": "{ hello }"}, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "halo"}}


def test_openapi_json(client: TestClient[Litestar]) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "json" in response.headers["content-type"]
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    assert schema["info"]["title"] == "Test API"
    assert schema["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert schema["security"] == [{"BearerToken": []}]
    # Neither the static files nor the GraphQL controller's internals leak into it.
    assert not any(path.startswith("/static") for path in schema.get("paths", {}))


@pytest.mark.parametrize("path", ["/schema/swagger", "/schema"])
def test_swagger_ui_uses_local_assets(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "cdn.jsdelivr" not in response.text
    static = _assert_local_assets(client, response.text)
    assert {u.split("?")[0] for u in static} == {
        "/static/swagger/swagger-ui.css",
        "/static/swagger/swagger-ui-bundle.js",
        "/static/swagger/swagger-ui-standalone-preset.js",
        "/static/swagger/ksd-swagger.css",
        "/static/swagger/ksd-swagger.js",
    }
    # No inline code: the OpenAPI document is a JSON data block that ksd-swagger.js reads.
    (attributes, spec), = _inline_scripts(response.text)
    assert 'type="application/json"' in attributes and 'id="openapi-spec"' in attributes
    assert json.loads(spec.replace("<\\/", "</"))["info"]["title"] == "Test API"
    start = (STATIC_DIR / "swagger" / "ksd-swagger.js").read_text()
    assert "SwaggerUIBundle(" in start and "openapi-spec" in start and "validatorUrl: null" in start


def _opts(client: TestClient[Litestar], path: str, method: str) -> dict:
    route = next(r for r in client.app.routes if r.path == path and hasattr(r, "route_handler_map"))
    return route.route_handler_map[method][0].opt


def test_public_routes_are_marked_for_auth_middleware(client: TestClient[Litestar]) -> None:
    for path in ("/static/{file_path:path}", "/schema", "/schema/swagger", "/schema/openapi.json"):
        assert _opts(client, path, "GET").get("exclude_from_auth") is True, path
    # GraphQL itself stays protected: the middleware special-cases the IDE page.
    for method in ("GET", "POST"):
        assert not _opts(client, "/graphql", method).get("exclude_from_auth")


def test_is_graphiql_request_matches_strawberry_rule() -> None:
    from litestar.connection import Request

    def request(method: str, query: str = "", accept: str = "text/html", path: str = "/graphql") -> Request:
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query.encode(),
            "headers": [(b"accept", accept.encode())],
        }
        return Request(scope)  # type: ignore[arg-type]

    assert is_graphiql_request(request("GET"))
    assert is_graphiql_request(request("GET", accept="*/*"))
    assert not is_graphiql_request(request("POST"))
    assert not is_graphiql_request(request("GET", query="query=%7B+hello+%7D"))
    assert not is_graphiql_request(request("GET", query="query="))
    assert not is_graphiql_request(request("GET", accept="application/json"))
    assert not is_graphiql_request(request("GET", path="/other"))


def test_vendored_files_have_licences() -> None:
    for folder in ("graphiql", "swagger"):
        names = {p.name for p in (STATIC_DIR / folder).iterdir()}
        assert "NOTICE.md" in names
        assert any(n.startswith("LICENSE") for n in names)
        assert not any(n.endswith(".map") for n in names)
