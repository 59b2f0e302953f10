"""What the reporting service answers beside its bodies: a CSV export's Content-Type names its
charset once, and a change sent without `If-Match` gets a 428 naming the report's current
version (as the registry's and monitoring's do)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

YOGYA, SLEMAN, DIY = "34.71", "34.04", "34"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2026, 7, 10)) as running:
        yield running


@pytest.fixture(scope="module")
def report(p: ReportingPlatform) -> dict:
    draft = p.draft(YOGYA, "2026-S1", narrative="Uraian pelaksanaan kerja sama semester I 2026.")
    edited = p.reporting.patch(f"/reports/{draft['id']}", json={"obstacles": "Armada kurang"},
                               headers=p.headers(YOGYA, version=draft["version"]))
    assert edited.status_code == 200, edited.text
    return edited.json()


@pytest.mark.parametrize(
    ("url", "tenant", "role"),
    [
        ("/reports/{id}/export", YOGYA, "operator"),
        ("/consolidations/34/2026-S1/export", DIY, "consolidator"),
        ("/national/2026-S1/export", "national", "monitor"),
    ],
)
def test_a_csv_export_names_its_charset_exactly_once(
    p: ReportingPlatform, report: dict, url: str, tenant: str, role: str
) -> None:
    response = p.reporting.get(url.format(id=report["id"]), params={"format": "csv"}, headers=p.headers(tenant, role))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].endswith('.csv"')


def test_other_exports_carry_no_charset(p: ReportingPlatform, report: dict) -> None:
    for fmt, media_type in (("pdf", "application/pdf"),
                            ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")):
        response = p.reporting.get(f"/reports/{report['id']}/export", params={"format": fmt}, headers=p.headers(YOGYA))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == media_type


@pytest.mark.parametrize("change", ["edit", "submit"])
def test_a_change_without_if_match_gets_428_naming_the_current_version(
    p: ReportingPlatform, report: dict, change: str
) -> None:
    assert report["version"] == 2
    if change == "edit":
        response = p.reporting.patch(f"/reports/{report['id']}", json={"obstacles": "x"}, headers=p.headers(YOGYA))
    else:
        response = p.reporting.post(f"/reports/{report['id']}/submit", headers=p.headers(YOGYA))
    assert response.status_code == 428, response.text
    problem = response.json()
    assert (problem["code"], problem["current_version"]) == ("precondition_required", 2)
    assert 'If-Match: "2"' in problem["detail"]
