"""Which recorded facts a correction (ralat) may change: the registry names them on each step
of `GET /agreements/{id}/history` (`correctable_facts`), and the web, a client of that API,
offers "Ralat" and its fields from it (it imports nothing of the registry)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.web.test_agreement_detail import act, attach, start, value_of


def history(live: Any, agreement: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.get(f"{live.registry}/agreements/{agreement['id']}/history",
                         headers={"Authorization": f"Bearer {live.token('bandung')}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_history_names_the_facts_each_step_may_have_corrected(live: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (fakta ralat)")
    agreement = act(live, agreement, "submit-offer", {"reference": "006/RALAT/2026", "sent_on": "2026-02-03"})
    agreement = attach(live, agreement, "kak.pdf")
    by_type = {e["type"]: e for e in history(live, agreement)}
    assert by_type["Started"]["correctable_facts"] == ["drafted_on", "value_idr"]
    assert by_type["OfferSubmitted"]["correctable_facts"] == ["reference", "sent_on"]
    assert by_type["DocumentAttached"]["correctable_facts"] == []  # states no fact to correct
    # Not part of what was recorded: the chain's fields are unchanged beside it.
    assert {"version", "type", "topic", "recorded_at", "actor", "data", "prev_hash", "hash"} <= set(by_type["Started"])


def test_the_page_offers_ralat_where_the_registry_says_a_step_has_facts_to_correct(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (tombol ralat)", drafted_on="2026-01-06")
    agreement = attach(live, agreement, "kak.pdf")
    bandung = web("bandung")
    page = bandung.get(f"/kerja-sama/{agreement['id']}").text
    assert 'data-aksi="correct" data-versi="1"' in page  # Started: its date and value
    assert 'data-aksi="correct" data-versi="2"' not in page  # an attachment: nothing to correct

    form = bandung.get(f"/kerja-sama/{agreement['id']}/aksi/correct?versi=1")
    assert form.status_code == 200
    assert value_of(form.text, "changes.drafted_on") == "2026-01-06"
    assert 'name="changes.value_idr"' in form.text
