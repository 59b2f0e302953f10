"""The OpenAPI tells the truth: schemathesis checks what the three services answer against
their own `/schema/openapi.json`, and their GraphQL endpoints for server errors.

One platform for the module, on its own database. First a walk through every REST operation
with requests that succeed (each action of the lifecycle, a progress report and an
evaluation filed then corrected, a region report drafted, edited, submitted and exported, the
province's consolidation sent twice) and the usual refusals on the way (409, 428); every
answer is checked as it arrives. Then, per operation, bounded examples generated from the
OpenAPI (positive and negative data, derandomized so every run and CI send the same ones)
from several callers: an operator of a kab/kota party to the walk's cooperation, one of its
partner and one of another province, the province's consolidator and monitor, the national
monitor and auditor, no token and a forged one; path parameters name the walk's resources
or random ones. Every answer must pass `not_a_server_error`, `status_code_conformance`,
`content_type_conformance`, `response_headers_conformance` and `response_schema_conformance`.

The apps run in-process through schemathesis' ASGI transport (lifespan included). The
documents the examples come from are those of apps built with the same code but never
started, so pytest knows every operation when it collects; a test checks they are what the
running apps serve. `KSD_CONFORMANCE_EXAMPLES` (default 50) sets the examples per operation.
"""

from __future__ import annotations

import collections
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import hypothesis
import msgspec
import pytest
import schemathesis
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.ksd.cli import migrate_all
from services.monitoring.app import create_app as create_monitoring
from services.monitoring.graphql import build_schema as monitoring_graphql
from services.monitoring.worker import make_runners as monitoring_runners
from services.registry.app import create_app as create_registry
from services.registry.graphql.schema import build_schema as registry_graphql
from services.registry.worker import make_runner as registry_runner
from services.reporting.app import create_app as create_reporting
from services.reporting.graphql import build_schema as reporting_graphql
from services.reporting.worker import make_runners as reporting_runners
from shared.auth import TokenService
from shared.clock import ManualClock
from shared.openapi import PROBLEM_JSON
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.e2e.monitoring_platform import kepala
from tests.e2e.reporting_platform import ReportingPlatform

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Bounded and reproducible: the same examples on every run and in CI (no example database;
# no deadline, a shared CI machine is slow at times): under a minute for the module on 2 cores.
EXAMPLES = hypothesis.settings(
    max_examples=int(os.environ.get("KSD_CONFORMANCE_EXAMPLES", "50")),
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=list(hypothesis.HealthCheck),
)

JABAR, KOTA_BANDUNG, KAB_BANDUNG = "32", "32.73", "32.04"

# name -> (tenant, roles); None: no token of ours (the example's own `Authorization`, if any).
# The first is the one Hypothesis draws most often: the caller who may do the most.
CALLERS: dict[str, tuple[str, tuple[str, ...]] | None] = {
    "operator_kota": (KOTA_BANDUNG, ("operator",)),
    "operator_partner": (KAB_BANDUNG, ("operator",)),
    "operator_other_province": ("35.78", ("operator",)),
    "consolidator_province": (JABAR, ("consolidator",)),
    "monitor_province": (JABAR, ("monitor",)),
    "monitor_national": ("national", ("monitor",)),
    "auditor_national": ("national", ("auditor",)),
    "anonymous": None,
    "forged": None,
}

FACTORIES: dict[str, Callable[..., Litestar]] = {
    "registry": create_registry,
    "monitoring": create_monitoring,
    "reporting": create_reporting,
}
GRAPHQL_SCHEMAS: dict[str, Callable[[Settings], Any]] = {
    "registry": registry_graphql,
    "monitoring": monitoring_graphql,
    "reporting": reporting_graphql,
}


def _settings(**overrides: Any) -> Settings:
    # Rate limits off: the examples come faster than any client should, and a 429 would stand
    # in for the answer under test (429 is documented on every operation all the same).
    values = {"jwt_secret": "test-secret-" + "x" * 32, "log_level": "warning", "db_pool_min": 0, "db_pool_max": 1,
              "report_fresh_wait_seconds": 0.2, "rate_limit_per_token": 0, "rate_limit_per_address": 0, **overrides}
    return Settings.from_env({}, **values)


def _document(service: str) -> dict[str, Any]:
    """The service's OpenAPI, from an app built with the test settings but never started."""
    app = FACTORIES[service](_settings(), database_url="postgresql://unused@127.0.0.1/unused")
    return app.openapi_schema.to_schema()


DOCUMENTS = {service: _document(service) for service in FACTORIES}
SCHEMAS = {
    service: schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_dict({}))
    for service, document in DOCUMENTS.items()
}
OPERATIONS = {
    f"{service} {operation.label}": (service, operation)
    for service, schema in SCHEMAS.items()
    for operation in (result.ok() for result in schema.get_all_operations())
}
GRAPHQL = {
    service: schemathesis.graphql.from_dict(
        build(_settings()).introspect(), config=SchemathesisConfig.from_dict({"base-url": "http://testserver/graphql"})
    )
    for service, build in GRAPHQL_SCHEMAS.items()
}
GRAPHQL_OPERATIONS = {
    f"{service} {operation.label}": (service, operation)
    for service, schema in GRAPHQL.items()
    for operation in (result.ok() for result in schema.get_all_operations())
}


def graphql_not_a_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """`not_a_server_error`, told which GraphQL errors are refusals: ours carry the status a
    REST call would answer (`extensions.status`, e.g. 400 for `first: 0`), and one below 500
    is the client's mistake. schemathesis alone counts any error raised in a resolver (one
    with a `path`) as the server's."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    if response.status_code < 500 and errors and all(
        isinstance(e, dict) and isinstance(e.get("extensions"), dict)
        and isinstance(e["extensions"].get("status"), int) and e["extensions"]["status"] < 500
        for e in errors
    ):
        return None
    return not_a_server_error(ctx, response, case)


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class Walk:
    """Every answer the walk gets, checked against its service's OpenAPI as it arrives."""

    seen: dict[str, set[int]] = field(default_factory=lambda: collections.defaultdict(set))
    failures: list[str] = field(default_factory=list)

    def checker(self, service: str) -> Callable[[httpx.Response], None]:
        schema = SCHEMAS[service]

        def check(response: httpx.Response) -> None:
            request = response.request
            operation = schema.find_operation_by_path(request.method, request.url.path)
            if operation is None:  # /health, /ready, /graphql: not in the REST API's OpenAPI
                return
            response.read()
            label = f"{service} {operation.label}"
            self.seen[label].add(response.status_code)
            template = operation.path.strip("/").split("/")
            values = request.url.path.strip("/").split("/")
            path = {t[1:-1]: v for t, v in zip(template, values, strict=True) if t.startswith("{")}
            case = operation.Case(path_parameters=path, headers=dict(request.headers))
            try:
                case.validate_response(response, checks=CHECKS)
            except (FailureGroup, Exception) as exc:  # noqa: BLE001 - a check failed, or could not run: both are findings
                self.failures.append(f"{label} -> {response.status_code}: {exc}")

        return check


@dataclass
class Fuzz:
    apps: dict[str, Litestar]
    tokens: TokenService
    forged: str
    known: dict[str, dict[str, list[str]]]  # service -> path parameter -> values naming the walk's resources
    walk: Walk
    sync: Callable[[], None]  # every read model has every event recorded so far

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "forged":
            return {"Authorization": f"Bearer {self.forged}"}
        who = CALLERS[caller]
        if who is None:
            return {}
        tenant, roles = who
        return {"Authorization": f"Bearer {self.tokens.issue(tenant=tenant, roles=roles)}"}


def _walk(p: ReportingPlatform, walk: Walk) -> dict[str, dict[str, list[str]]]:
    """Every operation of the three services once with a request that succeeds (and the
    usual refusals on the way), as officers of Jawa Barat would; returns the path values
    that name what it made, for the examples to point at."""
    reg, mon, rep = p.registry, p.monitoring, p.reporting

    def _step(client: TestClient, method: str, url: str, caller: tuple[str, ...], expect: int, *,
              version: int | None = None, headers: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
        sent = {**p.headers(*caller, version=version), **(headers or {})}
        response = client.request(method, url, headers=sent, **kwargs)
        assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.text[:500]}"
        return response.json() if "json" in response.headers.get("content-type", "") else {}

    kota, kab = (KOTA_BANDUNG,), (KAB_BANDUNG,)
    national_monitor, auditor = ("national", "monitor"), ("national", "auditor")
    day = p.today.isoformat()

    # -- registry: a KSDD through every step it can take, a SINERGI, a cancelled one ------------
    body = {"form": "KSDD", "category": "sukarela", "title": "Pengelolaan sampah Bandung Raya",
            "object": "Angkutan sampah ke TPPAS", "urusan": ["2.11"], "parties": [{"region": KAB_BANDUNG}],
            "budgeted_in_apbd": True, "value_idr": 900_000_000}
    a = _step(reg, "POST", "/agreements", kota, 201, json=body, headers={"Idempotency-Key": "walk-1"})
    again = _step(reg, "POST", "/agreements", kota, 201, json=body, headers={"Idempotency-Key": "walk-1"})
    assert again["id"] == a["id"]
    _step(reg, "POST", "/agreements", kota, 409, json={**body, "title": "Lain"}, headers={"Idempotency-Key": "walk-1"})
    url = f"/agreements/{a['id']}"
    # Each problem the services give, met once (but 503: a database outage is another module's).
    assert reg.get("/agreements").status_code == 401
    _step(reg, "POST", "/agreements", auditor, 403, json=body)
    _step(reg, "POST", "/agreements", kota, 400, content=b'{"title": ', headers={"Content-Type": "application/json"})
    _step(reg, "POST", "/agreements", kota, 413, content=b'{"title": "' + b"x" * 1_100_000 + b'"}',
          headers={"Content-Type": "application/json"})
    _step(reg, "POST", "/agreements", kota, 422, json={**body, "form": "KSDX"})
    _step(reg, "GET", f"/agreements/{uuid.uuid4()}", kota, 404)
    _step(reg, "POST", f"{url}/actions/submit-offer", kota, 428, json={"reference": "005/KS", "sent_on": day})
    _step(reg, "POST", f"{url}/actions/submit-offer", kota, 409, version=a["version"] + 5,
          json={"reference": "005/KS", "sent_on": day})
    _step(reg, "POST", f"{url}/actions/attach-document", kota, 415, version=a["version"],
          files={"file": ("catatan.txt", b"bukan PDF", "text/plain")}, data={"kind": "lainnya"})
    limited = msgspec.structs.replace(p.settings, rate_limit_per_token=1)
    with TestClient(create_monitoring(limited, database_url=p.url, clock=p.clock)) as strict:
        strict.event_hooks = {"request": [], "response": [walk.checker("monitoring")]}
        _step(strict, "GET", "/alert-kinds", kota, 200)
        _step(strict, "GET", "/alert-kinds", kota, 429)
    p.sign_framework(a, signed_on=p.today, valid_until=date(2030, 12, 31))
    p.sign_pks(a, signed_on=p.today, start_on=p.today, end_on=date(2027, 12, 31))
    a = _step(reg, "POST", f"{url}/actions/amend", kota, 200, version=a["version"],
              json={"document": "pks-1", "reference": "ADD/01", "signed_on": day, "changes": "Tambahan ritase"})
    a = _step(reg, "POST", f"{url}/actions/extend", kota, 200, version=a["version"],
              json={"document": "pks-1", "reference": "EXT/01", "signed_on": day, "new_end": "2028-06-30"})
    a = _step(reg, "POST", f"{url}/actions/correct", kota, 200, version=a["version"],
              json={"version": a["version"], "changes": {"reference": "EXT/01/REV"}, "reason": "Nomor keliru"})
    a = _step(reg, "POST", f"{url}/actions/draft-pks", kota, 200, version=a["version"],
              json={"title": "PKS pemilahan", "object": "Bank sampah", "value_idr": 50_000_000,
                    "budgeted_in_apbd": False})
    a = _step(reg, "POST", f"{url}/actions/request-approval", kota, 200, version=a["version"],
              json={"kind": "dprd", "document": "pks-2", "reference": "mohon/1", "requested_on": day})
    a = _step(reg, "POST", f"{url}/actions/record-approval", kota, 200, version=a["version"],
              json={"kind": "dprd", "document": "pks-2", "decision": "approved", "reference": "Kep/1",
                    "decided_on": day})
    a = _step(reg, "POST", f"{url}/actions/cancel", kota, 200, version=a["version"],
              json={"reason": "Digabung ke PKS 1", "document": "pks-2"})
    a = _step(reg, "POST", f"{url}/actions/attach-document", kota, 200, version=a["version"],
              files={"file": ("pks-1.pdf", PDF, "application/pdf")},
              data={"kind": "perjanjian_kerja_sama", "document": "pks-1"})
    sha = hashlib.sha256(PDF).hexdigest()
    _step(reg, "GET", f"{url}/documents/{sha}", (JABAR, "monitor"), 200)
    _step(reg, "GET", url, kota, 200)
    _step(reg, "GET", url, kota, 200, params={"version": 1})
    _step(reg, "GET", "/agreements", kota, 200, params={"stage": "pelaksanaan"})
    _step(reg, "GET", f"{url}/history", kota, 200)
    _step(reg, "GET", f"{url}/verify", kota, 200)
    _step(reg, "GET", f"{url}/actions", kota, 200)
    _step(reg, "GET", f"{url}/export", auditor, 200)
    _step(reg, "GET", "/audit/digests", kota, 200)
    # The transparency log (the export above signed a head over the walk's events).
    head = _step(reg, "GET", "/audit/heads", kota, 200)["items"][0]
    _step(reg, "GET", f"/audit/heads/{head['size']}", kota, 200)
    _step(reg, "GET", "/audit/proofs/inclusion", kota, 200, params={"seq": 0, "size": head["size"]})
    _step(reg, "GET", "/audit/proofs/consistency", kota, 200, params={"from": 1, "to": head["size"]})
    _step(reg, "GET", "/audit/leaves", kota, 200, params={"from": 0, "to": head["size"]})
    # Legacy import: the template, imported empty (a dry run), and a file that is not the template.
    template = reg.get("/imports/template.xlsx", headers=p.headers(*kota))
    assert template.status_code == 200
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    _step(reg, "POST", "/imports", kota, 200, files={"file": ("templat.xlsx", template.content, xlsx)},
          data={"dry_run": "true"})
    _step(reg, "POST", "/imports", kota, 422, files={"file": ("catatan.csv", b"a;b\n1;2\n", "text/csv")})

    plan = p.start(KOTA_BANDUNG, [], form="SINERGI", parties=[{"name": "Kementerian PUPR", "type": "kementerian"}],
                   title="Sinergi jalan akses")
    plan_url = f"/agreements/{plan['id']}"
    plan = _step(reg, "POST", f"{plan_url}/actions/submit-offer", kota, 200, version=plan["version"],
                 json={"reference": "005/SN", "sent_on": day})
    plan = _step(reg, "POST", f"{plan_url}/actions/record-offer-response", kota, 200, version=plan["version"],
                 json={"decision": "accepted", "reference": "jawab/SN", "responded_on": day,
                       "party": "Kementerian PUPR"})
    signatories = [kepala(KOTA_BANDUNG), {"party": "Kementerian PUPR", "name": "Dirjen",
                                          "position": "Direktur Jenderal", "capacity": "perwakilan_mitra"}]
    plan = _step(reg, "POST", f"{plan_url}/actions/sign-framework", kota, 200, version=plan["version"],
                 json={"number": "NK/01", "signed_on": day, "valid_from": day, "valid_until": "2029-12-31",
                       "rencana_kerja": ["Penyusunan DED"], "signatories": signatories})
    plan = _step(reg, "POST", f"{plan_url}/actions/start-work-plan", kota, 200, version=plan["version"],
                 json={"started_on": day})
    _step(reg, "POST", f"{plan_url}/actions/terminate", kota, 200, version=plan["version"],
          json={"document": "framework", "ground": "para_pihak_sepakat", "reference": "BA/NK",
                "terminated_on": day})
    dropped = p.start(KOTA_BANDUNG, [KAB_BANDUNG], title="Kerja sama yang batal")
    _step(reg, "POST", f"/agreements/{dropped['id']}/actions/cancel", kota, 200, version=dropped["version"],
          json={"reason": "Anggaran dialihkan"})

    # -- monitoring: a progress report and an evaluation, each filed then corrected ------------
    p.advance_to(date(2026, 7, 3))
    progress = p.report(a, KOTA_BANDUNG, "2026-S1").json()
    progress_url = f"{url}/progress-reports"
    _step(mon, "POST", progress_url, kota, 200, version=progress["version"],
          json={"period": "2026-S1", "activities": [{"name": "Rapat koordinasi"}], "indicators": [],
                "budget": {"planned_idr": 1_000_000_000, "realised_idr": 800_000_000},
                "correction_reason": "Realisasi diperbarui"})
    _step(mon, "GET", progress_url, kota, 200)
    _step(mon, "GET", f"{progress_url}/{progress['id']}", kota, 200)
    _step(mon, "GET", f"{progress_url}/{progress['id']}", kota, 200, params={"version": 1})
    evaluation = {"period": "2026-S1", "findings": "Berjalan", "score": 80, "recommendation": "dilanjutkan",
                  "evaluated_on": p.today.isoformat()}
    evaluated = _step(mon, "POST", f"{url}/evaluations", (JABAR, "monitor"), 201, json=evaluation)
    _step(mon, "POST", f"{url}/evaluations", (JABAR, "monitor"), 200, version=evaluated["version"],
          json={**evaluation, "score": 85, "correction_reason": "Nilai dikoreksi"})
    _step(mon, "GET", f"{url}/evaluations", kota, 200)
    _step(mon, "GET", f"{url}/evaluations/{evaluated['id']}", kota, 200)
    _step(mon, "GET", f"{url}/status", kota, 200)
    _step(mon, "GET", "/alerts", national_monitor, 200, params={"state": "all"})
    _step(mon, "GET", "/alert-kinds", kota, 200)
    _step(mon, "GET", "/notifications", kota, 200)

    # -- reporting: a region report drafted, edited, submitted; the province's consolidation ----
    p.advance_to(date(2026, 7, 10))
    draft = {"period": "2026-S1", "narrative": "Uraian pelaksanaan semester I 2026."}
    report = _step(rep, "POST", "/reports", kota, 201, json=draft)
    _step(rep, "POST", "/reports", kota, 200, json=draft)
    _step(rep, "POST", "/reports", kota, 409, json={**draft, "narrative": "Uraian lain."})
    report_url = f"/reports/{report['id']}"
    report = _step(rep, "PATCH", report_url, kota, 200, version=report["version"],
                   json={"obstacles": "Armada kurang"})
    p.sync()
    report = _step(rep, "POST", f"{report_url}/submit", kota, 200, version=report["version"])
    _step(rep, "GET", report_url, kota, 200)
    _step(rep, "GET", "/reports", kota, 200)
    for fmt in ("xlsx", "csv", "pdf"):
        _step(rep, "GET", f"{report_url}/export", kota, 200, params={"format": fmt})
    other = _step(rep, "POST", "/reports", kab, 201, json={**draft, "narrative": "Draf Kabupaten Bandung."})
    consolidation_url = f"/consolidations/{JABAR}/2026-S1"
    consolidator = (JABAR, "consolidator")
    _step(rep, "GET", consolidation_url, consolidator, 200)
    p.sync()
    sent = _step(rep, "POST", f"{consolidation_url}/submit", consolidator, 201, json={"narrative": "Catatan provinsi."})
    p.sync()
    _step(rep, "POST", f"{consolidation_url}/submit", consolidator, 200, version=sent["version"],
          json={"narrative": "Catatan provinsi.", "reason": "Kabupaten Bandung menyusul"})
    _step(rep, "GET", f"{consolidation_url}/export", consolidator, 200, params={"format": "csv"})
    _step(rep, "GET", "/national/2026-S1", national_monitor, 200)
    _step(rep, "GET", "/national/2026-S1/export", national_monitor, 200, params={"format": "pdf"})
    profile_url, admin = f"/profiles/{KOTA_BANDUNG}", (KOTA_BANDUNG, "admin")
    _step(rep, "GET", profile_url, kota, 200)
    profile = {"government_name": "Pemerintah Kota Bandung", "signatory_title": "Wali Kota Bandung", "city": "Bandung"}
    saved = _step(rep, "PUT", profile_url, admin, 200, json=profile)
    _step(rep, "PUT", profile_url, admin, 200, json={**profile, "version": saved["version"]})
    p.sync()
    agreement_ids = [a["id"], plan["id"], dropped["id"]]
    return {
        "registry": {"agreement_id": agreement_ids, "sha256": [sha]},
        "monitoring": {"agreement_id": agreement_ids, "report_id": [progress["id"]],
                       "evaluation_id": [evaluated["id"]]},
        "reporting": {"report_id": [report["id"], other["id"]], "province": [JABAR, "33"],
                      "period": ["2026-S1", "2026", "2026-S2"], "region": [KOTA_BANDUNG, JABAR, "national"]},
    }


@pytest.fixture(scope="module")
def fuzz(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    with fresh_database(pg_server_url, prefix="ksd_conformance") as url, ExitStack() as workers:
        migrate_all(url)
        config = _settings(data_dir=str(tmp_path_factory.mktemp("conformance")))
        clock = ManualClock(datetime(2026, 1, 5, 1, 0, tzinfo=UTC))  # 08:00 WIB
        walk = Walk()
        # The projection runners stay for the examples (`sync` before each reporting one, as a
        # live worker would have it); the walk's own apps are closed before the examples.
        runners = workers.enter_context(monitoring_runners(url, config, clock))
        registry = workers.enter_context(registry_runner(url))
        reporting = workers.enter_context(reporting_runners(url))
        with ExitStack() as stack:
            clients = {
                name: stack.enter_context(TestClient(factory(config, database_url=url, clock=clock),
                                                     raise_server_exceptions=False))
                for name, factory in FACTORIES.items()
            }
            for name, client in clients.items():
                client.event_hooks = {"request": [], "response": [walk.checker(name)]}
            p = ReportingPlatform(url, config, clock, clients["registry"], clients["monitoring"], runners, registry)
            p.reporting, p.reporting_runners = clients["reporting"], reporting
            known = _walk(p, walk)
        apps = {name: factory(config, database_url=url, clock=clock) for name, factory in FACTORIES.items()}
        forged = TokenService(_settings(jwt_secret="another-secret-" + "y" * 32)).issue(
            tenant=KOTA_BANDUNG, roles=("operator",))
        try:
            yield Fuzz(apps=apps, tokens=TokenService(config), forged=forged, known=known, walk=walk, sync=p.sync)
        finally:
            asgi.shutdown_lifespans()


@pytest.mark.parametrize("service", list(FACTORIES))
def test_the_examples_come_from_the_openapi_each_service_serves(fuzz: Fuzz, service: str) -> None:
    served = schemathesis.openapi.from_asgi("/schema/openapi.json", fuzz.apps[service])
    assert served.raw_schema == DOCUMENTS[service]


@pytest.mark.parametrize("service", list(FACTORIES))
def test_every_operation_documents_the_problems_it_can_answer(service: str) -> None:
    """RFC 9457 problem details under application/problem+json, per operation: 401/403 unless
    public, 429/503 everywhere, 404 with a path parameter, 409/428 with If-Match, 413/415/422
    with a body; never Litestar's own error shape."""
    document = DOCUMENTS[service]
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"code", "errors", "current_version"} <= set(problem["properties"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses, where = operation["responses"], f"{method.upper()} {path}"
            parameters = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
            expected = {"429", "503"}
            if operation.get("security") != []:
                expected |= {"401", "403"}
            if any(kind == "path" for kind, _ in parameters):
                expected |= {"400", "404"}
            if ("header", "If-Match") in parameters:
                expected |= {"409", "428"}
            if "requestBody" in operation:
                expected |= {"400", "413", "415", "422"}
            assert expected <= set(responses), f"{where} documents {sorted(responses)}"
            for status, response in responses.items():
                if int(status) >= 400:
                    assert list(response["content"]) == [PROBLEM_JSON], f"{where} {status}"
                    assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
            for status in {"429", "503"}:
                assert "Retry-After" in responses[status]["headers"], f"{where} {status}"


def test_the_national_digests_are_public_and_say_so() -> None:
    digests = DOCUMENTS["registry"]["paths"]["/audit/digests"]["get"]
    assert digests["security"] == [] and "401" not in digests["responses"]
    for path in ("/audit/heads", "/audit/heads/{size}", "/audit/proofs/inclusion", "/audit/proofs/consistency",
                 "/audit/leaves"):  # the transparency log: hashes only, public
        operation = DOCUMENTS["registry"]["paths"][path]["get"]
        assert operation["security"] == [] and "401" not in operation["responses"], path


def test_every_operation_succeeds_once_with_an_answer_the_openapi_documents(fuzz: Fuzz) -> None:
    """The success answers (201 or 200, JSON or a file in the format asked for), and every
    problem status but 503 at least once."""
    assert not fuzz.walk.failures, "\n\n".join(fuzz.walk.failures)
    never = [label for label in OPERATIONS if not any(200 <= s < 300 for s in fuzz.walk.seen.get(label, ()))]
    assert not never, f"operations the walk never saw succeed: {never}"
    problems = {status for statuses in fuzz.walk.seen.values() for status in statuses if status >= 400}
    assert problems >= {400, 401, 403, 404, 409, 413, 415, 422, 428, 429}


def test_a_digest_page_before_a_sequence_beyond_bigint_is_refused_as_documented(fuzz: Fuzz) -> None:
    # Found by the examples: `before` past PostgreSQL's bigint reached the query (500).
    _, operation = OPERATIONS["registry GET /audit/digests"]
    case = operation.Case(query={"before": 2**70})
    response = case.call(app=fuzz.apps["registry"])
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "before"


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_answer_is_one_the_openapi_documents(fuzz: Fuzz, label: str) -> None:
    service, operation = OPERATIONS[label]
    known = fuzz.known[service]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @EXAMPLES
    @hypothesis.given(case=cases, caller=st.sampled_from(list(CALLERS)), data=st.data())
    def answers_as_documented(case: Any, caller: str, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            if name in known and data.draw(st.booleans(), label=f"known {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(known[name]), label=name)
        if service == "reporting":
            fuzz.sync()  # a submission waits for the read model; the platform's workers keep it current
        headers = fuzz.headers(caller)
        response = case.call(app=fuzz.apps[service], headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    answers_as_documented()


@pytest.mark.parametrize("label", GRAPHQL_OPERATIONS)
def test_no_graphql_query_is_a_server_error(fuzz: Fuzz, label: str) -> None:
    service, operation = GRAPHQL_OPERATIONS[label]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @EXAMPLES
    @hypothesis.given(case=cases, caller=st.sampled_from(list(CALLERS)))
    def answers_without_a_server_error(case: Any, caller: str) -> None:
        headers = fuzz.headers(caller)
        response = case.call(app=fuzz.apps[service], headers=headers)
        case.validate_response(response, checks=[graphql_not_a_server_error], headers=headers)

    answers_without_a_server_error()
