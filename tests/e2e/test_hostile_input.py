"""Input the database cannot store is refused at the edge, on every write endpoint of every
service: a NUL or another control character in text, half a surrogate pair, a string beyond
its kind's length, a number beyond its column's range. Each answers 4xx problem+json (422
`validation_failed` naming the field, when the body is JSON that could be read), appends no
event, and the workers keep projecting.

The write endpoints are found in each app's OpenAPI (every POST, PUT and PATCH with a JSON
body), so a new endpoint is covered as soon as it exists, and this module fails until it has
a valid sample body below. A sample names every field its schema has, so that each field is
tried.

One platform (its own database, the three apps and their workers' feeds) for the module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from shared.wire import NARRATIVE_MAX
from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

KOTA, KAB, PROVINCE = "32.73", "32.04", "32"
PERIOD = "2026-S1"
PROBLEM_JSON = "application/problem+json"
SIGNATORY = {"party": KOTA, "name": "Wali Kota Bandung", "position": "Wali Kota", "capacity": "pejabat_kuasa",
             "surat_kuasa": "SK/01/2026"}

# One valid body per write endpoint (operationId), with every field its schema has.
SAMPLES: dict[str, dict[str, Any]] = {
    "createAgreement": {
        "form": "KSDD", "category": "sukarela", "title": "Pengelolaan sampah bersama",
        "object": "Pengolahan sampah di TPPAS Legok Nangka", "urusan": ["1.03"],
        "parties": [{"region": KAB}, {"name": "PT Mitra Sampah", "type": "badan_usaha", "country": "Indonesia"}],
        "value_idr": 2_500_000_000, "burdens_community": False, "budgeted_in_apbd": True, "initiator": KOTA,
        "drafted_on": "2026-06-20",
    },
    "submitOffer": {"reference": "005/KS/VII/2026", "sent_on": "2026-07-01", "direction": "sent",
                    "note": "Surat penawaran kerja sama"},
    "recordOfferResponse": {"decision": "accepted", "reference": "415/2026", "responded_on": "2026-07-02",
                            "party": "PT Mitra Sampah", "note": "Diterima"},
    "requestApproval": {"kind": "dprd", "reference": "mohon/DPRD/2026", "requested_on": "2026-07-02",
                        "document": "framework"},
    "recordApproval": {"kind": "dprd", "decision": "approved", "reference": "Kep DPRD 1/2026",
                       "decided_on": "2026-07-03", "document": "framework", "note": "Disetujui"},
    "signFramework": {"number": "KB/01/2026", "signed_on": "2026-07-04", "valid_from": "2026-07-04",
                      "valid_until": "2030-07-03", "signatories": [SIGNATORY],
                      "document_type": "kesepakatan_bersama", "rencana_kerja": ["Rapat koordinasi"]},
    "startWorkPlan": {"started_on": "2026-07-05", "note": "Rencana kerja dimulai"},
    "draftPks": {"title": "PKS angkutan sampah", "object": "Angkutan ke TPPAS", "parties": [KOTA, KAB],
                 "value_idr": 1_000_000_000, "burdens_community": False, "budgeted_in_apbd": True,
                 "drafted_on": "2026-07-05"},
    "signPks": {"pks": "pks-1", "number": "PKS/01/2026", "signed_on": "2026-07-06", "start_on": "2026-07-06",
                "end_on": "2028-07-05", "signatories": [SIGNATORY], "exception_reference": "UU 23/2014 Pasal 363"},
    "amend": {"document": "pks-1", "reference": "ADD/01/2026", "signed_on": "2026-07-07",
              "changes": "Tambahan ritase angkutan", "value_idr": 1_200_000_000},
    "extend": {"document": "pks-1", "reference": "EXT/01/2026", "signed_on": "2026-07-07", "new_end": "2029-07-05",
               "exception_reference": "UU 23/2014 Pasal 363"},
    "terminate": {"document": "pks-1", "ground": "para_pihak_sepakat", "reference": "BA/01/2026",
                  "terminated_on": "2026-07-08", "note": "Para pihak sepakat"},
    "cancel": {"reason": "Tidak jadi dilaksanakan", "document": "pks-1", "reference": "BA/02/2026",
               "cancelled_on": "2026-07-08"},
    "correct": {"version": 5, "reason": "Salah ketik pada pencatatan", "changes": {
        "drafted_on": "2026-06-21", "sent_on": "2026-07-01", "responded_on": "2026-07-02", "requested_on": "2026-07-02",
        "decided_on": "2026-07-03", "signed_on": "2026-07-04", "started_on": "2026-07-05",
        "terminated_on": "2026-07-08",
        "cancelled_on": "2026-07-08", "valid_from": "2026-07-04", "valid_until": "2030-07-03", "start_on": "2026-07-06",
        "end_on": "2028-07-05", "new_end": "2029-07-05", "reference": "005/KS/VII/2026", "number": "KB/01/2026",
        "value_idr": 1_000_000_000, "signatories": [SIGNATORY]}},
    "fileProgressReport": {
        "period": PERIOD, "activities": [{"name": "Rapat koordinasi", "description": "Rapat para pihak"}],
        "indicators": [{"name": "Sampah terangkut", "unit": "ton", "target": 1200, "achieved": 950.5}],
        "budget": {"planned_idr": 1_500_000_000, "realised_idr": 1_100_000_000},
        "beneficiaries": {"count": 12_000, "description": "Warga Bandung Raya"},
        "obstacles": "Armada pengangkut kurang", "follow_up": "Pengadaan armada",
        "attachments": [{"name": "Foto kegiatan", "sha256": "a" * 64, "url": "https://contoh.go.id/foto.jpg"}],
        "correction_reason": "Salah ketik",
    },
    "recordEvaluation": {"period": PERIOD, "findings": "Berjalan baik", "score": 82.5,
                         "recommendation": "dilanjutkan", "evaluated_on": "2026-07-09", "follow_up": "Diperluas",
                         "correction_reason": "Salah ketik"},
    "draftReport": {"period": PERIOD, "narrative": "Uraian pelaksanaan semester I.", "obstacles": "Tidak ada",
                    "follow_up": "Dilanjutkan"},
    "editReport": {"narrative": "Uraian yang diperbaiki.", "obstacles": "Armada kurang", "follow_up": "Pengadaan"},
    "submitReport": {"reason": "Perbaikan angka"},
    "submitConsolidation": {"narrative": "Catatan provinsi untuk kementerian.", "reason": "Perbaikan angka"},
    "putRegionProfile": {
        "government_name": "Pemerintah Kota Bandung", "address_lines": ["Jalan Wastukancana Nomor 2"],
        "phone": "(022) 4232338", "email": "setda@bandung.go.id", "website": "https://www.bandung.go.id",
        "city": "Bandung", "signatory_name": "Ema Sumarna", "signatory_title": "Sekretaris Daerah",
        "signatory_is_civil_servant": True, "nip": "196805121990031004", "rank": "Pembina Utama Madya (IV/d)",
        "letter_number_pattern": "000.5.3/{nomor}/Pem/{tahun}", "addressee": ["Yth. Gubernur Jawa Barat"],
        "version": 0,
    },
}

# Who may call each service's write endpoints (a refused body must not be a 403 first).
CALLERS = {"recordEvaluation": (PROVINCE, "monitor"), "submitConsolidation": (PROVINCE, "consolidator"),
           "putRegionProfile": (KOTA, "admin")}

LONE_SURROGATE = "\ud800"  # sent as the JSON escape `"\ud800"`
FORBIDDEN = [chr(c) for c in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))]
HOSTILE_NUMBERS = ["1e20", "-1", str(2**63), "123456789012345678901234567890.123456789", "1e400"]
BEYOND_BODY_LIMIT = 1_000_001


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    path: str  # with the path parameters filled in
    operation: str

    def __str__(self) -> str:
        return f"{self.operation} ({self.method.upper()} {self.path})"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2026, 7, 10)) as running:
        yield running


@pytest.fixture(scope="module")
def events(p: ReportingPlatform) -> Iterator[Any]:
    """How many events the three services' stores hold, on one connection for the module."""
    with psycopg.connect(p.url, autocommit=True) as conn:
        def count() -> int:
            return conn.execute(
                "SELECT (SELECT count(*) FROM registry.registry_events)"
                " + (SELECT count(*) FROM monitoring.monitoring_events)"
                " + (SELECT count(*) FROM reporting.reporting_events)"
            ).fetchone()[0]

        yield count


@pytest.fixture(scope="module")
def world(p: ReportingPlatform) -> dict[str, str]:
    """Something for every path to point at: a signed agreement of Kota and Kabupaten
    Bandung, Kota Bandung's draft report and Jawa Barat's consolidation."""
    agreement = p.start(KOTA, [KAB], title="Air bersih Bandung Raya")
    p.sign_framework(agreement, signed_on=p.today, valid_until=date(2030, 12, 31))
    report = p.draft(KOTA, PERIOD, narrative="Uraian awal.")
    return {"agreement_id": agreement["id"], "report_id": report["id"], "province": PROVINCE, "period": PERIOD,
            "region": KOTA}


def _clients(p: ReportingPlatform) -> dict[str, TestClient]:
    return {"registry": p.registry, "monitoring": p.monitoring, "reporting": p.reporting}


@pytest.fixture(scope="module")
def endpoints(p: ReportingPlatform, world: dict[str, str]) -> list[Endpoint]:
    """Every operation with a JSON request body, from each app's own OpenAPI."""
    found = []
    for service, client in _clients(p).items():
        document = client.get("/schema/openapi.json").json()
        for template, item in document["paths"].items():
            for method, operation in item.items():
                content = (operation.get("requestBody") or {}).get("content") or {}
                if method in ("post", "put", "patch") and "application/json" in content:
                    unknown = [name for name in re.findall(r"\{(\w+)\}", template) if name not in world]
                    assert not unknown, f"{template}: give the path parameters {unknown} a value in `world`"
                    path = re.sub(r"\{(\w+)\}", lambda m: world[m.group(1)], template)
                    found.append(Endpoint(service, method, path, operation["operationId"]))
    assert len(found) >= 19, found
    return found


def _schemas(p: ReportingPlatform) -> dict[str, dict[str, Any]]:
    return {service: client.get("/schema/openapi.json").json() for service, client in _clients(p).items()}


def _body_schema(document: dict[str, Any], operation: str) -> dict[str, Any]:
    for item in document["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation:
                return op["requestBody"]["content"]["application/json"]["schema"]
    raise KeyError(operation)


def _missing_fields(document: dict[str, Any], schema: dict[str, Any], samples: list[Any], path: str) -> list[str]:
    """The properties of `schema` that none of `samples` (values at `path`) has."""
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    missing: list[str] = []
    for alternative in schema.get("oneOf") or schema.get("anyOf") or ():
        missing += _missing_fields(document, alternative, samples, path)
    if schema.get("type") == "array" and "items" in schema:
        items = [item for sample in samples if isinstance(sample, list) for item in sample]
        missing += _missing_fields(document, schema["items"], items, f"{path}[]")
    for name, sub in (schema.get("properties") or {}).items():
        present = [sample[name] for sample in samples if isinstance(sample, dict) and name in sample]
        if not present:
            missing.append(f"{path}.{name}".lstrip("."))
        else:
            missing += _missing_fields(document, sub, present, f"{path}.{name}")
    return missing


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every string and number in a body, with its path as the problem names it:
    `parties[1].name`, `budget.planned_idr`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield path, value


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def with_value(body: Any, target: str, new: Any, prefix: str = "") -> Any:
    if isinstance(body, dict):
        return {k: new if _join(prefix, k) == target else with_value(v, target, new, _join(prefix, k))
                for k, v in body.items()}
    if isinstance(body, list):
        return [new if f"{prefix}[{i}]" == target else with_value(v, target, new, f"{prefix}[{i}]")
                for i, v in enumerate(body)]
    return body


MARKER = "\u2063hostile\u2063"


def encoded(body: Any, target: str, raw: str) -> bytes:
    """The JSON of `body` with the value at `target` replaced by the raw JSON text `raw`."""
    text = json.dumps(with_value(body, target, MARKER))
    assert text.count(json.dumps(MARKER)) == 1, target
    return text.replace(json.dumps(MARKER), raw).encode()


class Sender:
    def __init__(self, p: ReportingPlatform, world: dict[str, str], events: Any) -> None:
        self.p, self.world, self.events, self.clients = p, world, events, _clients(p)

    def headers(self, endpoint: Endpoint) -> dict[str, str]:
        tenant, role = CALLERS.get(endpoint.operation, (KOTA, "operator"))
        return {**self.p.headers(tenant, role, version=1), "Content-Type": "application/json"}

    def refused(self, endpoint: Endpoint, target: str, raw: str) -> dict[str, Any]:
        """Send the sample with `target` replaced by `raw`: a 4xx problem, no event."""
        before = self.events()
        content = encoded(SAMPLES[endpoint.operation], target, raw)
        response = self.clients[endpoint.service].request(endpoint.method.upper(), endpoint.path, content=content,
                                                          headers=self.headers(endpoint))
        shown = f"{endpoint} {target}={raw[:60]!r}: {response.status_code} {response.text[:300]}"
        assert 400 <= response.status_code < 500, shown
        assert response.headers["content-type"].startswith(PROBLEM_JSON), shown
        problem = response.json()
        if response.status_code == 422:
            assert problem["code"] == "validation_failed", shown
            assert problem["errors"][0]["field"] == target, shown
        assert self.events() == before, shown
        return problem


@pytest.fixture(scope="module")
def sender(p: ReportingPlatform, world: dict[str, str], events: Any) -> Sender:
    return Sender(p, world, events)


# -- coverage of the endpoints ------------------------------------------------------------------


def test_every_write_endpoint_has_a_valid_sample_body_naming_every_field(
    p: ReportingPlatform, endpoints: list[Endpoint]
) -> None:
    documents = _schemas(p)
    unregistered = [str(e) for e in endpoints if e.operation not in SAMPLES]
    assert not unregistered, f"register a valid sample body in SAMPLES for: {unregistered}"
    for endpoint in endpoints:
        schema = _body_schema(documents[endpoint.service], endpoint.operation)
        missing = _missing_fields(documents[endpoint.service], schema, [SAMPLES[endpoint.operation]], "")
        assert not missing, f"{endpoint}: the sample lacks {missing}"
    assert set(SAMPLES) == {e.operation for e in endpoints}, "a sample for an endpoint that no longer exists"


def _body_type(client: TestClient, operation: str) -> Any:
    """The type the endpoint's handler decodes its JSON body as."""
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.operation_id == operation:
                return handler.parsed_fn_signature.parameters["data"].annotation
    raise KeyError(operation)


def test_every_sample_body_is_valid_for_its_endpoint(p: ReportingPlatform, endpoints: list[Endpoint]) -> None:
    """Decoded exactly as the endpoint decodes it: a hostile value is then the only thing wrong
    with the body that carries it."""
    clients = _clients(p)
    for endpoint in endpoints:
        body_type = _body_type(clients[endpoint.service], endpoint.operation)
        msgspec.json.decode(json.dumps(SAMPLES[endpoint.operation]), type=body_type, strict=False)


# -- every field, one hostile value each ----------------------------------------------------------


def test_a_nul_in_any_string_field_of_any_write_endpoint_is_refused_naming_the_field(
    sender: Sender, endpoints: list[Endpoint]
) -> None:
    for endpoint in endpoints:
        for target, value in leaves(SAMPLES[endpoint.operation]):
            if isinstance(value, str):
                problem = sender.refused(endpoint, target, json.dumps(value[:3] + "\x00" + value[3:]))
                assert problem["status"] == 422, (endpoint, target, problem)


def test_a_number_beyond_its_range_in_any_write_endpoint_is_refused_naming_the_field(
    sender: Sender, endpoints: list[Endpoint]
) -> None:
    tried = 0
    for endpoint in endpoints:
        for target, value in leaves(SAMPLES[endpoint.operation]):
            if not isinstance(value, str):
                for raw in HOSTILE_NUMBERS:
                    problem = sender.refused(endpoint, target, raw)
                    # 1e400 is no number a JSON reader keeps: the body itself is refused.
                    expected = (400, "malformed_json") if raw == "1e400" else (422, "validation_failed")
                    assert (problem["status"], problem["code"]) == expected, (endpoint, target, raw, problem)
                    tried += 1
    assert tried >= 8 * len(HOSTILE_NUMBERS)  # value_idr (x3), budget (x2), target, achieved, count, score


# -- the property: any hostile value anywhere -------------------------------------------------------

control_text = st.tuples(st.text(max_size=12), st.sampled_from(FORBIDDEN), st.text(max_size=12)).map("".join)
hostile_strings = st.one_of(
    control_text.map(json.dumps),
    st.just(json.dumps(LONE_SURROGATE)),  # the escape `"\ud800"`: half a surrogate pair
    st.tuples(st.text(max_size=5), st.just(LONE_SURROGATE)).map(lambda t: json.dumps(t[0] + t[1])),
    st.integers(NARRATIVE_MAX + 1, 100_000).map(lambda n: json.dumps("x" * n)),
    st.just(json.dumps("y" * BEYOND_BODY_LIMIT)),
)
hostile_numbers = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS),
    st.integers(min_value=2**53).map(str),
    st.integers(max_value=-1).map(str),
    st.floats(min_value=1e16, allow_infinity=False).map(repr),
    st.decimals(min_value=10**16, allow_nan=False, allow_infinity=False, places=3).map(str),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_hostile_string_or_number_in_any_field_is_refused_and_appends_no_event(
    sender: Sender, endpoints: list[Endpoint], data: st.DataObject
) -> None:
    endpoint = data.draw(st.sampled_from(endpoints), label="endpoint")
    target, value = data.draw(st.sampled_from(list(leaves(SAMPLES[endpoint.operation]))), label="field")
    raw = data.draw(hostile_strings if isinstance(value, str) else hostile_numbers, label="value")
    sender.refused(endpoint, target, raw)


def test_after_hostile_input_the_workers_still_project_every_service(
    p: ReportingPlatform, sender: Sender, endpoints: list[Endpoint], world: dict[str, str]
) -> None:
    for endpoint in endpoints:  # one more barrage, then everything must still flow
        target, value = next(leaves(SAMPLES[endpoint.operation]))
        sender.refused(endpoint, target, json.dumps("\x00") if isinstance(value, str) else "1e400")
    p.sync()
    title = "Kerja sama\tair bersih 💧 Bandung–Cimahi"  # tab, emoji and dashes are text
    agreement = p.start(KOTA, ["32.77"], title=title)
    # Signed within PERIOD: a progress report is for a period the framework was signed by.
    p.sign_framework(agreement, signed_on=date(2026, 6, 1), valid_until=date(2030, 12, 31))
    p.sync()  # the monitoring service knows the agreement from its read model
    filed = p.report(agreement, KOTA, PERIOD, obstacles="Baris satu\nbaris dua\r\n")
    p.sync()
    listed = p.registry.get("/agreements", params={"q": "Cimahi"}, headers=p.headers(KOTA))
    assert [a["title"] for a in listed.json()["items"]] == [title]
    reports = p.monitoring.get(f"/agreements/{agreement['id']}/progress-reports", headers=p.headers(KOTA))
    assert [r["id"] for r in reports.json()["items"]] == [filed.json()["id"]]


# -- the defects of issue 12, one by one ---------------------------------------------------------


def _create(p: ReportingPlatform, **changes: Any) -> Any:
    body = {"form": "KSDD", "category": "sukarela", "title": "Sampah regional", "object": "Pengolahan sampah",
            "urusan": ["1.03"], "parties": [{"region": KAB}], **changes}
    return p.registry.post("/agreements", json=body, headers=p.headers(KOTA))


def _refused_naming(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"][0]["field"] == field
    return problem


def test_a_title_with_a_nul_is_refused_and_nothing_is_recorded(p: ReportingPlatform, events: Any) -> None:
    before = events()
    problem = _refused_naming(_create(p, title="Sampah\u0000regional"), "title")
    assert "karakter kendali" in problem["errors"][0]["message"]  # said so a person understands it
    assert events() == before
    p.sync()


def test_a_value_beyond_the_read_models_numeric_column_is_refused(p: ReportingPlatform, events: Any) -> None:
    before = events()
    problem = _refused_naming(_create(p, value_idr=100_000_000_000_000_000_000), "value_idr")
    assert "9007199254740991" in problem["errors"][0]["message"]
    assert events() == before
    assert _create(p, value_idr=2**53 - 1).status_code == 201  # the largest value is stored and projected
    p.sync()


def test_a_partner_name_with_a_nul_is_refused(p: ReportingPlatform, events: Any) -> None:
    before = events()
    partner = {"name": "PT Mitra\u0000Sampah", "type": "badan_usaha", "country": "Indonesia"}
    _refused_naming(_create(p, parties=[{"region": KAB}, partner]), "parties[1].name")
    assert events() == before
    p.sync()


def test_progress_report_obstacles_with_a_nul_are_refused(
    p: ReportingPlatform, events: Any, world: dict[str, str]
) -> None:
    before = events()
    body = {**SAMPLES["fileProgressReport"], "obstacles": "Lahan\u0000belum bebas"}
    del body["correction_reason"]
    response = p.monitoring.post(f"/agreements/{world['agreement_id']}/progress-reports", json=body,
                                 headers=p.headers(KOTA))
    _refused_naming(response, "obstacles")
    assert events() == before
    p.sync()


def test_a_report_narrative_with_a_nul_is_refused(p: ReportingPlatform, events: Any) -> None:
    before = events()
    response = p.reporting.post("/reports", json={"period": PERIOD, "narrative": "Uraian\u0000"},
                                headers=p.headers(KAB))
    _refused_naming(response, "narrative")
    assert events() == before
    p.sync()


# -- the other edges: query parameters, multipart fields, GraphQL arguments -----------------------


def test_a_search_with_a_nul_is_a_bad_parameter_naming_it(p: ReportingPlatform) -> None:
    response = p.registry.get("/agreements", params={"q": "sampah\u0000"}, headers=p.headers(KOTA))
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "invalid_parameter"
    assert problem["errors"][0]["field"] == "q" and "karakter kendali" in problem["errors"][0]["message"]


def _multipart(fields: dict[str, str], filename: str) -> tuple[bytes, str]:
    """A multipart body written by hand: a client library would escape the file name."""
    boundary = "ksd-boundary-7d1f"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/pdf\r\n\r\n")
    body = "".join(parts).encode() + head.encode() + b"%PDF-1.4\n%%EOF\n" + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("fields", "filename", "field"),
    [
        ({"kind": "lainnya\u0000"}, "surat.pdf", "kind"),
        ({"kind": "lainnya", "name": "Surat\u0001kuasa"}, "surat.pdf", "name"),
        ({"kind": "lainnya", "document": "framework\u0000"}, "surat.pdf", "document"),
        ({"kind": "lainnya"}, "surat\u0001kuasa.pdf", "file"),
        ({"kind": "lainnya"}, "s" * 400 + ".pdf", "file"),
    ],
)
def test_an_attachment_with_control_characters_in_a_form_field_is_refused(
    p: ReportingPlatform, events: Any, world: dict[str, str], fields: dict[str, str], filename: str, field: str
) -> None:
    before = events()
    content, content_type = _multipart(fields, filename)
    agreement = p.registry.get(f"/agreements/{world['agreement_id']}", headers=p.headers(KOTA)).json()
    response = p.registry.post(f"/agreements/{world['agreement_id']}/actions/attach-document", content=content,
                               headers={**p.headers(KOTA, version=agreement["version"]), "Content-Type": content_type})
    _refused_naming(response, field)
    assert events() == before


GRAPHQL = [
    ("registry", "query($f: AgreementFilterInput) { agreements(filter: $f) { edges { cursor } } }",
     {"f": {"category": "wajib\u0000"}}, "f.category"),
    ("registry", "query($f: AgreementFilterInput) { agreements(filter: $f) { edges { cursor } } }",
     {"f": {"q": "air\ud800"}}, "f.q"),
    ("registry", 'query { agreements(filter: {region: "32\\u0000"}) { edges { cursor } } }', {}, "filter.region"),
    ("registry", "query($a: String) { agreements(after: $a) { edges { cursor } } }", {"a": "x" * 5000}, "a"),
    ("monitoring", "query($f: AlertFilterInput) { alerts(filter: $f) { nextCursor } }",
     {"f": {"province": "32\u0000"}}, "f.province"),
    ("reporting", "query($r: String!) { alerts(region: $r) { title } }", {"r": "32.73\u0007"}, "r"),
]


@pytest.mark.parametrize(("service", "query", "variables", "argument"), GRAPHQL)
def test_a_graphql_argument_with_control_characters_is_refused_naming_it(
    p: ReportingPlatform, service: str, query: str, variables: dict[str, Any], argument: str
) -> None:
    # Sent as JSON text: a lone surrogate survives as its escape, as a client would send it.
    content = json.dumps({"query": query, "variables": variables})
    headers = {**p.headers("national", "monitor"), "Content-Type": "application/json"}
    response = _clients(p)[service].post("/graphql", content=content, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None, body
    (error,) = body["errors"]
    assert error["message"].startswith(f"{argument}: "), error
    assert "psycopg" not in error["message"] and "NUL" not in error["message"].split(":")[0]
