"""The web application's client of the services' public APIs (REST and GraphQL over HTTP),
always with the signed-in user's own bearer token."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

import httpx

SERVICES = ("registry", "monitoring", "reporting")


class ApiError(Exception):
    """A service answered with a problem (RFC 9457) or could not be reached."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(f"{status} {self.code}: {self.detail}")

    @property
    def code(self) -> str:
        return str(self.problem.get("code") or "")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "Terjadi kesalahan.")

    @property
    def field_errors(self) -> dict[str, str]:
        """The fields a 422 names (the services' `errors` member: field -> message)."""
        errors = self.problem.get("errors") or {}
        if isinstance(errors, Mapping) and errors:
            return {str(k): str(v) for k, v in errors.items()}
        out: dict[str, str] = {}
        if self.problem.get("field"):
            out[str(self.problem["field"])] = self.detail
        for item in errors if isinstance(errors, list) else []:
            if isinstance(item, Mapping) and item.get("field"):
                out[str(item["field"])] = str(item.get("message") or item.get("detail") or "")
        return out


class Api:
    """One client per web process; each call carries the caller's token."""

    def __init__(self, bases: Mapping[str, str], *, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 15.0, cache_seconds: float = 60.0) -> None:
        self.bases = dict(bases)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)
        # Answers of the national and provincial analyses (the dashboards' aggregates), kept for
        # a short while per audience: the same tenant and roles get the same answer from the
        # service, so caching by them shows nobody what the service would not.
        self._answers: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.answers_max = 256
        self.cache_seconds = cache_seconds

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, service: str, method: str, path: str, token: str, *,
                      params: Mapping[str, Any] | None = None, json: Any = None,
                      files: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                      raw: bool = False) -> Any:
        all_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "", [])}
        try:
            response = await self._http.request(
                method, f"{self.bases[service]}{path}", params=clean, json=json, files=files, data=data,
                headers=all_headers,
            )
        except httpx.HTTPError:
            raise ApiError(503, {
                "code": "service_unreachable",
                "detail": "Layanan tidak dapat dihubungi saat ini; coba lagi sebentar lagi.",
            }) from None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:500]}
            if not isinstance(problem, Mapping):
                problem = {"detail": str(problem)}
            raise ApiError(response.status_code, problem)
        if raw:
            return response
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get(self, service: str, path: str, token: str, **params: Any) -> Any:
        return await self.request(service, "GET", path, token, params=params)

    async def post(self, service: str, path: str, token: str, body: Any = None, **kwargs: Any) -> Any:
        return await self.request(service, "POST", path, token, json=body, **kwargs)

    async def graphql(self, service: str, token: str, query: str, variables: Mapping[str, Any] | None = None, *,
                      audience: Hashable | None = None) -> Any:
        """`audience` (e.g. the user's tenant and roles): keep the answer `cache_seconds` for
        everyone with the same audience (aggregates only: a dashboard a minute old is fine)."""
        key = None
        ttl = self.cache_seconds
        if audience is not None and ttl > 0:
            key = (service, audience, query, json.dumps(variables or {}, sort_keys=True, default=str))
            hit = self._answers.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        data = await self._graphql(service, token, query, variables)
        if key is not None:
            self._answers[key] = (time.monotonic() + ttl, data)
            self._answers.move_to_end(key)
            while len(self._answers) > self.answers_max:
                self._answers.popitem(last=False)
        return data

    async def _graphql(self, service: str, token: str, query: str, variables: Mapping[str, Any] | None) -> Any:
        body = await self.request(
            service, "POST", "/graphql", token, json={"query": query, "variables": variables or {}}
        )
        if body.get("errors"):
            first = body["errors"][0]
            ext = first.get("extensions") or {}
            raise ApiError(int(ext.get("status") or 400), {
                "code": ext.get("code") or "graphql_error", "detail": first.get("message") or "",
                **({"errors": ext["errors"]} if "errors" in ext else {}),
            })
        return body["data"]
