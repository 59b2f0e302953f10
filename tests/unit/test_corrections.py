"""Corrections (ralat, issue 13 requirement 4): a mistyped date, number, value or signatory of
a recorded step is corrected by a new event that names the step's version and says why. It is
decided as if the step had stated the corrected facts from the start (a correction that would
break a rule is refused with that rule's code), and the state follows the corrected facts.

Each test reads Given / When / Then.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from services.registry.domain import commands as c
from services.registry.domain.agreement import Agreement, Form, effective_events
from shared.errors import Forbidden, KsdError, RuleViolation
from tests.unit.lifecycle import AT, DAY, KAB, KOTA, NATIONAL, caller, to_implementation, to_signed

LOG: dict[UUID, list[Any]] = {}


@pytest.fixture(autouse=True)
def recorded_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every event each family records, as the event store would."""
    LOG.clear()
    collect = Agreement.collect_events

    def collecting(self: Agreement) -> list[Any]:
        events = collect(self)
        LOG.setdefault(self.id, []).extend(events)
        return events

    monkeypatch.setattr(Agreement, "collect_events", collecting)


def history(agreement: Agreement) -> list[Any]:
    return LOG[agreement.id]


def version_of(agreement: Agreement, event_type: type, **match: Any) -> int:
    return next(e.originator_version for e in history(agreement)
                if isinstance(e, event_type) and all(getattr(e, k) == v for k, v in match.items()))


def correct(agreement: Agreement, version: int, reason: str = "Salah ketik pada pencatatan", by: str = KOTA,
            **changes: Any) -> Agreement.Corrected:
    command = c.Correct(version=version, changes=changes, reason=reason, history=tuple(history(agreement)))
    agreement.execute(command, by=caller(by), at=AT)
    (event,) = agreement.collect_events()
    return event


def refusal(agreement: Agreement, version: int, reason: str = "Salah ketik", by: str = KOTA,
            **changes: Any) -> KsdError:
    """The refusal of a correction; the family unchanged and nothing recorded."""
    before = copy.deepcopy(agreement.to_state())
    command = c.Correct(version=version, changes=changes, reason=reason, history=tuple(history(agreement)))
    with pytest.raises((RuleViolation, Forbidden)) as caught:
        agreement.execute(command, by=caller(by), at=AT)
    assert agreement.to_state() == before and agreement.collect_events() == []
    return caught.value


def replayed(agreement: Agreement) -> Agreement:
    """The family rebuilt from its recorded events, as the event store and every read model do."""
    rebuilt = None
    for event in history(agreement):
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None
    return rebuilt


def test_a_signed_on_corrected_changes_the_state_and_keeps_the_original_step() -> None:
    # Given a framework recorded as signed on 2026-05-20, a typo for 2026-05-21
    agreement = to_signed()
    signed = version_of(agreement, Agreement.FrameworkSigned)
    # When the initiator's operator corrects it, with a reason
    event = correct(agreement, signed, reason="Tanggal pada naskah 21 Mei 2026", signed_on=date(2026, 5, 21))
    # Then a correction naming the step, the field, its old and new value and the reason is recorded
    assert (event.corrects_version, event.step_version, event.step) == (signed, signed, "FrameworkSigned")
    assert event.changes == {"signed_on": "2026-05-21"} and event.previous == {"signed_on": "2026-05-20"}
    assert event.reason == "Tanggal pada naskah 21 Mei 2026"
    # And the state holds the corrected date, the original step stays as recorded
    assert agreement.framework["signed_on"] == "2026-05-21"
    assert history(agreement)[signed - 1].signed_on == "2026-05-20"
    # And a replay of the history gives the same state
    assert replayed(agreement).to_state() == agreement.to_state()


def test_a_partner_region_may_correct_a_step_and_a_number_and_signatories_too() -> None:
    # Given a signed framework
    agreement = to_signed()
    signed = version_of(agreement, Agreement.FrameworkSigned)
    new_signatory = c.Signatory(KAB, "Dadang Supriatna", "Bupati Bandung", c.Capacity.KEPALA_DAERAH)
    kota = c.Signatory(KOTA, "Kepala 32.73", "Kepala Daerah 32.73", c.Capacity.KEPALA_DAERAH)
    # When the partner region corrects its number and its signatories
    correct(agreement, signed, by=KAB, number="KB/01/2026-REV", signatories=(kota, new_signatory))
    # Then both are corrected
    assert agreement.framework["number"] == "KB/01/2026-REV"
    assert [s["name"] for s in agreement.framework["signatories"]] == ["Kepala 32.73", "Dadang Supriatna"]


def test_a_correction_that_would_break_a_later_steps_rule_is_refused_with_that_rules_code() -> None:
    # Given a PKS running until 2028-05-31 under a framework valid until 2031-05-19
    agreement, _ = to_implementation()
    signed = version_of(agreement, Agreement.FrameworkSigned)
    # When the framework's validity is corrected to end before the PKS does
    error = refusal(agreement, signed, valid_until=date(2027, 12, 31))
    # Then it is refused as the PKS's signature would have been
    assert error.code == "pks_outside_framework_validity"


def test_a_correction_that_breaks_the_steps_own_order_is_refused_naming_the_conflict() -> None:
    # Given a PKS drafted and signed on 2026-05-20 under a framework signed that day
    agreement, _pks = to_implementation()
    pks_signed = version_of(agreement, Agreement.PksSigned)
    # When its signature is corrected to a day before the framework's
    error = refusal(agreement, pks_signed, signed_on=date(2026, 5, 1))
    # Then the order rule refuses it and names the step it conflicts with
    assert error.code == "date_out_of_order"
    assert error.extra["conflicts_with"]["date"] == "2026-05-20"
    # And a term beyond the limit is refused as at signature
    assert refusal(agreement, pks_signed, end_on=date(2032, 1, 1)).code == "duration_exceeds_limit"
    # And a date in the future of the recording too
    assert refusal(agreement, pks_signed, signed_on=date(2027, 1, 1)).code == "date_in_future"


def test_a_reason_is_required() -> None:
    # Given a signed framework
    agreement = to_signed()
    # When a correction gives no reason
    error = refusal(agreement, version_of(agreement, Agreement.FrameworkSigned), reason="   ",
                    signed_on=date(2026, 5, 21))
    # Then it is refused
    assert error.code == "reason_required"


def test_a_field_the_step_did_not_record_is_refused() -> None:
    # Given an offer (it records a reference and the day it was sent)
    agreement = to_signed()
    offered = version_of(agreement, Agreement.OfferSubmitted)
    # When a correction names a signature date for it
    error = refusal(agreement, offered, signed_on=date(2026, 5, 21))
    # Then it is refused, naming what may be corrected
    assert error.code == "field_not_recorded" and error.extra["allowed"] == ["reference", "sent_on"]
    # in words: the step and its facts as a person names them, not the event's or fields' codes
    assert error.detail == (
        f"Langkah ke-{offered} (pengiriman penawaran) tidak mencatat tanggal penandatanganan; yang dapat "
        "diralat: nomor surat, tanggal surat penawaran."
    )
    # And an unknown version, an empty correction, an unchanged value are refused too
    assert refusal(agreement, 999, sent_on=DAY).code == "unknown_version"
    empty = refusal(agreement, offered)
    assert empty.code == "changes_required"
    assert empty.detail == "Sebutkan fakta yang diralat beserta nilai barunya."
    assert refusal(agreement, offered, sent_on=DAY).code == "nothing_to_correct"


def test_correcting_a_correction() -> None:
    # Given a signature date corrected once
    agreement = to_signed()
    signed = version_of(agreement, Agreement.FrameworkSigned)
    first = correct(agreement, signed, signed_on=date(2026, 5, 22))
    # When that correction is itself corrected
    second = correct(agreement, first.originator_version, reason="Ralat atas ralat", signed_on=date(2026, 5, 21))
    # Then it names the correction, and the step it corrects in the end
    assert (second.corrects_version, second.step_version) == (first.originator_version, signed)
    assert second.previous == {"signed_on": "2026-05-22"}
    assert agreement.framework["signed_on"] == "2026-05-21"
    assert replayed(agreement).to_state() == agreement.to_state()
    # And a field the first correction did not change is refused
    assert refusal(agreement, first.originator_version, number="X").code == "field_not_recorded"


def test_a_corrected_termination_date_moves_the_day_the_family_ended() -> None:
    # Given a framework with no PKS ended on 2026-05-25
    agreement = to_signed()
    agreement.execute(c.Terminate(c.FRAMEWORK, c.Ground.MASA_BERLAKU_HABIS, "BA/09/2026", date(2026, 5, 25)),
                      by=caller(KOTA), at=AT)
    agreement.collect_events()
    assert agreement.ended_on == "2026-05-25"
    # When its date is corrected (a closed family still takes corrections)
    correct(agreement, version_of(agreement, Agreement.Terminated), terminated_on=date(2026, 5, 28))
    # Then the family ended on the corrected day
    assert agreement.ended_on == "2026-05-28"
    assert agreement.framework["termination"]["terminated_on"] == "2026-05-28"


def test_a_corrected_value_and_pks_end_reach_the_state() -> None:
    # Given a cooperation worth 1 billion with a PKS worth nothing stated, ending 2028-05-31
    agreement, pks = to_implementation()
    # When the cooperation's value, the PKS's and the PKS's end are corrected
    correct(agreement, 1, value_idr=1_500_000_000)
    correct(agreement, version_of(agreement, Agreement.PksDrafted), value_idr=250_000_000)
    correct(agreement, version_of(agreement, Agreement.PksSigned), end_on=date(2029, 5, 31))
    # Then the state holds them
    assert agreement.value_idr == 1_500_000_000
    assert agreement.pks_by_id(pks)["value_idr"] == 250_000_000
    assert agreement.pks_by_id(pks)["end_on"] == "2029-05-31"
    assert replayed(agreement).to_state() == agreement.to_state()


def test_the_central_decision_is_corrected_by_the_national_level_a_dprd_decision_by_its_region() -> None:
    # Given a KSDPL whose DPRD and central approvals are recorded
    agreement = to_signed(Form.KSDPL)
    central = version_of(agreement, Agreement.ApprovalRecorded, kind="central")
    dprd = version_of(agreement, Agreement.ApprovalRecorded, kind="dprd")
    # When the region corrects the central decision's number, it is refused
    assert refusal(agreement, central, reference="B/100/2026").code == "central_approval_recorded_by_national"
    # And the national level may
    correct(agreement, central, by=NATIONAL, reference="B/100/2026")
    assert [a["decision_reference"] for a in agreement.approvals if a["kind"] == "central"] == ["B/100/2026"]
    # And the national level may not correct the DPRD's decision
    assert refusal(agreement, dprd, by=NATIONAL, reference="X/1").code == "not_a_party"
    # And a decision corrected to after the framework's signature is refused as that signature was
    assert refusal(agreement, central, by=NATIONAL, decided_on=date(2026, 5, 30)).code == "signed_before_approval"


def test_the_effective_history_carries_the_corrected_facts_without_the_corrections() -> None:
    # Given a signature date corrected
    agreement = to_signed()
    signed = version_of(agreement, Agreement.FrameworkSigned)
    correct(agreement, signed, signed_on=date(2026, 5, 21))
    # When the history is read as its facts stand now
    events = effective_events(history(agreement))
    # Then the step states the corrected date and the correction itself is left out
    assert next(e for e in events if isinstance(e, Agreement.FrameworkSigned)).signed_on == "2026-05-21"
    assert not any(isinstance(e, Agreement.Corrected) for e in events)
