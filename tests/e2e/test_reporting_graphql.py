"""Cross-region analysis in the reporting service's GraphQL, through HTTP: statistics by
dimension, the cooperation network, coverage of regions without active cooperation, and a
region's alerts, each scoped to the caller's tenant and bounded in cost.

One platform for the module (one clock, moving forward only); the seed is built once:

| | agreement | form | stage | regions | urusan | value (Rp) | year |
|---|---|---|---|---|---|---|---|
| A1 | Legok Nangka | KSDD wajib | kesepakatan_ditandatangani | 32, 32.73/.04/.17/.77 | 1.03, 2.11 | 1,5 M | 2025 |
| A2 | Air baku Cirebon–Brebes | KSDD wajib | pelaksanaan | 32.09, 33.29 | 1.03 | 600 jt | 2026 |
| A3 | Barlingmascakeb | KSDD sukarela | pelaksanaan | 33.04/.03/.02/.01/.05 | 2.18, 3.26 | 300 jt | 2025 |
| A4 | Air limbah Kota Bandung | KSDPK (badan usaha) | kesepakatan_ditandatangani | 32.73 | 1.03 | 2 M | 2026 |
| A5 | Pertanian Sumedang–Garut | KSDD sukarela | persiapan | 32.11, 32.05 | 3.27 | - | 2026 (WIB) |
| A6 | Rujukan kesehatan Bandung–Cimahi | KSDD wajib | pelaksanaan | 32.73, 32.77 | 1.02 | 250 jt | 2025 |
| A7 | Jalan Kab. Bandung–KBB | KSDD wajib | dibatalkan | 32.04, 32.17 | 2.15 | 100 jt | 2025 |
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from services.reporting.app import create_app as create_reporting
from shared.regions import load_regions
from shared.urusan import URUSAN
from tests.e2e.monitoring_platform import kepala
from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

JABAR, JATENG = "32", "33"
KOTA_BANDUNG, KAB_BANDUNG, BANDUNG_BARAT, CIMAHI = "32.73", "32.04", "32.17", "32.77"
CIREBON, BREBES, SUMEDANG, GARUT = "32.09", "33.29", "32.11", "32.05"
BARLINGMASCAKEB = ["33.04", "33.03", "33.02", "33.01", "33.05"]
PARTNER = "PT Tirta Bandung"
M = 1_000_000


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2025, 6, 2)) as running:
        yield running


def with_pks(p: ReportingPlatform, agreement: dict, start_on: date, end_on: date) -> dict:
    p.sign_framework(agreement, signed_on=p.today, valid_until=date(2030, 5, 31))
    return p.sign_pks(agreement, signed_on=p.today, start_on=start_on, end_on=end_on)


@pytest.fixture(scope="module")
def seed(p: ReportingPlatform) -> dict[str, dict]:
    """June 2025: Legok Nangka signed without a PKS (so `kb_without_pks` from 29 November),
    Barlingmascakeb and Bandung–Cimahi with a PKS, a road cooperation later cancelled.
    1 January 2026, 01:00 WIB (still 31 December in UTC): Sumedang–Garut, left in persiapan.
    15 January 2026 (the tests' today): Cirebon–Brebes with a PKS, Kota Bandung's KSDPK signed."""
    a: dict[str, dict] = {}
    a["A1"] = p.start(JABAR, [KOTA_BANDUNG, KAB_BANDUNG, BANDUNG_BARAT, CIMAHI], category="wajib",
                      title="TPPAS Legok Nangka", urusan=["1.03", "2.11"], value_idr=1_500 * M)
    p.sign_framework(a["A1"], signed_on=p.today, valid_until=date(2030, 6, 1))
    a["A3"] = p.start(BARLINGMASCAKEB[0], BARLINGMASCAKEB[1:], title="Promosi ekonomi Barlingmascakeb",
                      urusan=["2.18", "3.26"], value_idr=300 * M)
    with_pks(p, a["A3"], date(2025, 7, 1), date(2027, 6, 30))
    a["A6"] = p.start(KOTA_BANDUNG, [CIMAHI], category="wajib", title="Rujukan kesehatan Bandung–Cimahi",
                      urusan=["1.02"], value_idr=250 * M)
    with_pks(p, a["A6"], date(2025, 7, 1), date(2027, 6, 30))
    a["A7"] = p.start(KAB_BANDUNG, [BANDUNG_BARAT], category="wajib", title="Jalan Kab. Bandung–KBB",
                      urusan=["2.15"], value_idr=100 * M)

    p.advance_to(date(2025, 8, 1))
    p.act(a["A7"], "cancel", {"reason": "Anggaran dialihkan"}, KAB_BANDUNG)

    p.advance_to(date(2025, 12, 31))
    p.clock.advance(hours=17)  # 2026-01-01 01:00 WIB, 2025-12-31 18:00 UTC
    a["A5"] = p.start(SUMEDANG, [GARUT], title="Pertanian Sumedang–Garut", urusan=["3.27"])

    p.advance_to(date(2026, 1, 15))
    a["A2"] = p.start(CIREBON, [BREBES], category="wajib", title="Air baku Cirebon–Brebes", urusan=["1.03"],
                      value_idr=600 * M)
    with_pks(p, a["A2"], date(2026, 2, 1), date(2028, 1, 31))
    a["A4"] = p.start(KOTA_BANDUNG, [], form="KSDPK", title="Pengelolaan air limbah Kota Bandung", urusan=["1.03"],
                      value_idr=2_000 * M, parties=[{"name": PARTNER, "type": "badan_usaha"}])
    day = p.today.isoformat()
    p.act(a["A4"], "submit-offer", {"reference": "005/PK", "sent_on": day}, KOTA_BANDUNG)
    p.act(a["A4"], "record-offer-response", {"decision": "accepted", "reference": "jawab/PT", "responded_on": day},
          KOTA_BANDUNG)
    p.act(a["A4"], "sign-framework", {
        "number": "KB/PK/1", "signed_on": day, "valid_from": day, "valid_until": "2030-12-31",
        "signatories": [kepala(KOTA_BANDUNG), {"party": PARTNER, "name": "Direktur", "position": "Direktur Utama",
                                               "capacity": "perwakilan_mitra"}],
    }, KOTA_BANDUNG)
    p.sync()
    assert {k: v["stage"] for k, v in a.items()} == {
        "A1": "kesepakatan_ditandatangani", "A2": "pelaksanaan", "A3": "pelaksanaan",
        "A4": "kesepakatan_ditandatangani", "A5": "persiapan", "A6": "pelaksanaan", "A7": "dibatalkan"}
    return a


def ask(p: ReportingPlatform, query: str, tenant: str | None = "national", client: TestClient | None = None,
        **variables: Any) -> dict:
    headers = p.headers(tenant, "monitor") if tenant else {}
    response = (client or p.reporting).post("/graphql", json={"query": query, "variables": variables},
                                            headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def data(p: ReportingPlatform, query: str, tenant: str = "national", **variables: Any) -> dict:
    body = ask(p, query, tenant, **variables)
    assert "errors" not in body, body
    return body["data"]


def error(p: ReportingPlatform, query: str, tenant: str = "national", **variables: Any) -> str:
    body = ask(p, query, tenant, **variables)
    assert body["data"] is None, body
    return body["errors"][0]["message"]


# -- cooperationStats -----------------------------------------------------------------------------

STATS = """query($by: [StatsDimension!]!, $filter: CooperationFilter, $first: Int) {
  cooperationStats(groupBy: $by, filter: $filter, first: $first) {
    groups { province { code } region { code } form category urusan { code name } stage year count valueIdr }
    total { count valueIdr }
    truncated
  }
}"""

KEYS = {"province": lambda g: g["province"]["code"], "region": lambda g: g["region"]["code"],
        "urusan": lambda g: g["urusan"]["code"]}


def stats(p: ReportingPlatform, *by: str, tenant: str = "national", **flt: Any) -> dict:
    answer = data(p, STATS, tenant, by=[d.upper() for d in by], filter=flt or None)["cooperationStats"]
    answer["rows"] = [
        (*(KEYS[d](g) if d in KEYS else g[d] for d in by), g["count"], int(g["valueIdr"])) for g in answer["groups"]
    ]
    for g in answer["groups"]:  # keys not grouped by are null
        assert all(g[d] is None for d in ("province", "region", "form", "category", "urusan", "stage", "year")
                   if d not in by), g
    return answer


def total(answer: dict) -> tuple[int, int]:
    return answer["total"]["count"], int(answer["total"]["valueIdr"])


def test_the_total_counts_each_visible_agreement_once(p: ReportingPlatform, seed: dict) -> None:
    everything = stats(p)
    assert everything["rows"] == [(7, 4_750 * M)] and total(everything) == (7, 4_750 * M)
    assert everything["truncated"] is False
    for tenant, expected in (("national", (7, 4_750 * M)), (JABAR, (6, 4_450 * M)), (JATENG, (2, 900 * M)),
                             (KOTA_BANDUNG, (3, 3_750 * M)), (CIREBON, (1, 600 * M)), (BREBES, (1, 600 * M)),
                             ("33.04", (1, 300 * M)), ("35.78", (0, 0))):
        assert total(stats(p, tenant=tenant)) == expected, tenant


def test_stats_by_each_dimension(p: ReportingPlatform, seed: dict) -> None:
    by_province = stats(p, "province")
    assert by_province["rows"] == [(JABAR, 6, 4_450 * M), (JATENG, 2, 900 * M)]
    assert total(by_province) == (7, 4_750 * M)  # the cross-province agreement counts once in the total
    assert stats(p, "region")["rows"] == [
        (JABAR, 1, 1_500 * M), (KAB_BANDUNG, 2, 1_600 * M), (GARUT, 1, 0), (CIREBON, 1, 600 * M), (SUMEDANG, 1, 0),
        (BANDUNG_BARAT, 2, 1_600 * M), (KOTA_BANDUNG, 3, 3_750 * M), (CIMAHI, 2, 1_750 * M),
        *((code, 1, 300 * M) for code in sorted(BARLINGMASCAKEB)), (BREBES, 1, 600 * M),
    ]
    assert stats(p, "form")["rows"] == [("KSDD", 6, 2_750 * M), ("KSDPK", 1, 2_000 * M)]
    assert stats(p, "category")["rows"] == [("sukarela", 2, 300 * M), ("wajib", 4, 2_450 * M), (None, 1, 2_000 * M)]
    by_urusan = stats(p, "urusan")
    assert by_urusan["rows"] == [("1.02", 1, 250 * M), ("1.03", 3, 4_100 * M), ("2.11", 1, 1_500 * M),
                                 ("2.15", 1, 100 * M), ("2.18", 1, 300 * M), ("3.26", 1, 300 * M), ("3.27", 1, 0)]
    assert by_urusan["groups"][1]["urusan"]["name"] == "pekerjaan umum dan penataan ruang"
    assert total(by_urusan) == (7, 4_750 * M)
    assert stats(p, "stage")["rows"] == [("persiapan", 1, 0), ("kesepakatan_ditandatangani", 2, 3_500 * M),
                                         ("pelaksanaan", 3, 1_150 * M), ("dibatalkan", 1, 100 * M)]
    assert stats(p, "year")["rows"] == [(2025, 4, 2_150 * M), (2026, 3, 2_600 * M)]


def test_stats_by_two_dimensions(p: ReportingPlatform, seed: dict) -> None:
    assert stats(p, "province", "stage")["rows"] == [
        (JABAR, "persiapan", 1, 0), (JABAR, "kesepakatan_ditandatangani", 2, 3_500 * M),
        (JABAR, "pelaksanaan", 2, 850 * M), (JABAR, "dibatalkan", 1, 100 * M), (JATENG, "pelaksanaan", 2, 900 * M),
    ]
    assert stats(p, "form", "year")["rows"] == [("KSDD", 2025, 4, 2_150 * M), ("KSDD", 2026, 2, 600 * M),
                                                ("KSDPK", 2026, 1, 2_000 * M)]
    # Region and province together: each region with its own province, no cross product.
    both = stats(p, "region", "province", tenant=JABAR, activeOnly=True)
    assert both["rows"] == [
        (JABAR, JABAR, 1, 1_500 * M), (KAB_BANDUNG, JABAR, 1, 1_500 * M), (CIREBON, JABAR, 1, 600 * M),
        (BANDUNG_BARAT, JABAR, 1, 1_500 * M), (KOTA_BANDUNG, JABAR, 3, 3_750 * M), (CIMAHI, JABAR, 2, 1_750 * M),
        (BREBES, JATENG, 1, 600 * M),
    ]
    assert total(both) == (4, 4_350 * M)


@pytest.mark.parametrize(("flt", "expected"), [
    ({"activeOnly": True}, (5, 4_650 * M)),
    ({"period": "2025-S1"}, (4, 2_150 * M)),  # A1, A3, A6 and A7 (not yet cancelled)
    ({"period": "2026-S1"}, (6, 4_650 * M)),  # all but A7, cancelled in 2025
    ({"period": "2026"}, (6, 4_650 * M)),
    ({"urusan": ["1.03", "1.02"]}, (4, 4_350 * M)),
    ({"stage": ["persiapan", "dibatalkan"]}, (2, 100 * M)),
    ({"form": ["KSDPK"]}, (1, 2_000 * M)),
    ({"category": "sukarela"}, (2, 300 * M)),
    ({"yearFrom": 2026}, (3, 2_600 * M)),
    ({"yearTo": 2025}, (4, 2_150 * M)),
    ({"yearFrom": 2025, "yearTo": 2025, "category": "wajib"}, (3, 1_850 * M)),
    ({"region": KOTA_BANDUNG}, (3, 3_750 * M)),
    ({"province": JATENG}, (2, 900 * M)),
    ({"province": JABAR, "yearFrom": 2026, "activeOnly": True}, (2, 2_600 * M)),
])
def test_stats_filters(p: ReportingPlatform, seed: dict, flt: dict, expected: tuple[int, int]) -> None:
    answer = stats(p, **flt)
    assert total(answer) == expected and answer["rows"] == [expected]


def test_the_year_is_the_signature_year_else_the_day_recorded_in_wib(p: ReportingPlatform, seed: dict) -> None:
    # A5 was recorded on 31 December 2025 in UTC, 1 January 2026 in WIB.
    assert stats(p, "year", stage=["persiapan"])["rows"] == [(2026, 1, 0)]
    # A2 was recorded and signed in 2026; A1 signed in 2025.
    assert stats(p, "year", region=CIREBON)["rows"] == [(2026, 1, 600 * M)]
    assert stats(p, "year", region=JABAR)["rows"] == [(2025, 1, 1_500 * M)]


def test_stats_are_scoped_to_the_tenant(p: ReportingPlatform, seed: dict) -> None:
    # The province sees its own and the cross-border agreement (with Brebes), not Jawa Tengah's internal ones.
    regions = [row[0] for row in stats(p, "region", tenant=JABAR)["rows"]]
    assert regions == [JABAR, KAB_BANDUNG, GARUT, CIREBON, SUMEDANG, BANDUNG_BARAT, KOTA_BANDUNG, CIMAHI, BREBES]
    assert stats(p, "province", tenant=JATENG)["rows"] == [(JABAR, 1, 600 * M), (JATENG, 2, 900 * M)]
    # A kab/kota sees only its own.
    assert stats(p, "form", tenant=KOTA_BANDUNG)["rows"] == [("KSDD", 2, 1_750 * M), ("KSDPK", 1, 2_000 * M)]
    assert stats(p, "stage", tenant=CIMAHI)["rows"] == [("kesepakatan_ditandatangani", 1, 1_500 * M),
                                                       ("pelaksanaan", 1, 250 * M)]
    # A region analyses within its own scope: another province's region or province is refused
    # (as coverage does); its own province is fine for a kab/kota.
    assert error(p, STATS, JABAR, by=["FORM"], filter={"region": "33.04"}) == "Wilayah tidak ditemukan."
    assert error(p, STATS, CIMAHI, by=["FORM"], filter={"province": JATENG}) == "Wilayah tidak ditemukan."
    assert error(p, STATS, CIMAHI, by=["FORM"], filter={"region": KOTA_BANDUNG}) == "Wilayah tidak ditemukan."
    assert total(stats(p, tenant=CIMAHI, province=JABAR)) == (2, 1_750 * M)


def test_too_many_groups_come_back_truncated(p: ReportingPlatform, seed: dict) -> None:
    answer = data(p, STATS, by=["REGION"], first=2)["cooperationStats"]
    assert [g["region"]["code"] for g in answer["groups"]] == [JABAR, KAB_BANDUNG]
    assert answer["truncated"] is True and answer["total"]["count"] == 7


@pytest.mark.parametrize(("by", "flt", "says"), [
    (["REGION", "REGION"], {}, "groupBy: setiap dimensi hanya sekali."),
    ([], {"region": "99.99"}, "region: kode wilayah tidak dikenal: 99.99."),
    ([], {"region": "bandung"}, "region: kode wilayah tidak dikenal: bandung."),
    ([], {"province": KOTA_BANDUNG}, "province: kode provinsi tidak dikenal: 32.73."),
    ([], {"urusan": ["1.03", "9.99"]}, "urusan: kode urusan tidak dikenal: 9.99."),
    ([], {"form": ["KSDX"]}, "form: bentuk kerja sama tidak dikenal: KSDX."),
    ([], {"stage": ["selesai"]}, "stage: tahap tidak dikenal: selesai."),
    ([], {"category": "wajib "}, "category: wajib atau sukarela."),
    ([], {"period": "2026-S3"}, "period: periode tidak dikenal"),
    ([], {"yearFrom": 2027, "yearTo": 2026}, "yearFrom tidak boleh melebihi yearTo."),
    ([], {"yearFrom": 1999}, "yearFrom: tahun antara 2000 dan 2100."),
])
def test_bad_codes_are_refused_in_indonesian(p: ReportingPlatform, seed: dict, by: list, flt: dict, says: str) -> None:
    assert error(p, STATS, by=by, filter=flt).startswith(says)


# -- cooperationNetwork ------------------------------------------------------------------------------

NETWORK = """query($filter: CooperationFilter, $minWeight: Int! = 1, $first: Int) {
  cooperationNetwork(filter: $filter, minWeight: $minWeight, first: $first) {
    nodes { id kind label region { code } lat lng agreements valueIdr }
    edges { source target weight valueIdr }
    truncated
  }
}"""


def network(p: ReportingPlatform, tenant: str = "national", **variables: Any) -> dict:
    answer = data(p, NETWORK, tenant, **variables)["cooperationNetwork"]
    answer["pairs"] = [(e["source"], e["target"], e["weight"], int(e["valueIdr"])) for e in answer["edges"]]
    answer["by_id"] = {n["id"]: n for n in answer["nodes"]}
    return answer


def test_the_network_weighs_pairs_by_shared_agreements(p: ReportingPlatform, seed: dict) -> None:
    jabar = network(p, JABAR)
    assert len(jabar["pairs"]) == 13 and jabar["truncated"] is False  # A1's 10 pairs, A2, A4, A5
    assert jabar["pairs"][:2] == [(KAB_BANDUNG, BANDUNG_BARAT, 2, 1_600 * M), (KOTA_BANDUNG, CIMAHI, 2, 1_750 * M)]
    assert jabar["pairs"][2:6] == [(JABAR, KAB_BANDUNG, 1, 1_500 * M), (JABAR, BANDUNG_BARAT, 1, 1_500 * M),
                                   (JABAR, KOTA_BANDUNG, 1, 1_500 * M), (JABAR, CIMAHI, 1, 1_500 * M)]
    assert (KOTA_BANDUNG, "mitra:badan_usaha", 1, 2_000 * M) in jabar["pairs"]
    assert (GARUT, SUMEDANG, 1, 0) in jabar["pairs"] and (CIREBON, BREBES, 1, 600 * M) in jabar["pairs"]
    assert all(s < t for s, t, _, _ in jabar["pairs"])
    # No Barlingmascakeb node for Jawa Barat; Brebes is there through the cross-border agreement.
    assert sorted(jabar["by_id"]) == [JABAR, KAB_BANDUNG, GARUT, CIREBON, SUMEDANG, BANDUNG_BARAT, KOTA_BANDUNG,
                                      CIMAHI, BREBES, "mitra:badan_usaha"]
    bandung = jabar["by_id"][KOTA_BANDUNG]
    assert (bandung["kind"], bandung["label"], bandung["region"], bandung["agreements"], bandung["valueIdr"]) == (
        "kota", "Kota Bandung", {"code": KOTA_BANDUNG}, 3, str(3_750 * M))
    assert bandung["lat"] == pytest.approx(load_regions().get(KOTA_BANDUNG).lat)
    province = jabar["by_id"][JABAR]
    assert (province["kind"], province["label"], province["agreements"], province["lat"]) == (
        "provinsi", "Jawa Barat", 1, None)
    assert jabar["by_id"]["mitra:badan_usaha"] == {
        "id": "mitra:badan_usaha", "kind": "mitra", "label": "Badan usaha", "region": None, "lat": None, "lng": None,
        "agreements": 1, "valueIdr": str(2_000 * M)}

    national = network(p)
    assert len(national["pairs"]) == 23
    assert ("33.01", "33.02", 1, 300 * M) in national["pairs"] and len(national["nodes"]) == 15


def test_the_network_filters_by_weight_and_by_agreement(p: ReportingPlatform, seed: dict) -> None:
    heavy = network(p, JABAR, minWeight=2)
    assert heavy["pairs"] == [(KAB_BANDUNG, BANDUNG_BARAT, 2, 1_600 * M), (KOTA_BANDUNG, CIMAHI, 2, 1_750 * M)]
    assert {k: (n["agreements"], int(n["valueIdr"])) for k, n in heavy["by_id"].items()} == {
        KAB_BANDUNG: (2, 1_600 * M), BANDUNG_BARAT: (2, 1_600 * M), KOTA_BANDUNG: (3, 3_750 * M),
        CIMAHI: (2, 1_750 * M)}
    active = network(p, JABAR, filter={"activeOnly": True})
    assert len(active["pairs"]) == 12 and (KAB_BANDUNG, BANDUNG_BARAT, 1, 1_500 * M) in active["pairs"]
    assert SUMEDANG not in active["by_id"] and active["by_id"][KAB_BANDUNG]["agreements"] == 1
    assert network(p, CIREBON)["pairs"] == [(CIREBON, BREBES, 1, 600 * M)]
    assert network(p, JABAR, filter={"form": ["KSDPK"]})["pairs"] == [(KOTA_BANDUNG, "mitra:badan_usaha", 1, 2_000 * M)]
    assert network(p, "35.78")["pairs"] == [] and network(p, JABAR, minWeight=3)["nodes"] == []


def test_the_network_is_cut_at_first(p: ReportingPlatform, seed: dict) -> None:
    cut = network(p, JABAR, first=3)
    assert cut["truncated"] is True
    assert cut["pairs"] == [(KAB_BANDUNG, BANDUNG_BARAT, 2, 1_600 * M), (KOTA_BANDUNG, CIMAHI, 2, 1_750 * M),
                            (JABAR, KAB_BANDUNG, 1, 1_500 * M)]
    assert sorted(cut["by_id"]) == [JABAR, KAB_BANDUNG, BANDUNG_BARAT, KOTA_BANDUNG, CIMAHI]
    assert network(p, JABAR, first=13)["truncated"] is False
    assert error(p, NETWORK, minWeight=0) == "minWeight: sedikitnya 1."


# -- coverage --------------------------------------------------------------------------------------

COVERAGE = """query($filter: CoverageFilter, $first: Int) {
  coverage(filter: $filter) {
    regions withActive withoutAny(first: $first) { code }
    byUrusan { urusan { code } covered without regionsWithout(first: $first) { code } }
  }
}"""


def coverage(p: ReportingPlatform, tenant: str = "national", **variables: Any) -> dict:
    answer = data(p, COVERAGE, tenant, **variables)["coverage"]
    answer["without_any"] = [r["code"] for r in answer["withoutAny"]]
    answer["urusan"] = {u["urusan"]["code"]: (u["covered"], u["without"], [r["code"] for r in u["regionsWithout"]])
                        for u in answer["byUrusan"]}
    return answer


def test_coverage_of_a_province_and_its_kab_kota(p: ReportingPlatform, seed: dict) -> None:
    jabar = coverage(p, JABAR)
    active = {JABAR, KAB_BANDUNG, CIREBON, BANDUNG_BARAT, KOTA_BANDUNG, CIMAHI}
    scope = [JABAR, *(r.code for r in load_regions().in_province(JABAR))]
    assert (jabar["regions"], jabar["withActive"]) == (28, 6)
    assert jabar["without_any"] == [c for c in scope if c not in active] and len(jabar["without_any"]) == 22
    assert {SUMEDANG, GARUT} <= set(jabar["without_any"])  # in persiapan only: not active
    assert list(jabar["urusan"]) == [u.code for u in URUSAN]
    assert jabar["urusan"]["1.03"][:2] == (6, 22)
    assert jabar["urusan"]["2.11"][:2] == (5, 23)
    assert jabar["urusan"]["1.02"][:2] == (2, 26)
    assert jabar["urusan"]["1.02"][2] == [c for c in scope if c not in (KOTA_BANDUNG, CIMAHI)]
    assert jabar["urusan"]["2.15"][:2] == (0, 28)  # only the cancelled road cooperation
    assert jabar["urusan"]["3.27"][:2] == (0, 28)  # only Sumedang–Garut, still in persiapan
    # The ministry looking at the same province sees the same.
    assert coverage(p, filter={"province": JABAR}) == jabar


def test_coverage_filters_urusan_and_kind_and_bounds_lists(p: ReportingPlatform, seed: dict) -> None:
    some = coverage(p, JABAR, filter={"urusan": ["1.02", "2.15"]}, first=3)
    assert list(some["urusan"]) == ["1.02", "2.15"]
    assert some["urusan"]["1.02"] == (2, 26, [JABAR, "32.01", "32.02"])
    assert some["without_any"] == ["32.01", "32.02", "32.03"] and some["withActive"] == 6
    kota = coverage(p, JABAR, filter={"kind": ["kota"]})
    assert (kota["regions"], kota["withActive"]) == (9, 2)
    assert kota["without_any"] == ["32.71", "32.72", "32.74", "32.75", "32.76", "32.78", "32.79"]


def test_coverage_scope_follows_the_tenant(p: ReportingPlatform, seed: dict) -> None:
    national = coverage(p, filter={"urusan": ["1.03"]})
    assert (national["regions"], national["withActive"]) == (38 + 508, 12)
    assert national["urusan"]["1.03"][:2] == (7, 546 - 7)  # A1's five, Cirebon and Brebes
    jateng = coverage(p, filter={"province": JATENG, "urusan": ["3.26"]})
    assert (jateng["regions"], jateng["withActive"], jateng["urusan"]["3.26"][:2]) == (36, 6, (5, 31))
    sumedang = coverage(p, SUMEDANG)
    assert (sumedang["regions"], sumedang["withActive"], sumedang["without_any"]) == (1, 0, [SUMEDANG])
    brebes = coverage(p, BREBES, filter={"province": JATENG})
    assert (brebes["regions"], brebes["withActive"], brebes["urusan"]["1.03"][:2]) == (1, 1, (1, 0))
    assert error(p, COVERAGE, JABAR, filter={"province": JATENG}) == "Wilayah tidak ditemukan."
    assert error(p, COVERAGE, KOTA_BANDUNG, filter={"province": JATENG}) == "Wilayah tidak ditemukan."
    assert error(p, COVERAGE, filter={"kind": ["desa"]}) == "kind: jenis wilayah tidak dikenal: desa."
    assert error(p, COVERAGE, filter={"province": "99"}) == "province: kode provinsi tidak dikenal: 99."


# -- alerts ----------------------------------------------------------------------------------------

ALERTS = """query($region: String!) {
  alerts(region: $region) { agreementId agreementTitle kind title severity since message regions }
}"""


def test_alerts_of_a_visible_region(p: ReportingPlatform, seed: dict) -> None:
    [alert] = data(p, ALERTS, KOTA_BANDUNG, region=KOTA_BANDUNG)["alerts"]
    assert (alert["agreementId"], alert["agreementTitle"], alert["kind"], alert["severity"], alert["since"]) == (
        seed["A1"]["id"], "TPPAS Legok Nangka", "kb_without_pks", "warning", "2025-11-29")
    assert alert["regions"] == [JABAR, KOTA_BANDUNG, KAB_BANDUNG, BANDUNG_BARAT, CIMAHI]
    assert alert["title"] == "Kesepakatan Bersama belum ditindaklanjuti PKS" and "PKS" in alert["message"]
    # The province looks at its kab/kota: Sumedang cooperates, but with no neighbour actively.
    [region_alert] = data(p, ALERTS, JABAR, region=SUMEDANG)["alerts"]
    assert (region_alert["agreementId"], region_alert["kind"], region_alert["severity"], region_alert["since"],
            region_alert["regions"]) == (None, "no_neighbour_cooperation", "info", "2026-01-15", [SUMEDANG])
    assert data(p, ALERTS, region=CIREBON)["alerts"] == []  # active with Brebes, its neighbour; PKS not due yet


@pytest.mark.parametrize(("tenant", "region", "says"), [
    (JABAR, "33.04", "Wilayah tidak ditemukan."),
    (KAB_BANDUNG, KOTA_BANDUNG, "Wilayah tidak ditemukan."),
    (KOTA_BANDUNG, JABAR, "Wilayah tidak ditemukan."),
    ("national", "99.99", "Wilayah tidak ditemukan."),
    ("national", "bandung", "region: kode wilayah (32 atau 32.73)."),
])
def test_alerts_of_a_region_out_of_sight_are_not_found(p: ReportingPlatform, seed: dict, tenant: str, region: str,
                                                       says: str) -> None:
    assert error(p, ALERTS, tenant, region=region) == says


# -- cost and access -------------------------------------------------------------------------------


def test_lists_larger_than_the_bound_are_refused(p: ReportingPlatform, seed: dict) -> None:
    most = p.settings.analysis_max_rows
    says = f"first: antara 1 dan {most}."
    assert error(p, NETWORK, first=most + 1) == says
    assert error(p, STATS, by=["REGION"], first=0) == says
    assert error(p, COVERAGE, JABAR, first=most + 1) == says
    assert network(p, first=most)["truncated"] is False


def test_too_many_aliases_are_refused(p: ReportingPlatform, seed: dict) -> None:
    many = "{ " + " ".join(f"c{i}: coverage {{ regions }}" for i in range(p.settings.graphql_max_aliases + 1)) + " }"
    body = ask(p, many)
    assert body.get("data") is None and "aliases" in body["errors"][0]["message"].lower()


def test_too_deep_queries_are_refused(p: ReportingPlatform, seed: dict) -> None:
    shallow = msgspec.structs.replace(p.settings, graphql_max_depth=2)  # cooperationNetwork is depth 0, code depth 3
    deep = "{ cooperationNetwork { nodes { region { code } } } }"
    with TestClient(create_reporting(shallow, database_url=p.url, clock=p.clock)) as client:
        body = ask(p, deep, client=client)
        assert body.get("data") is None
        assert "exceeds maximum operation depth" in body["errors"][0]["message"]
        assert ask(p, "{ cooperationNetwork { nodes { id } } }", client=client)["data"] is not None
    assert "errors" not in ask(p, deep)  # the default depth allows it


def test_an_anonymous_caller_is_refused(p: ReportingPlatform, seed: dict) -> None:
    response = p.reporting.post("/graphql", json={"query": "{ coverage { regions } }"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_analysis_query_is_cut_off_at_its_timeout(p: ReportingPlatform) -> None:
    import anyio
    from psycopg import sql

    from services.reporting.analysis import AnalysisReadModel
    from shared.db import make_async_pool
    from shared.errors import Unavailable

    async def run() -> str:
        pool = make_async_pool(p.url, min_size=1, max_size=1, name="timeout-test")
        await pool.open()
        try:
            fast = AnalysisReadModel(pool, timeout_ms=5_000)
            assert await fast._fetch("national", sql.SQL("SELECT 1 AS one"), {}) == [{"one": 1}]
            slow = AnalysisReadModel(pool, timeout_ms=50)
            with pytest.raises(Unavailable) as refused:
                await slow._fetch("national", sql.SQL("SELECT pg_sleep(2)"), {})
            return refused.value.code
        finally:
            await pool.close()

    assert anyio.run(run) == "analysis_too_heavy"
