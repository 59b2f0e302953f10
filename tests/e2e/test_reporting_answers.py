"""The reporting service's answers are served again while its read model has not changed, and
never once it has (shared.answers), through HTTP: an analysis, a consolidation, the national
roll-up. What is served again is counted in /metrics (`ksd_answers_total`, outcome `kept`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from services.reporting.setup import install
from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

STATS = "query { cooperationStats(groupBy: [FORM]) { groups { form count valueIdr } total { count valueIdr } } }"
JABAR, KOTA_BANDUNG, CIMAHI, JATENG, SEMARANG = "32", "32.73", "32.77", "33", "33.74"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2026, 3, 2)) as running:
        running.start(KOTA_BANDUNG, [CIMAHI], title="Rujukan kesehatan", value_idr=250_000_000)
        running.start(SEMARANG, [], title="Air limbah Semarang", form="KSDPK",
                      parties=[{"name": "PT Tirta", "type": "badan_usaha"}], value_idr=1_000_000_000)
        running.sync()
        yield running


def answers(p: ReportingPlatform, outcome: str) -> float:
    metrics = p.reporting.get("/metrics").text
    found = re.search(rf'^ksd_answers_total\{{outcome="{outcome}",service="reporting"\}} (\S+)$', metrics, re.M) \
        or re.search(rf'^ksd_answers_total\{{service="reporting",outcome="{outcome}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def stats(p: ReportingPlatform, tenant: str = "national", role: str = "monitor") -> dict:
    response = p.reporting.post("/graphql", json={"query": STATS}, headers=p.headers(tenant, role))
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["cooperationStats"]


def test_an_analysis_is_served_again_until_the_read_model_changes(p: ReportingPlatform) -> None:
    first = stats(p)
    kept, computed = answers(p, "kept"), answers(p, "computed")
    assert stats(p) == first
    assert (answers(p, "kept"), answers(p, "computed")) == (kept + 1, computed)

    p.start(KOTA_BANDUNG, [], title="Promosi wisata", form="KSDPK",
            parties=[{"name": "PT Wisata", "type": "badan_usaha"}], value_idr=5_000_000)
    p.sync()
    after = stats(p)
    assert after["total"]["count"] == first["total"]["count"] + 1
    assert int(after["total"]["valueIdr"]) == int(first["total"]["valueIdr"]) + 5_000_000
    assert answers(p, "computed") == computed + 1


def test_a_row_changed_in_sql_is_seen_at_the_next_read(p: ReportingPlatform) -> None:
    """No writer has to remember the counter: a trigger counts whatever wrote the rows."""
    before = stats(p)
    stats(p)  # kept now
    with psycopg.connect(p.url, autocommit=True) as conn:
        conn.execute("UPDATE reporting.agreements SET value_idr = value_idr + 1 WHERE title = 'Rujukan kesehatan'")
        try:
            assert int(stats(p)["total"]["valueIdr"]) == int(before["total"]["valueIdr"]) + 1
        finally:
            conn.execute("UPDATE reporting.agreements SET value_idr = value_idr - 1"
                         " WHERE title = 'Rujukan kesehatan'")
    assert stats(p) == before


def test_a_rolled_back_write_leaves_the_kept_answers_served(p: ReportingPlatform) -> None:
    stats(p)
    with psycopg.connect(p.url) as conn:
        conn.execute("UPDATE reporting.agreements SET value_idr = 0")
        conn.rollback()
    kept = answers(p, "kept")
    stats(p)
    assert answers(p, "kept") == kept + 1


def test_a_migration_makes_the_next_reader_compute_again(p: ReportingPlatform) -> None:
    """`ksd migrate` may reshape what answers are computed from: it counts as a change."""
    stats(p)
    computed = answers(p, "computed")
    install(p.url)  # what `ksd migrate` runs for reporting
    stats(p)
    assert answers(p, "computed") == computed + 1


def test_no_tenant_or_role_is_served_another_ones_answer(p: ReportingPlatform) -> None:
    national = stats(p)
    computed = answers(p, "computed")
    jateng = stats(p, JATENG)
    bandung = stats(p, KOTA_BANDUNG)
    auditor = stats(p, "national", "auditor")
    assert answers(p, "computed") == computed + 3  # none of them was the national monitor's answer
    assert auditor == national
    assert jateng["total"]["count"] == 1 and {g["form"] for g in jateng["groups"]} == {"KSDPK"}
    assert bandung["total"]["count"] == 2 < national["total"]["count"]


def test_a_consolidation_and_the_roll_up_show_a_report_submitted_after_they_were_kept(p: ReportingPlatform) -> None:
    """The kab/kota's report is in the consolidation and the roll-up as soon as the read model
    holds it, though both were served from what was kept just before."""
    p.consolidation(JABAR, "2025-S2")
    kept = answers(p, "kept")
    before = p.consolidation(JABAR, "2025-S2")["content"]
    national = p.national("2025-S2")
    p.national("2025-S2")
    assert answers(p, "kept") == kept + 2
    cimahi = next(r for r in before["regions"] if r["code"] == CIMAHI)
    assert cimahi["revision"] in (0, None)

    p.submit(p.draft(CIMAHI, "2025-S2", narrative="Laporan semester Kota Cimahi."))
    after = p.consolidation(JABAR, "2025-S2")["content"]
    assert next(r for r in after["regions"] if r["code"] == CIMAHI)["revision"] == 1
    assert after["completeness"] != before["completeness"]
    assert p.national("2025-S2")["completeness"] != national["completeness"]
