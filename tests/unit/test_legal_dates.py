"""Facts as they happened (issue 13): every step carries the day it legally happened, the
aggregate refuses an order the law does not allow and names the step it conflicts with; the
central government's decision is recorded by the national level; wajib means neighbours.

Each test reads Given / When / Then.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.monitoring.domain.reports import ProgressReport
from services.registry.domain import commands as c
from services.registry.domain.agreement import Agreement, Category, Form, RegionParty, wajib_pair_allowed
from shared.errors import Forbidden, KsdError, RuleViolation
from shared.periods import Period
from shared.regions import load_regions
from tests.unit.lifecycle import (
    AT,
    DAY,
    KAB,
    KOTA,
    NATIONAL,
    act,
    approve,
    caller,
    draft_pks,
    offer,
    sign_framework,
    sign_pks,
    signatories,
    start,
    to_negotiation,
    to_signed,
)

REGIONS = load_regions()


def refusal(agreement: Agreement, command: Any, by: str = KOTA) -> KsdError:
    """The refusal of `command`; the family unchanged and nothing recorded."""
    before = copy.deepcopy(agreement.to_state())
    with pytest.raises((RuleViolation, Forbidden)) as caught:
        agreement.execute(command, by=caller(by), at=AT)
    assert agreement.to_state() == before and agreement.collect_events() == []
    return caught.value


def conflict(error: KsdError) -> tuple[str | None, dict | None]:
    return error.code, error.extra.get("conflicts_with")


# -- an answer, a signature, a draft: never before the step they follow -------------------------


def test_an_offer_response_dated_before_its_offer_is_refused_naming_the_offer() -> None:
    # Given an offer sent on 2026-06-01
    agreement = start()
    act(agreement, c.SubmitOffer("005/KS/2026", date(2026, 6, 1)))
    # When the partner's answer is dated 2026-05-01
    error = refusal(agreement, c.RecordOfferResponse("accepted", "jawab/1", date(2026, 5, 1)), by=KAB)
    # Then it is refused, naming the offer and both dates as an official writes them
    assert conflict(error) == ("date_out_of_order", {"step": "submit-offer", "date": "2026-06-01"})
    assert error.detail == (
        "Tanggal jawaban penawaran (1 Mei 2026) mendahului pengiriman penawaran (1 Juni 2026), "
        "yang harus lebih dulu."
    )


def test_a_framework_signed_before_its_offer_was_answered_is_refused_naming_the_answer() -> None:
    # Given an offer sent on 2026-01-12 and accepted on 2026-01-20
    agreement = start()
    act(agreement, c.SubmitOffer("005/KS/2026", date(2026, 1, 12)))
    act(agreement, c.RecordOfferResponse("accepted", "jawab/1", date(2026, 1, 20)), by=KAB)
    # When the framework is signed on 2025-12-01
    error = refusal(agreement, c.SignFramework("KB/1", date(2025, 12, 1), date(2025, 12, 1), date(2030, 12, 1),
                                               signatories(agreement)))
    # Then it is refused, naming the latest step it would precede
    assert conflict(error) == ("date_out_of_order", {"step": "record-offer-response", "date": "2026-01-20"})


def test_an_offer_sent_before_the_cooperation_was_prepared_is_refused_naming_its_start() -> None:
    # Given a cooperation prepared on 2026-03-01
    agreement = Agreement.start(
        id=uuid4(), actor=caller(KOTA).actor, at=AT, form=Form.KSDD, category=Category.WAJIB, title="Sampah",
        object="TPPAS", urusan=["2.11"], initiator=KOTA, partners=[RegionParty(KAB)], value_idr=None,
        burdens_community=False, budgeted_in_apbd=True, adjacency=REGIONS, drafted_on=date(2026, 3, 1),
    )
    agreement.collect_events()
    assert agreement.drafted_on == "2026-03-01"
    # When its offer is dated 2026-02-01
    error = refusal(agreement, c.SubmitOffer("005/KS/2026", date(2026, 2, 1)))
    # Then it is refused, naming the start in words and both dates as an official writes them
    assert conflict(error) == ("date_out_of_order", {"step": "create", "date": "2026-03-01"})
    assert error.detail == (
        "Tanggal surat penawaran (1 Februari 2026) mendahului penyiapan kerja sama (1 Maret 2026), "
        "yang harus lebih dulu."
    )


def test_a_cooperation_without_a_stated_preparation_day_was_prepared_the_day_it_is_recorded() -> None:
    # Given no preparation day stated, When the cooperation starts at 23:30 UTC on 2026-05-31
    late = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    agreement = Agreement.start(
        id=uuid4(), actor=caller(KOTA).actor, at=late, form=Form.KSDD, category=Category.SUKARELA, title="T",
        object="O", urusan=["2.11"], initiator=KOTA, partners=[RegionParty(KAB)], value_idr=None,
        burdens_community=False, budgeted_in_apbd=True, adjacency=REGIONS,
    )
    # Then it was prepared on that day in WIB (already 1 June in Jakarta)
    assert agreement.drafted_on == "2026-06-01"


def test_a_signature_before_the_approval_it_needs_is_refused_naming_the_approval() -> None:
    # Given a SINERGI framework that burdens the community, approved by the DPRD on 2026-05-25
    agreement = to_negotiation(Form.SINERGI, burdens_community=True)
    act(agreement, c.RequestApproval("dprd", "mohon/1", date(2026, 5, 21)))
    act(agreement, c.RecordApproval("dprd", "approved", "SK/1", date(2026, 5, 25)))
    # When the framework is signed on 2026-05-24
    error = refusal(agreement, c.SignFramework("NK/1", date(2026, 5, 24), date(2026, 5, 24), date(2030, 1, 1),
                                               signatories(agreement), rencana_kerja=("DED",)))
    # Then it is refused, naming the approval
    assert conflict(error) == ("signed_before_approval", {"step": "record-approval", "date": "2026-05-25"})


def test_a_pks_drafted_before_its_framework_was_signed_is_refused_naming_the_signature() -> None:
    # Given a framework signed on 2026-05-20
    agreement = to_signed()
    # When a PKS is stated as drafted on 2026-05-01
    error = refusal(agreement, c.DraftPks("PKS", "Objek", drafted_on=date(2026, 5, 1)))
    # Then it is refused, naming the framework's signature
    assert conflict(error) == ("date_out_of_order", {"step": "sign-framework", "date": "2026-05-20"})


def test_a_pks_drafted_without_a_date_was_drafted_the_day_it_is_recorded_in_wib() -> None:
    # Given a signed framework, When a PKS is drafted with no date at 23:30 UTC on 2026-05-31
    agreement = to_signed()
    agreement.execute(c.DraftPks("PKS", "Objek"), by=caller(KOTA), at=datetime(2026, 5, 31, 23, 30, tzinfo=UTC))
    # Then its draft is dated 1 June, the day in Jakarta
    assert agreement.pks[0]["drafted_on"] == "2026-06-01"


def test_a_pks_signed_before_it_was_drafted_is_refused_naming_the_draft() -> None:
    # Given a PKS drafted on 2026-05-28
    agreement = to_signed()
    pks = draft_pks(agreement, drafted_on=date(2026, 5, 28))
    # When it is signed on 2026-05-25
    error = refusal(agreement, c.SignPks(pks, "PKS/1", date(2026, 5, 25), date(2026, 6, 1), date(2027, 6, 1),
                                         signatories(agreement)))
    # Then it is refused, naming the draft
    assert conflict(error) == ("date_out_of_order", {"step": "draft-pks", "date": "2026-05-28"})


def test_dprd_steps_before_the_draft_they_concern_are_refused_naming_the_step() -> None:
    # Given a burdening PKS drafted on 2026-05-25
    agreement = to_signed(burdens_community=True)
    pks = draft_pks(agreement, drafted_on=date(2026, 5, 25))
    # When its DPRD approval is requested on 2026-05-22
    early = refusal(agreement, c.RequestApproval("dprd", "mohon/1", date(2026, 5, 22), document=pks))
    # Then it is refused, naming the draft
    assert conflict(early) == ("date_out_of_order", {"step": "draft-pks", "date": "2026-05-25"})
    # And a decision dated before its request is refused, naming the request
    act(agreement, c.RequestApproval("dprd", "mohon/1", date(2026, 5, 27), document=pks))
    decided = refusal(agreement, c.RecordApproval("dprd", "approved", "SK/1", date(2026, 5, 26), document=pks))
    assert conflict(decided) == ("date_before_request", {"step": "request-approval", "date": "2026-05-27"})


def test_a_framework_approval_requested_before_the_offer_was_accepted_is_refused() -> None:
    # Given a KSDPL whose partner accepted the offer on 2026-05-20
    agreement = to_negotiation(Form.KSDPL)
    # When the DPRD approval of the MoU draft is requested on 2026-05-10
    error = refusal(agreement, c.RequestApproval("dprd", "mohon/1", date(2026, 5, 10)))
    # Then it is refused: there was no draft yet
    assert error.code == "date_out_of_order"
    assert error.extra["conflicts_with"]["step"] in ("submit-offer", "record-offer-response")


# -- a PKS lives within its framework ---------------------------------------------------------------


def test_a_pks_ending_after_its_framework_is_refused_unless_an_exception_is_referenced() -> None:
    # Given a Kesepakatan Bersama valid until 2031-02-15
    agreement = to_negotiation()
    sign_framework(agreement, valid_until=date(2031, 2, 15))
    pks = draft_pks(agreement)
    # When a PKS is signed to end on 2031-12-31
    late = c.SignPks(pks, "PKS/1", DAY, date(2027, 1, 1), date(2031, 12, 31), signatories(agreement))
    error = refusal(agreement, late)
    # Then it is refused, naming the framework and its end
    assert conflict(error) == ("pks_outside_framework_validity", {"step": "sign-framework", "date": "2031-02-15"})
    assert error.extra["valid_until"] == "2031-02-15"
    assert "berakhir sesudah masa berlaku Kesepakatan Bersama-nya (31 Desember 2031;" in error.detail
    assert "sampai dengan 15 Februari 2031" in error.detail and "exception_reference" not in error.detail
    # And with the exception's reference it is accepted
    (event,) = act(agreement, c.SignPks(pks, "PKS/1", DAY, date(2027, 1, 1), date(2031, 12, 31),
                                        signatories(agreement), exception_reference="UU 23/2014 Pasal 363"))
    assert event.end_on == "2031-12-31"


def test_a_pks_starting_before_its_framework_is_valid_is_refused() -> None:
    # Given a framework valid from 2026-05-20
    agreement = to_signed()
    pks = draft_pks(agreement)
    # When a PKS is signed to start on 2026-05-01
    error = refusal(agreement, c.SignPks(pks, "PKS/1", DAY, date(2026, 5, 1), date(2027, 5, 1),
                                         signatories(agreement)))
    # Then it is refused, naming the framework's start
    assert conflict(error) == ("pks_outside_framework_validity", {"step": "sign-framework", "date": "2026-05-20"})


def test_a_pks_extended_past_its_framework_is_refused_unless_excepted() -> None:
    # Given a PKS in force until 2028-05-31 under a framework valid until 2031-05-19
    agreement = to_signed()
    pks = draft_pks(agreement)
    sign_pks(agreement, pks)
    # When it is extended to 2031-06-30
    error = refusal(agreement, c.Extend(pks, "EXT/1", date(2026, 5, 30), date(2031, 6, 30)))
    # Then it is refused; with the exception's reference it is accepted
    assert error.code == "pks_outside_framework_validity"
    act(agreement, c.Extend(pks, "EXT/1", date(2026, 5, 30), date(2031, 6, 30), "UU 23/2014 Pasal 363"))


def test_steps_after_signature_are_not_dated_before_it() -> None:
    # Given a PKS signed on 2026-05-20
    agreement = to_signed()
    pks = draft_pks(agreement)
    sign_pks(agreement, pks)
    # When it is amended, or ended, on 2026-05-19
    for command in (c.Amend(pks, "ADD/1", date(2026, 5, 19), "Pasal 5"),
                    c.Terminate(pks, c.Ground.PARA_PIHAK_SEPAKAT, "BA/1", date(2026, 5, 19))):
        # Then each is refused, naming the signature
        assert conflict(refusal(agreement, command)) == (
            "date_out_of_order", {"step": "sign-pks", "date": "2026-05-20"}
        )


# -- cancellation has its day -------------------------------------------------------------------------


def test_a_cancellation_records_the_day_it_happened_and_not_before_the_last_step() -> None:
    # Given an offer sent on 2026-05-20
    agreement = start()
    offer(agreement)
    # When it is cancelled as of 2026-05-10, Then that is refused, naming the offer
    early = refusal(agreement, c.Cancel("Batal", cancelled_on=date(2026, 5, 10)))
    assert conflict(early) == ("date_out_of_order", {"step": "submit-offer", "date": "2026-05-20"})
    # And cancelled as of 2026-05-25, the family ended that day
    (event,) = act(agreement, c.Cancel("Batal", cancelled_on=date(2026, 5, 25)))
    assert event.cancelled_on == "2026-05-25"
    assert agreement.ended_on == "2026-05-25" and agreement.cancellation["cancelled_on"] == "2026-05-25"


def test_events_stored_before_the_new_dates_replay_as_they_did() -> None:
    # Given a Started and a Cancelled event as stored before `drafted_on`/`cancelled_on` existed
    fresh = Agreement.start(
        id=uuid4(), actor=caller(KOTA).actor, at=AT, form=Form.KSDD, category=Category.SUKARELA, title="T",
        object="O", urusan=["2.11"], initiator=KOTA, partners=[RegionParty(KAB)], value_idr=None,
        burdens_community=False, budgeted_in_apbd=True, adjacency=REGIONS,
    )
    fresh.execute(c.Cancel("Batal"), by=caller(KOTA), at=AT)
    old = []
    for event in fresh.collect_events():
        stored = object.__new__(type(event))  # as the mapper rebuilds a stored event
        stored.__dict__.update({k: v for k, v in event.__dict__.items() if k not in ("drafted_on", "cancelled_on")})
        old.append(stored)
    # When they are replayed
    rebuilt = None
    for event in old:
        rebuilt = event.mutate(rebuilt)
    # Then the family is as it was: no preparation day, ended the day the cancellation was recorded
    assert rebuilt is not None and not hasattr(rebuilt, "drafted_on")
    assert rebuilt.ended_on == "2026-06-01" and "cancelled_on" not in rebuilt.cancellation
    # And no rule about a preparation day applies to a history that has none
    assert rebuilt._created_step() is None


# -- who decides records the decision ----------------------------------------------------------------


def test_the_region_requests_central_approval_but_only_the_national_level_records_it() -> None:
    # Given a KSDPL whose DPRD approved and whose region requested the Minister's approval
    agreement = to_negotiation(Form.KSDPL)
    approve(agreement, "dprd", c.FRAMEWORK, KOTA)
    act(agreement, c.RequestApproval("central", "mohon/pusat", DAY))
    decision = c.RecordApproval("central", "approved", "Kep Mendagri 1/2026", DAY)
    # When the region records the decision itself, Then it is forbidden
    assert refusal(agreement, decision, by=KOTA).code == "central_approval_recorded_by_national"
    # When the national level records it, Then it answers the region's request
    (event,) = act(agreement, decision, by=NATIONAL)
    assert (event.region, event.actor["tenant"]) == (KOTA, NATIONAL)
    assert agreement.approval_status("central", c.FRAMEWORK, KOTA) == "approved"
    # And the national level records nothing else
    assert refusal(agreement, c.Cancel("Batal"), by=NATIONAL).code == "not_a_party"


def test_the_national_level_does_not_record_a_dprd_decision() -> None:
    # Given a pending DPRD request, When the national level records a DPRD decision, Then it is no party
    agreement = to_negotiation(Form.KSDPL)
    act(agreement, c.RequestApproval("dprd", "mohon/1", DAY))
    assert refusal(agreement, c.RecordApproval("dprd", "approved", "SK/1", DAY), by=NATIONAL).code == "not_a_party"


# -- wajib means neighbours --------------------------------------------------------------------------


def start_ksdd(category: Category, initiator: str, *partners: str) -> Agreement:
    return Agreement.start(
        id=uuid4(), actor=caller(initiator).actor, at=AT, form=Form.KSDD, category=category, title="Kerja sama",
        object="Objek", urusan=["2.11"], initiator=initiator, partners=[RegionParty(p) for p in partners],
        value_idr=None, burdens_community=False, budgeted_in_apbd=True, adjacency=REGIONS,
    )


def test_a_wajib_ksdd_between_regions_without_a_common_border_is_refused_naming_the_pair() -> None:
    # Given Kota Bandung (32.73) and Kota Surabaya (35.78), which share no border
    # When a wajib KSDD between them starts
    with pytest.raises(RuleViolation) as caught:
        start_ksdd(Category.WAJIB, "32.73", "35.78")
    # Then it is refused, naming the pair
    assert caught.value.code == "wajib_requires_adjacency"
    assert caught.value.extra["pair"] == ["32.73", "35.78"]
    assert "32.73" in caught.value.detail and "35.78" in caught.value.detail
    # And as sukarela it starts
    assert start_ksdd(Category.SUKARELA, "32.73", "35.78").category == "sukarela"


@pytest.mark.parametrize(("initiator", "partners"), [
    ("32.73", ("32.04",)),  # adjacent kab/kota in one province
    ("32.73", ("32.04", "32.17")),  # three, pairwise adjacent
    ("32", ("32.73",)),  # a province and a kab/kota inside it
    ("32", ("33",)),  # two provinces sharing a border (Jawa Barat, Jawa Tengah)
])
def test_a_wajib_ksdd_between_neighbours_starts(initiator: str, partners: tuple[str, ...]) -> None:
    assert start_ksdd(Category.WAJIB, initiator, *partners).category == "wajib"


@pytest.mark.parametrize(("initiator", "partners", "pair"), [
    ("32", ("35.78",), ["32", "35.78"]),  # a province and a kab/kota of another province
    ("32", ("35",), ["32", "35"]),  # provinces without a common border
    ("32.73", ("32.04", "35.78"), ["32.73", "35.78"]),  # one pair of three is no neighbour
])
def test_a_wajib_ksdd_refuses_every_pair_that_is_not_neighbours(initiator: str, partners: tuple, pair: list) -> None:
    with pytest.raises(RuleViolation) as caught:
        start_ksdd(Category.WAJIB, initiator, *partners)
    assert (caught.value.code, caught.value.extra["pair"]) == ("wajib_requires_adjacency", pair)


CODES = ["32", "33", "35", "32.73", "32.04", "32.17", "32.77", "33.01", "35.78", "35.15"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(CODES), min_size=2, max_size=4, unique=True))
def test_wajib_is_accepted_exactly_when_every_pair_qualifies_and_sukarela_always(regions: list[str]) -> None:
    initiator, *partners = regions
    qualifies = all(wajib_pair_allowed(a, b, REGIONS) for i, a in enumerate(regions) for b in regions[i + 1:])
    try:
        start_ksdd(Category.WAJIB, initiator, *partners)
        accepted = True
    except RuleViolation as refused:
        assert refused.code == "wajib_requires_adjacency"
        accepted = False
    assert accepted == qualifies
    start_ksdd(Category.SUKARELA, initiator, *partners)


# -- progress is reported for periods of the cooperation ----------------------------------------------


def test_a_progress_period_that_ended_before_the_framework_was_signed_is_refused() -> None:
    # Given a Kesepakatan Bersama signed on 2026-02-16
    signed_on = date(2026, 2, 16)
    at = datetime(2026, 7, 10, 2, 0, tzinfo=UTC)
    content = {"activities": [], "indicators": []}

    def file(period: str) -> ProgressReport:
        return ProgressReport.file(agreement_id=uuid4(), region=KOTA, period=Period.parse(period), content=content,
                                   actor=caller(KOTA).actor, at=at, framework_signed_on=signed_on)

    # When a progress report for 2025-S2 is filed, Then it is refused, naming the signature
    with pytest.raises(RuleViolation) as caught:
        file("2025-S2")
    assert caught.value.code == "period_before_framework"
    assert caught.value.extra["conflicts_with"] == {"step": "sign-framework", "date": "2026-02-16"}
    # And the period in which it was signed is reported
    assert file("2026-S1").period == "2026-S1"


def test_the_national_level_attaches_the_central_approval_letter_and_nothing_else() -> None:
    # Given a KSDPL in negotiation
    agreement = to_negotiation(Form.KSDPL)
    letter = c.AttachDocument("persetujuan_pemerintah_pusat", "kep-mendagri.pdf", 10, "application/pdf", "a" * 64,
                              c.FRAMEWORK)
    # When the national level attaches the Minister's letter, Then it is kept with the framework
    (event,) = act(agreement, letter, by=NATIONAL)
    assert (event.kind, event.actor["tenant"]) == ("persetujuan_pemerintah_pusat", NATIONAL)
    # And any other document from the national level is refused: it is no party
    other = c.AttachDocument("studi_kelayakan", "kajian.pdf", 10, "application/pdf", "b" * 64)
    assert refusal(agreement, other, by=NATIONAL).code == "not_a_party"
