"""The reporting rules that depend on settings and on time: which period kinds are collected,
the deadline, which agreements a period's report contains (alive during it: not those ended
before, nor abandoned; those entered after the fact by their real dates).

Its own platform, configured: semester reports only, deadlines of 10 days for a region's report
and 20 for a province's consolidation.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

KOTA_MAGELANG, KAB_MAGELANG, TEMANGGUNG = "33.71", "33.08", "33.23"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2025, 11, 3), report_period_kinds="semester",
                            report_deadline_days=10, consolidation_deadline_days=20) as running:
        yield running


def titles(report: dict) -> list[str]:
    return sorted(a["title"] for a in report["content"]["agreements"])


def test_only_the_configured_period_kinds_are_collected(p: ReportingPlatform) -> None:
    p.advance_to(date(2026, 1, 10))
    response = p.reporting.post("/reports", json={"period": "2026"}, headers=p.headers(KOTA_MAGELANG))
    assert (response.status_code, response.json()["code"]) == (422, "period_kind_not_collected")
    national = p.reporting.get("/national/2026", headers=p.headers("national", "monitor"))
    assert (national.status_code, national.json()["code"]) == (422, "period_kind_not_collected")


def test_a_period_report_holds_the_agreements_alive_during_it(p: ReportingPlatform) -> None:
    p.advance_to(date(2026, 1, 12))
    # Ended in December 2025 (its framework expired): not in 2026-S1.
    ended = p.start(KOTA_MAGELANG, [KAB_MAGELANG], title="Promosi wisata 2025")
    p.sign_framework(ended, signed_on=date(2025, 11, 3), valid_until=date(2025, 12, 31))
    p.act(ended, "terminate", {"document": "framework", "ground": "masa_berlaku_habis", "reference": "Akhir/1",
                               "terminated_on": "2025-12-31"}, KOTA_MAGELANG)
    # Abandoned on 15 January 2026: in 2026-S1, not in 2026-S2, even though a document is attached in August.
    abandoned = p.start(KOTA_MAGELANG, [TEMANGGUNG], title="Terminal bersama")
    p.advance_to(date(2026, 1, 15))
    p.act(abandoned, "cancel", {"reason": "Anggaran tidak tersedia"}, KOTA_MAGELANG)
    p.advance_to(date(2026, 8, 10))
    upload = p.registry.post(f"/agreements/{abandoned['id']}/actions/attach-document",
                             files={"file": ("notulen.pdf", PDF, "application/pdf")},
                             data={"kind": "lainnya"}, headers=p.headers(KOTA_MAGELANG, version=abandoned["version"]))
    assert upload.status_code == 200, upload.text
    # Entered on 10 August 2026, signed on 2 March 2026: in 2026-S1 by its real dates.
    legacy = p.start(KOTA_MAGELANG, [KAB_MAGELANG], title="Air minum Magelang Raya")
    p.sign_framework(legacy, signed_on=date(2026, 3, 2), valid_until=date(2030, 3, 1))

    s1 = p.draft(KOTA_MAGELANG, "2026-S1", narrative="Semester I.")
    assert titles(s1) == ["Air minum Magelang Raya", "Terminal bersama"]
    s2 = p.draft(KOTA_MAGELANG, "2026-S2", narrative="Semester II.")
    assert titles(s2) == ["Air minum Magelang Raya"]
    ended_state = p.registry.get(f"/agreements/{ended['id']}", headers=p.headers(KOTA_MAGELANG)).json()
    abandoned_state = p.registry.get(f"/agreements/{abandoned['id']}", headers=p.headers(KOTA_MAGELANG)).json()
    assert (ended_state["ended_on"], abandoned_state["ended_on"]) == ("2025-12-31", "2026-01-15")
    # 2025-S2 (collected: a semester) still has the one that ended in December.
    assert "Promosi wisata 2025" in titles(p.draft(KOTA_MAGELANG, "2025-S2", narrative="Semester II 2025."))


def test_the_deadline_is_the_configured_days_after_the_period(p: ReportingPlatform) -> None:
    report = p.draft(TEMANGGUNG, "2026-S1", narrative="Laporan Temanggung.")
    assert report["deadline"] == "2026-07-10"
    submitted = p.submit(report)  # on 10 August: a month late
    assert (submitted["timeliness"], submitted["submissions"][0]["deadline"]) == ("terlambat", "2026-07-10")


def test_a_consolidation_is_judged_by_its_own_configured_deadline(p: ReportingPlatform) -> None:
    url = "/consolidations/33/2026-S1"
    before = p.consolidation("33", "2026-S1")
    assert (before["deadline"], before["content"]["report_deadline"]) == ("2026-07-20", "2026-07-10")
    response = p.reporting.post(f"{url}/submit", headers=p.headers("33", "consolidator"))  # on 10 August
    assert response.status_code == 201, response.text
    sent = response.json()
    assert (sent["timeliness"], sent["submissions"][0]["deadline"]) == ("terlambat", "2026-07-20")
    temanggung = next(r for r in sent["content"]["regions"] if r["code"] == TEMANGGUNG)
    assert temanggung["status"] == "terlambat"  # its report came on 10 August, after 10 July

