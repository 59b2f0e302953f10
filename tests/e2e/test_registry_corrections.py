"""Corrections (ralat) through HTTP (issue 13 requirement 4): `POST /agreements/{id}/actions/
correct` records a new event naming the corrected step; the history and the audit export
show both, the hash chain still verifies, and the state, the list and the alerts use the
corrected fact. Each test reads Given / When / Then."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tests.e2e.monitoring_platform import Platform, platform
from tests.e2e.test_registry_http import event_count

KOTA, KAB = "32.73", "32.04"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[Platform]:
    with platform(pg_server_url, start=date(2026, 7, 10)) as running:
        yield running


def history(p: Platform, agreement: dict) -> list[dict[str, Any]]:
    response = p.registry.get(f"/agreements/{agreement['id']}/history", headers=p.headers(KOTA))
    assert response.status_code == 200, response.text
    return response.json()


def version_of(p: Platform, agreement: dict, event_type: str) -> int:
    return next(e["version"] for e in history(p, agreement) if e["type"] == event_type)


def correct(p: Platform, agreement: dict, body: dict, tenant: str = KOTA, *roles: str,
            version: int | None = None) -> Any:
    return p.registry.post(f"/agreements/{agreement['id']}/actions/correct", json=body,
                           headers=p.headers(tenant, *roles, version=version or agreement["version"]))


def signed(p: Platform, signed_on: date, title: str) -> dict:
    agreement = p.start(KOTA, [KAB], title=title)
    return p.sign_framework(agreement, signed_on=signed_on, valid_until=date(2031, 2, 15))


def test_a_corrected_signature_date_shows_in_the_state_the_list_and_the_history_with_the_original(
    p: Platform,
) -> None:
    # Given a framework recorded as signed on 2026-02-16 (its offer that day), a typo for 2026-02-20
    agreement = signed(p, date(2026, 2, 16), "Ralat tanggal tanda tangan")
    step = version_of(p, agreement, "FrameworkSigned")
    # When the initiator's operator corrects it, naming the step's version and the reason
    response = correct(p, agreement, {"version": step, "changes": {"signed_on": "2026-02-20"},
                                      "reason": "Tanggal pada naskah asli 20 Februari 2026"})
    # Then the answer is the corrected state, one version later
    assert response.status_code == 200, response.text
    corrected = response.json()
    assert corrected["framework"]["signed_on"] == "2026-02-20"
    assert corrected["version"] == agreement["version"] + 1
    assert response.headers["etag"] == f'"{corrected["version"]}"'
    # And GET shows the corrected fact
    got = p.registry.get(f"/agreements/{agreement['id']}", headers=p.headers(KAB)).json()
    assert got["framework"]["signed_on"] == "2026-02-20"
    # And the history shows both: the step as recorded, and the correction naming it
    entries = history(p, agreement)
    assert next(e for e in entries if e["version"] == step)["data"]["signed_on"] == "2026-02-16"
    last = entries[-1]
    assert last["type"] == "Corrected" and last["version"] == corrected["version"]
    assert last["data"]["corrects_version"] == step
    assert last["data"]["changes"] == {"signed_on": "2026-02-20"}
    assert last["data"]["previous"] == {"signed_on": "2026-02-16"}
    assert last["data"]["reason"] == "Tanggal pada naskah asli 20 Februari 2026"
    assert last["prev_hash"] == entries[-2]["hash"]
    # And the hash chain still verifies, and the audit export carries both too
    verified = p.registry.get(f"/agreements/{agreement['id']}/verify", headers=p.headers(KOTA)).json()
    assert verified["valid"] is True and verified["events"] == len(entries)
    exported = p.registry.get(f"/agreements/{agreement['id']}/export", headers=p.headers("national", "auditor"))
    assert exported.status_code == 200, exported.text
    assert "Corrected" in exported.text and '"signed_on":"2026-02-16"' in exported.text.replace(" ", "")
    # And the read model (the list) follows the corrected date
    p.sync()
    listed = p.registry.get("/agreements", params={"signed_from": "2026-02-20", "signed_to": "2026-02-20"},
                            headers=p.headers(KOTA)).json()["items"]
    assert [a["id"] for a in listed] == [agreement["id"]]
    assert listed[0]["framework"]["signed_on"] == "2026-02-20"
    assert p.registry.get("/agreements", params={"signed_from": "2026-02-16", "signed_to": "2026-02-16"},
                          headers=p.headers(KOTA)).json()["items"] == []


def test_a_stale_if_match_is_a_409_and_nothing_is_recorded(p: Platform) -> None:
    # Given a signed framework, and a caller who saw an earlier version
    agreement = signed(p, date(2026, 3, 2), "Ralat versi usang")
    step = version_of(p, agreement, "FrameworkSigned")
    before = event_count(p.url)
    # When the correction is sent with that earlier version
    response = correct(p, agreement, {"version": step, "changes": {"number": "KB/REV"}, "reason": "Nomor keliru"},
                       version=agreement["version"] - 1)
    # Then it is a version conflict, naming the current version, and nothing is recorded
    assert response.status_code == 409, response.text
    assert response.json()["current_version"] == agreement["version"]
    assert event_count(p.url) == before


def test_a_correction_that_breaks_a_rule_is_refused_with_that_rules_code(p: Platform) -> None:
    # Given a PKS signed on 2026-04-01 under a framework signed on 2026-03-02
    agreement = signed(p, date(2026, 3, 2), "Ralat melanggar aturan")
    p.sign_pks(agreement, signed_on=date(2026, 4, 1), start_on=date(2026, 4, 1), end_on=date(2028, 3, 31))
    step = version_of(p, agreement, "FrameworkSigned")
    before = event_count(p.url)
    # When the framework's signature is corrected to a day after the PKS's draft
    response = correct(p, agreement, {"version": step, "changes": {"signed_on": "2026-04-10"},
                                      "reason": "Salah tanggal"})
    # Then it is refused as the PKS's draft would have been, naming the framework's signature
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "date_out_of_order"
    assert response.json()["conflicts_with"] == {"step": "sign-framework", "date": "2026-04-10"}
    # And a field the step did not record, or no reason, is refused; nothing is recorded
    wrong_field = correct(p, agreement, {"version": step, "changes": {"end_on": "2030-01-01"}, "reason": "Keliru"})
    assert (wrong_field.status_code, wrong_field.json()["code"]) == (422, "field_not_recorded")
    no_reason = correct(p, agreement, {"version": step, "changes": {"number": "KB/X"}})
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "validation_failed"
    assert event_count(p.url) == before


def test_a_national_token_cannot_correct_a_regions_step(p: Platform) -> None:
    # Given a signed framework
    agreement = signed(p, date(2026, 3, 2), "Ralat oleh nasional")
    step = version_of(p, agreement, "FrameworkSigned")
    # When the national level tries to correct its number
    response = correct(p, agreement, {"version": step, "changes": {"number": "KB/N"}, "reason": "Koreksi"},
                       "national", "approver")
    # Then it is forbidden
    assert response.status_code == 403, response.text


def test_alerts_follow_the_corrected_fact(p: Platform) -> None:
    # Given a Kesepakatan Bersama recorded as signed 2025-12-01 and no PKS: 180 days later, an alert
    agreement = signed(p, date(2025, 12, 1), "Ralat peringatan")
    assert ("kb_without_pks", "2026-05-30") in p.alerts_of(agreement)
    # When its signature date is corrected to 2026-03-02 (180 days on: 2026-08-29, still ahead)
    response = correct(p, agreement, {"version": version_of(p, agreement, "FrameworkSigned"),
                                      "changes": {"signed_on": "2026-03-02"}, "reason": "Salah ketik tahun"})
    assert response.status_code == 200, response.text
    # Then the alert is no longer raised: monitoring reads the corrected date
    p.tick()
    assert "kb_without_pks" not in {kind for kind, _ in p.alerts_of(agreement)}
