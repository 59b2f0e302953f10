"""The issue's scenario, from an empty platform: frameworks signed in three regions (DIY,
Jawa Barat, Kalimantan Timur), thirteen months pass, and the national `alerts` query shows
exactly the alerts the ministry should see. Everything goes through HTTP; only the clock
and the worker's rounds are driven by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from tests.e2e.monitoring_platform import Platform, platform

YOGYA, SLEMAN, BANTUL = "34.71", "34.04", "34.02"
JABAR, KOTA_BANDUNG, KAB_BANDUNG = "32", "32.73", "32.04"
KUKAR, SAMARINDA = "64.02", "64.72"

ALERTS_QUERY = """
query { alerts(filter: {state: "open"}, first: 100) {
  items { kind severity agreementId region regions since level message }
} }
"""


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[Platform]:
    with platform(pg_server_url) as running:
        yield running


def test_three_regions_sign_time_passes_and_the_national_alerts_are_exactly_these(p: Platform) -> None:
    day0 = p.today  # 5 Januari 2026
    assert day0 == date(2026, 1, 5)

    # DIY: Kartamantul, a PKS in force from February 2026 to March 2027.
    kartamantul = p.start(YOGYA, [SLEMAN, BANTUL], category="wajib", title="Kartamantul")
    p.sign_framework(kartamantul, signed_on=day0, valid_until=date(2031, 1, 4))
    p.sign_pks(kartamantul, signed_on=day0, start_on=date(2026, 2, 1), end_on=date(2027, 3, 31))

    # Jawa Barat: Legok Nangka, a framework and no PKS; the PKS draft waits for the DPRD.
    legok = p.start(JABAR, [KOTA_BANDUNG, KAB_BANDUNG], title="TPPAS Legok Nangka", budgeted=False)
    p.sign_framework(legok, signed_on=day0, valid_until=date(2030, 12, 31))
    p.act(legok, "draft-pks", {"title": "PKS angkutan sampah", "object": "Angkutan"}, JABAR)
    p.act(legok, "request-approval", {"kind": "dprd", "document": legok["pks"][0]["id"], "reference": "mohon/DPRD",
                                      "requested_on": day0.isoformat()}, KOTA_BANDUNG)

    # Kalimantan Timur: everything ends on 31 December 2026 and nobody records the end.
    kaltim = p.start(KUKAR, [SAMARINDA], title="Air minum Kukar-Samarinda")
    p.sign_framework(kaltim, signed_on=day0, valid_until=date(2026, 12, 31))
    p.sign_pks(kaltim, signed_on=day0, start_on=date(2026, 1, 10), end_on=date(2026, 12, 31))
    p.tick()

    # On day 0: only Jawa Barat (the province) cooperates with no neighbouring province.
    assert {(a["kind"], a["region"]) for a in p.alerts()} == {("no_neighbour_cooperation", JABAR)}

    # Reports for 2026-S2 arrive in January 2027, except Bantul's.
    p.advance_to(date(2027, 1, 15))
    for agreement, region in ((kartamantul, YOGYA), (kartamantul, SLEMAN), (kaltim, KUKAR), (kaltim, SAMARINDA)):
        p.report(agreement, region, "2026-S2")

    p.advance_to(date(2027, 2, 15))  # 406 days after the signing
    response = p.monitoring.post("/graphql", json={"query": ALERTS_QUERY}, headers=p.headers("national", "monitor"))
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    alerts = response.json()["data"]["alerts"]["items"]
    got = sorted((a["kind"], a["agreementId"], a["region"], tuple(a["regions"]), a["since"], a["severity"], a["level"])
                 for a in alerts)
    pks_k = kartamantul["pks"][0]["id"]
    expected = sorted([
        # Legok Nangka: 180 days after the framework, still no PKS.
        ("KB_WITHOUT_PKS", legok["id"], None, (JABAR, KOTA_BANDUNG, KAB_BANDUNG), "2026-07-04", "WARNING", None),
        # ... and the DPRD of Kota Bandung has not decided in 30 days.
        ("APPROVAL_PENDING", legok["id"], None, (KOTA_BANDUNG,), "2026-02-04", "WARNING", None),
        # Kartamantul: Bantul never reported 2026-S2 (due 30 January 2027) ...
        ("PKS_WITHOUT_PROGRESS", kartamantul["id"], None, (BANTUL,), "2027-01-31", "WARNING", None),
        # ... and its PKS ends on 31 March 2027: within 60 days since 30 January.
        ("EXPIRING", kartamantul["id"], None, (YOGYA, SLEMAN, BANTUL), "2027-01-30", "INFO", 60),
        # Kukar-Samarinda: framework and PKS past their end, still recorded as in force.
        ("EXPIRED_STILL_ACTIVE", kaltim["id"], None, (KUKAR, SAMARINDA), "2027-01-01", "CRITICAL", None),
        ("EXPIRED_STILL_ACTIVE", kaltim["id"], None, (KUKAR, SAMARINDA), "2027-01-01", "CRITICAL", None),
        # Jawa Barat still cooperates with none of Banten, DKI Jakarta and Jawa Tengah.
        ("NO_NEIGHBOUR_COOPERATION", None, JABAR, (JABAR,), "2026-01-05", "INFO", None),
    ])
    assert got == expected, "\n".join(map(str, got))
    by_kind = {a["kind"]: a for a in alerts}
    assert by_kind["PKS_WITHOUT_PROGRESS"]["message"].endswith("Semester II 2026 dari daerah Kabupaten Bantul (34.02).")
    assert by_kind["EXPIRING"]["message"].endswith("berakhir 31 Maret 2027 (44 hari lagi).")
    assert [a["details"]["document"] for a in p.alerts(kind="expiring")] == [f"pks:{pks_k}"]
    assert {a["details"]["document"] for a in p.alerts(kind="expired_still_active")} == {
        "framework", f"pks:{kaltim['pks'][0]['id']}"}

    # A province sees its own; a kab/kota its own agreements' alerts and nothing else.
    assert {a["agreement_id"] for a in p.alerts(JABAR)} == {legok["id"], None}
    assert {a["agreement_id"] for a in p.alerts(BANTUL)} == {kartamantul["id"]}
    assert p.alerts("35") == []

    # The causes go away, and so do the alerts: Bantul reports, the DPRD decides, Kaltim
    # records both ends (and with that, Kukar and Samarinda no longer cooperate at all).
    p.report(kartamantul, BANTUL, "2026-S2")
    p.act(legok, "record-approval", {"kind": "dprd", "document": legok["pks"][0]["id"], "decision": "approved",
                                     "reference": "Kep/1", "decided_on": "2027-02-15"}, KOTA_BANDUNG)
    for document in (kaltim["pks"][0]["id"], "framework"):
        p.act(kaltim, "terminate", {"document": document, "ground": "masa_berlaku_habis", "reference": f"BA/{document}",
                                    "terminated_on": "2026-12-31"}, KUKAR)
    remaining = sorted((a["kind"], a["agreement_id"] or a["region"]) for a in p.alerts())
    assert remaining == sorted([
        ("expiring", kartamantul["id"]), ("kb_without_pks", legok["id"]), ("no_neighbour_cooperation", JABAR),
        ("no_neighbour_cooperation", KUKAR), ("no_neighbour_cooperation", SAMARINDA),
    ]), remaining
    cleared = {(a["kind"], a["agreement_id"]) for a in p.alerts(state="cleared")}
    assert {("pks_without_progress", kartamantul["id"]), ("approval_pending", legok["id"]),
            ("expired_still_active", kaltim["id"])} <= cleared
