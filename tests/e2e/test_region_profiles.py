"""Region profiles through HTTP: the letter parts (kop surat, signatory, nomor surat pattern)
a region's `admin` keeps for every exported document, read by the region, its province and
the national level.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

JABAR, KOTA_BANDUNG, KAB_BANDUNG, KOTA_BOGOR = "32", "32.73", "32.04", "32.71"

BANDUNG = {
    "government_name": "Pemerintah Kota Bandung",
    "address_lines": ["Jalan Wastukancana Nomor 2, Bandung 40117"],
    "phone": "(022) 4232338", "email": "setda@bandung.go.id", "website": "https://www.bandung.go.id",
    "city": "Bandung",
    "signatory_name": "Muhammad Farhan",
    "signatory_title": "Wali Kota Bandung",
    "signatory_is_civil_servant": False,
    "letter_number_pattern": "000.5.3/{nomor}/Pem/{tahun}",
}


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2026, 7, 1)) as running:
        yield running


def put(p: ReportingPlatform, region: str, body: dict[str, Any], tenant: str | None = None,
        role: str = "admin") -> Any:
    return p.reporting.put(f"/profiles/{region}", json=body, headers=p.headers(tenant or region, role))


def test_before_the_admin_configures_it_a_profile_reads_as_the_default_of_the_region(p: ReportingPlatform) -> None:
    response = p.reporting.get(f"/profiles/{KAB_BANDUNG}", headers=p.headers(KAB_BANDUNG, "operator"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["configured"], body["version"]) == (False, None)
    assert (body["government_name"], body["signatory_title"]) == ("Pemerintah Kabupaten Bandung", "Bupati Bandung")
    assert body["signatory_is_civil_servant"] is False and body["nip"] is None
    kota = p.reporting.get(f"/profiles/{KOTA_BOGOR}", headers=p.headers(KOTA_BOGOR, "operator")).json()
    assert (kota["signatory_title"], kota["city"]) == ("Wali Kota Bogor", "Bogor")
    province = p.reporting.get(f"/profiles/{JABAR}", headers=p.headers(JABAR, "consolidator")).json()
    assert (province["government_name"], province["signatory_title"]) == ("Pemerintah Provinsi Jawa Barat",
                                                                          "Gubernur Jawa Barat")


def test_the_admin_of_the_region_writes_its_profile_and_others_read_it(p: ReportingPlatform) -> None:
    response = put(p, KOTA_BANDUNG, BANDUNG)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert (saved["configured"], saved["version"], response.headers["etag"]) == (True, 1, '"1"')
    assert saved["signatory_name"] == "Muhammad Farhan" and saved["address_lines"] == BANDUNG["address_lines"]
    for tenant, role in ((KOTA_BANDUNG, "operator"), (JABAR, "consolidator"), ("national", "monitor")):
        read = p.reporting.get(f"/profiles/{KOTA_BANDUNG}", headers=p.headers(tenant, role))
        assert read.status_code == 200, (tenant, read.text)
        assert (read.json()["version"], read.json()["city"]) == (1, "Bandung")
    # Another region (even in the same province), or another province, does not see it.
    for tenant in (KOTA_BOGOR, "33"):
        assert p.reporting.get(f"/profiles/{KOTA_BANDUNG}", headers=p.headers(tenant, "admin")).status_code == 404


def test_only_the_regions_own_admin_may_write_it(p: ReportingPlatform) -> None:
    operator = put(p, KOTA_BOGOR, BANDUNG | {"government_name": "Pemerintah Kota Bogor"}, role="operator")
    assert (operator.status_code, operator.json()["code"]) == (403, "role_required")
    other = put(p, KOTA_BOGOR, BANDUNG | {"government_name": "Pemerintah Kota Bogor"}, tenant=KOTA_BANDUNG)
    assert (other.status_code, other.json()["code"]) == (403, "not_the_region")
    province = put(p, KOTA_BOGOR, BANDUNG, tenant=JABAR)
    assert (province.status_code, province.json()["code"]) == (403, "not_the_region")
    national = put(p, KOTA_BOGOR, BANDUNG, tenant="national")
    assert (national.status_code, national.json()["code"]) == (403, "not_the_region")
    read = p.reporting.get(f"/profiles/{KOTA_BOGOR}", headers=p.headers(KOTA_BOGOR, "operator")).json()
    assert read["configured"] is False


def test_an_elected_head_has_no_nip(p: ReportingPlatform) -> None:
    refused = put(p, KOTA_BOGOR, BANDUNG | {"nip": "197001011990031001"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "nip_not_for_elected_official"
    rank = put(p, KOTA_BOGOR, BANDUNG | {"rank": "Pembina (IV/a)"})
    assert (rank.status_code, rank.json()["code"]) == (422, "rank_not_for_elected_official")
    short = put(p, KOTA_BOGOR, BANDUNG | {"signatory_is_civil_servant": True, "nip": "1970"})
    assert (short.status_code, short.json()["code"]) == (422, "validation_failed")
    assert short.json()["errors"][0]["field"] == "nip"
    assert p.reporting.get(f"/profiles/{KOTA_BOGOR}", headers=p.headers(KOTA_BOGOR)).json()["configured"] is False


def test_a_civil_servant_signing_on_the_heads_behalf_carries_a_nip_and_rank(p: ReportingPlatform) -> None:
    body = {"government_name": "Pemerintah Kabupaten Bandung", "city": "Soreang",
            "signatory_title": "Sekretaris Daerah Kabupaten Bandung", "signatory_name": "Cakra Amiyana",
            "signatory_is_civil_servant": True, "nip": "196805121990031004", "rank": "Pembina Utama Madya (IV/d)"}
    response = put(p, KAB_BANDUNG, body)
    assert response.status_code == 200, response.text
    assert (response.json()["nip"], response.json()["rank"]) == (body["nip"], body["rank"])


def test_a_stale_version_is_a_conflict(p: ReportingPlatform) -> None:
    first = put(p, "32.72", BANDUNG | {"government_name": "Pemerintah Kota Sukabumi", "city": "Sukabumi"})
    assert first.status_code == 200, first.text
    again = put(p, "32.72", BANDUNG | {"government_name": "Pemerintah Kota Sukabumi", "version": 1,
                                       "phone": "(0266) 222000"})
    assert (again.status_code, again.json()["version"]) == (200, 2)
    stale = put(p, "32.72", BANDUNG | {"government_name": "Pemerintah Kota Sukabumi", "version": 1})
    assert (stale.status_code, stale.json()["code"], stale.json()["current_version"]) == (409, "version_conflict", 2)
    missing = put(p, "32.72", BANDUNG | {"government_name": "Pemerintah Kota Sukabumi"})
    assert missing.status_code == 428
    unknown = put(p, "32.79", BANDUNG | {"version": 4})  # Kota Banjar: never saved
    assert (unknown.status_code, unknown.json()["code"]) == (409, "version_conflict")
    assert p.reporting.get("/profiles/32.72", headers=p.headers("32.72")).json()["phone"] == "(0266) 222000"


def test_unknown_or_administrative_regions_have_no_profile(p: ReportingPlatform) -> None:
    assert p.reporting.get("/profiles/31.71", headers=p.headers("national", "monitor")).status_code == 404
    assert p.reporting.get("/profiles/99.99", headers=p.headers("national", "monitor")).status_code == 404
    assert p.reporting.get("/profiles/bandung", headers=p.headers("national", "monitor")).status_code == 400


def test_the_national_level_keeps_the_directorates_profile(p: ReportingPlatform) -> None:
    default = p.reporting.get("/profiles/national", headers=p.headers("national", "monitor")).json()
    assert default["government_name"] == "Kementerian Dalam Negeri Republik Indonesia"
    assert default["signatory_is_civil_servant"] is True
    assert p.reporting.get("/profiles/national", headers=p.headers(JABAR, "admin")).status_code == 404
    body = default | {"signatory_name": "Budi Santoso", "nip": "197203041998031002",
                      "rank": "Pembina Utama Muda (IV/c)"}
    for key in ("region", "configured", "version", "updated_at"):
        body.pop(key)
    saved = put(p, "national", body)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["configured"], saved.json()["nip"]) == (True, "197203041998031002")
