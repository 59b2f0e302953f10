"""The family's legal lifecycle, one rule per test: Given (built by commands), When (one
command), Then (the events it recorded, or the rule it broke and nothing recorded)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.registry.domain import commands as c
from services.registry.domain.agreement import Agreement, Form, OtherParty, RegionParty, Stage
from shared.errors import Forbidden, RuleViolation
from shared.regions import load_regions
from tests.unit.lifecycle import (
    AT,
    DAY,
    KAB,
    KOTA,
    OUTSIDER,
    PROV,
    act,
    approve,
    draft_pks,
    kepala,
    offer,
    sign_framework,
    sign_pks,
    signatories,
    start,
    to_implementation,
    to_negotiation,
    to_signed,
)


def refused(agreement: Agreement, command: Any, by: str = KOTA, error: type = RuleViolation, **kw: Any) -> str:
    """The command is refused with a code, and the family is exactly as before."""
    before = agreement.to_state()
    with pytest.raises(error) as caught:
        act(agreement, command, by=by, **kw)
    assert agreement.to_state() == before
    assert agreement.collect_events() == []
    assert caught.value.detail
    return caught.value.code


# -- offer --------------------------------------------------------------------------------


def test_the_initiator_sends_the_offer_and_the_family_moves_to_penawaran() -> None:
    agreement = start()
    (event,) = act(agreement, c.SubmitOffer("005/KS/2026", DAY))
    assert type(event).__name__ == "OfferSubmitted"
    assert event.stage == Stage.PENAWARAN
    assert agreement.offer["reference"] == "005/KS/2026"


def test_only_the_initiator_sends_the_offer() -> None:
    assert refused(start(), c.SubmitOffer("005", DAY), by=KAB, error=Forbidden) == "not_initiator"


def test_a_region_that_is_not_a_party_cannot_act_not_even_its_province() -> None:
    for region in (OUTSIDER, PROV, "national"):
        assert refused(start(), c.SubmitOffer("005", DAY), by=region, error=Forbidden) == "not_a_party"


def test_a_date_that_has_not_happened_yet_is_refused() -> None:
    assert refused(start(), c.SubmitOffer("005", AT.date() + timedelta(days=2))) == "date_in_future"


def test_a_partner_region_records_its_own_acceptance_and_negotiation_starts() -> None:
    agreement = start()
    offer(agreement)
    (event,) = act(agreement, c.RecordOfferResponse("accepted", "jawab/1", DAY), by=KAB)
    assert (event.party, event.stage) == (KAB, Stage.PENYUSUNAN_KESEPAKATAN)


def test_negotiation_waits_for_every_partner() -> None:
    agreement = start(partners=[RegionParty(KAB), RegionParty("32.17")])
    offer(agreement)
    act(agreement, c.RecordOfferResponse("accepted", "jawab/1", DAY), by=KAB)
    assert agreement.stage == Stage.PENAWARAN
    act(agreement, c.RecordOfferResponse("accepted", "jawab/2", DAY), by="32.17")
    assert agreement.stage == Stage.PENYUSUNAN_KESEPAKATAN


def test_the_initiator_cannot_answer_for_a_partner_region() -> None:
    agreement = start()
    offer(agreement)
    command = c.RecordOfferResponse("accepted", "jawab/1", DAY, party=KAB)
    assert refused(agreement, command, error=Forbidden) == "counterpart_must_respond"


def test_the_initiator_records_a_third_partys_answer() -> None:
    agreement = start(Form.KSDPK)
    offer(agreement)
    (event,) = act(agreement, c.RecordOfferResponse("accepted", "jawab/PT", DAY))
    assert (event.party, event.stage) == ("PT Air Bersih", Stage.PENYUSUNAN_KESEPAKATAN)


def test_a_rejected_offer_abandons_the_cooperation() -> None:
    agreement = start()
    offer(agreement)
    (event,) = act(agreement, c.RecordOfferResponse("rejected", "tolak/1", DAY), by=KAB)
    assert event.stage == Stage.DIBATALKAN


def test_a_partner_answers_once() -> None:
    agreement = start(partners=[RegionParty(KAB), RegionParty("32.17")])
    offer(agreement)
    act(agreement, c.RecordOfferResponse("accepted", "jawab/1", DAY), by=KAB)
    assert refused(agreement, c.RecordOfferResponse("accepted", "lagi", DAY), by=KAB) == "already_responded"


# -- no stage can be skipped --------------------------------------------------------------


def test_the_framework_cannot_be_signed_before_the_offer_is_accepted() -> None:
    agreement = start()
    command = c.SignFramework("KB/1", DAY, DAY, date(2030, 1, 1), signatories(agreement))
    assert refused(agreement, command) == "stage_transition_not_allowed"


def test_a_pks_exists_only_under_a_signed_framework() -> None:
    assert refused(to_negotiation(), c.DraftPks("PKS", "Objek")) == "framework_not_signed"


# -- signing the framework ----------------------------------------------------------------


def test_the_heads_of_region_sign_the_framework() -> None:
    agreement = to_negotiation()
    (event,) = sign_framework(agreement)
    assert event.stage == Stage.KESEPAKATAN_DITANDATANGANI
    assert agreement.framework["type"] == "kesepakatan_bersama"
    assert {s["capacity"] for s in agreement.framework["signatories"]} == {"kepala_daerah"}


def test_an_official_with_a_surat_kuasa_may_not_sign_the_framework() -> None:
    agreement = to_negotiation()
    proxy = c.Signatory(KAB, "Kepala Dinas LH", "Kepala DLH", c.Capacity.PEJABAT_KUASA, "SK/1")
    command = c.SignFramework("KB/1", DAY, DAY, date(2030, 1, 1), (kepala(KOTA), proxy))
    assert refused(agreement, command) == "signatory_not_authorized"


def test_every_party_signs_the_framework() -> None:
    agreement = to_negotiation()
    command = c.SignFramework("KB/1", DAY, DAY, date(2030, 1, 1), (kepala(KOTA),))
    assert refused(agreement, command) == "signatory_missing"


def test_a_framework_ends_after_it_starts() -> None:
    agreement = to_negotiation()
    command = c.SignFramework("KB/1", DAY, DAY, DAY, signatories(agreement))
    assert refused(agreement, command) == "invalid_period"


@pytest.mark.parametrize("form", [Form.KSDPL, Form.KSDLL])
def test_a_foreign_framework_needs_dprd_then_central_approval(form: Form) -> None:
    agreement = to_negotiation(form)
    command = c.SignFramework("MoU/1", DAY, DAY, date(2030, 1, 1), signatories(agreement))
    assert refused(agreement, command) == "dprd_approval_required"
    central_first = c.RequestApproval("central", "mohon/pusat", DAY)
    assert refused(agreement, central_first) == "dprd_approval_required"
    approve(agreement, "dprd", c.FRAMEWORK, KOTA)
    assert refused(agreement, command) == "central_approval_required"
    approve(agreement, "central", c.FRAMEWORK, KOTA)
    (event,) = act(agreement, command)
    assert event.document_type == "mou"
    assert agreement.approvals[0]["reasons"][0] == "kerja_sama_luar_negeri"


def test_a_decision_needs_a_pending_request() -> None:
    agreement = to_negotiation(Form.KSDPL)
    command = c.RecordApproval("dprd", "approved", "SK DPRD 1", DAY)
    assert refused(agreement, command) == "approval_not_requested"


def test_a_domestic_framework_needs_no_approval() -> None:
    agreement = to_negotiation()
    assert refused(agreement, c.RequestApproval("dprd", "mohon/1", DAY)) == "approval_not_required"


# -- SINERGI --------------------------------------------------------------------------------


def test_a_sinergi_nota_kesepakatan_carries_a_rencana_kerja() -> None:
    agreement = to_negotiation(Form.SINERGI)
    command = c.SignFramework("NK/1", DAY, DAY, date(2030, 1, 1), signatories(agreement))
    assert refused(agreement, command) == "rencana_kerja_required"


def test_sinergi_runs_its_rencana_kerja_instead_of_a_pks() -> None:
    agreement = to_signed(Form.SINERGI)
    assert agreement.framework["type"] == "nota_kesepakatan"
    assert refused(agreement, c.DraftPks("PKS", "Objek")) == "pks_not_allowed_for_form"
    (event,) = act(agreement, c.StartWorkPlan(DAY))
    assert event.stage == Stage.PELAKSANAAN


def test_other_forms_start_implementation_by_a_pks() -> None:
    assert refused(to_signed(), c.StartWorkPlan(DAY)) == "pks_required"


# -- PKS --------------------------------------------------------------------------------------


def test_signing_the_first_pks_starts_implementation() -> None:
    agreement = to_signed()
    pks = draft_pks(agreement)
    (event,) = sign_pks(agreement, pks)
    assert (event.pks_stage, event.stage) == ("ditandatangani", Stage.PELAKSANAAN)


def test_a_pks_that_burdens_the_community_needs_each_party_regions_dprd() -> None:
    agreement = to_signed(burdens_community=True)
    pks = draft_pks(agreement)
    code = refused(agreement, c.SignPks(pks, "PKS/1", DAY, date(2026, 6, 1), date(2027, 6, 1),
                                        signatories(agreement)))
    assert code == "dprd_approval_required"
    (event,) = act(agreement, c.RequestApproval("dprd", "mohon/1", DAY, document=pks))
    assert event.pks_stage == "menunggu_persetujuan_dprd"
    assert event.reasons == ("membebani_masyarakat_dan_daerah",)
    act(agreement, c.RecordApproval("dprd", "approved", "SK/1", DAY, document=pks))
    approve(agreement, "dprd", pks, KAB)  # the counterpart region records its own DPRD's
    (signed,) = sign_pks(agreement, pks)
    assert signed.pks_stage == "ditandatangani"


def test_an_unbudgeted_pks_records_why_dprd_approval_was_needed() -> None:
    agreement = to_signed()
    pks = draft_pks(agreement, budgeted_in_apbd=False)
    (event,) = act(agreement, c.RequestApproval("dprd", "mohon/1", DAY, document=pks))
    assert event.reasons == ("belum_teranggarkan",)


def test_a_region_cannot_record_its_partners_dprd_decision() -> None:
    agreement = to_signed(burdens_community=True)
    pks = draft_pks(agreement)
    act(agreement, c.RequestApproval("dprd", "mohon/kab", DAY, document=pks), by=KAB)
    command = c.RecordApproval("dprd", "approved", "SK/kab", DAY, document=pks)
    assert refused(agreement, command, by=KOTA) == "approval_not_requested"


def test_a_dprd_rejection_sends_the_pks_back_to_drafting() -> None:
    agreement = to_signed(burdens_community=True)
    pks = draft_pks(agreement)
    act(agreement, c.RequestApproval("dprd", "mohon/1", DAY, document=pks))
    (event,) = act(agreement, c.RecordApproval("dprd", "rejected", "SK/tolak", DAY, document=pks))
    assert event.pks_stage == "penyusunan"


def test_a_pks_lasts_at_most_five_years() -> None:
    agreement = to_negotiation()
    sign_framework(agreement, valid_until=date(2032, 12, 31))  # room for a full five-year PKS
    pks = draft_pks(agreement)
    too_long = c.SignPks(pks, "PKS/1", DAY, date(2026, 6, 1), date(2031, 6, 2), signatories(agreement))
    assert refused(agreement, too_long) == "duration_exceeds_limit"
    sign_pks(agreement, pks, start_on=date(2026, 6, 1), end_on=date(2031, 6, 1))


def test_a_longer_pks_needs_the_sector_law_exception_by_reference() -> None:
    agreement = to_signed()
    pks = draft_pks(agreement)
    (event,) = sign_pks(agreement, pks, end_on=date(2046, 5, 31), exception_reference="PP 122/2015 Pasal 46")
    assert event.exception_reference == "PP 122/2015 Pasal 46"


def test_the_pks_limit_is_a_policy() -> None:
    agreement = to_signed()
    pks = draft_pks(agreement)
    command = c.SignPks(pks, "PKS/1", DAY, date(2026, 6, 1), date(2030, 6, 1), signatories(agreement))
    assert refused(agreement, command, policy=c.Policy(pks_max_years=3)) == "duration_exceeds_limit"


def test_an_official_signing_a_pks_needs_a_surat_kuasa() -> None:
    agreement = to_signed()
    pks = draft_pks(agreement)
    proxy = c.Signatory(KAB, "Kepala DLH", "Kepala Dinas LH", c.Capacity.PEJABAT_KUASA)
    command = c.SignPks(pks, "PKS/1", DAY, date(2026, 6, 1), date(2027, 6, 1), (kepala(KOTA), proxy))
    assert refused(agreement, command) == "surat_kuasa_required"
    sign_pks(agreement, pks, signatories=(kepala(KOTA), c.Signatory(KAB, "Kepala DLH", "Kepala Dinas LH",
                                                                        c.Capacity.PEJABAT_KUASA, "SK/kuasa/1")))


# -- after signature: addenda, extensions, termination -------------------------------------


def test_an_addendum_needs_a_signed_document() -> None:
    agreement = to_signed()
    pks = draft_pks(agreement)
    assert refused(agreement, c.Amend(pks, "ADD/1", DAY, "Ubah nilai")) == "document_not_signed"


def test_an_addendum_carries_its_reference_number() -> None:
    agreement, pks = to_implementation()
    assert refused(agreement, c.Amend(pks, "  ", DAY, "Ubah nilai")) == "reference_required"
    (event,) = act(agreement, c.Amend(pks, "ADD/1", DAY, "Nilai naik", value_idr=5_000))
    assert agreement.pks_by_id(pks)["value_idr"] == 5_000
    assert event.reference == "ADD/1"


def test_an_extension_ends_later_than_the_current_end() -> None:
    agreement, pks = to_implementation()
    command = c.Extend(pks, "EXT/1", DAY, date(2028, 5, 31))
    assert refused(agreement, command) == "extension_not_later"
    act(agreement, c.Extend(pks, "EXT/1", DAY, date(2030, 5, 31)))
    assert agreement.pks_by_id(pks)["end_on"] == "2030-05-31"


def test_an_extended_pks_term_is_again_limited() -> None:
    agreement, pks = to_implementation()
    command = c.Extend(pks, "EXT/1", DAY, date(2033, 6, 1))
    assert refused(agreement, command) == "duration_exceeds_limit"


def test_a_pks_ending_at_its_term_is_berakhir_and_an_early_end_is_diputus() -> None:
    agreement, pks = to_implementation()
    pks2 = draft_pks(agreement)
    sign_pks(agreement, pks2)
    (ended,) = act(agreement, c.Terminate(pks, c.Ground.MASA_BERLAKU_HABIS, "BA/1", DAY))
    (broken,) = act(agreement, c.Terminate(pks2, c.Ground.WANPRESTASI, "BA/2", DAY))
    assert (ended.document_stage, broken.document_stage) == ("berakhir", "diputus")
    assert agreement.stage == Stage.PELAKSANAAN


def test_the_framework_ends_only_after_every_pks_and_then_the_family_ends() -> None:
    agreement, pks = to_implementation()
    command = c.Terminate(c.FRAMEWORK, c.Ground.TUJUAN_TERCAPAI, "BA/KB", DAY)
    assert refused(agreement, command) == "documents_still_open"
    act(agreement, c.Terminate(pks, c.Ground.TUJUAN_TERCAPAI, "BA/1", DAY))
    (event,) = act(agreement, command)
    assert event.stage == Stage.BERAKHIR


def test_a_closed_family_takes_no_more_steps_but_keeps_documents() -> None:
    agreement = start()
    act(agreement, c.Cancel("Tidak jadi"))
    assert refused(agreement, c.SubmitOffer("005", DAY)) == "agreement_closed"
    act(agreement, c.AttachDocument("berita_acara", "ba.pdf", 10, "application/pdf", "a" * 64))


# -- cancel ----------------------------------------------------------------------------------


def test_a_cooperation_is_cancelled_only_before_its_framework_is_signed() -> None:
    (event,) = act(to_negotiation(), c.Cancel("Anggaran tidak tersedia"))
    assert event.stage == Stage.DIBATALKAN
    assert refused(to_signed(), c.Cancel("Terlambat")) == "framework_already_signed"


def test_an_unsigned_pks_draft_may_be_abandoned_but_a_signed_one_is_terminated() -> None:
    agreement, signed = to_implementation()
    draft = draft_pks(agreement)
    act(agreement, c.Cancel("Digabung", document=draft))
    assert agreement.pks_by_id(draft)["stage"] == "dibatalkan"
    assert refused(agreement, c.Cancel("Salah", document=signed)) == "document_already_signed"


# -- documents and history -------------------------------------------------------------------


def test_an_attachment_names_an_existing_document() -> None:
    agreement = to_signed()
    command = c.AttachDocument("perjanjian_kerja_sama", "pks.pdf", 10, "application/pdf", "b" * 64, "pks-9")
    assert refused(agreement, command) == "unknown_document"


def test_replaying_the_history_rebuilds_the_same_family() -> None:
    recorded: list[Any] = []
    agreement = Agreement.start(
        id=uuid4(), actor={"sub": "op", "tenant": KOTA, "roles": ["operator"]}, at=AT, form=Form.KSDPK, category=None,
        title="T",
        object="O", urusan=["2.11"], initiator=KOTA, partners=[OtherParty("PT Air Bersih", "badan_usaha")],
        value_idr=1, burdens_community=True, budgeted_in_apbd=True, adjacency=load_regions(),
        drafted_on=DAY,
    )
    recorded.extend(agreement.collect_events())
    for command, by in [
        (c.SubmitOffer("005", DAY), KOTA),
        (c.RecordOfferResponse("accepted", "jawab", DAY), KOTA),
        (c.SignFramework("KB/1", DAY, DAY, date(2030, 1, 1), signatories(agreement)), KOTA),
        (c.DraftPks("PKS", "Objek", drafted_on=DAY), KOTA),
        (c.RequestApproval("dprd", "mohon", DAY, document="pks-1"), KOTA),
        (c.RecordApproval("dprd", "approved", "SK", DAY, document="pks-1"), KOTA),
    ]:
        recorded.extend(act(agreement, command, by=by))
    rebuilt = None
    for event in recorded:
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None
    assert rebuilt.to_state() == agreement.to_state()
    assert Agreement.from_state(agreement.to_state()).to_state() == agreement.to_state()


def test_no_signature_predates_the_approval_it_needs() -> None:
    agreement = to_signed(burdens_community=True)
    pks = draft_pks(agreement)
    act(agreement, c.RequestApproval("dprd", "mohon/1", date(2026, 5, 21), document=pks))
    act(agreement, c.RecordApproval("dprd", "approved", "SK/1", date(2026, 5, 25), document=pks))
    approve(agreement, "dprd", pks, KAB)
    early = c.SignPks(pks, "PKS/1", date(2026, 5, 24), date(2026, 6, 1), date(2027, 6, 1), signatories(agreement))
    assert refused(agreement, early) == "signed_before_approval"
    sign_pks(agreement, pks, signed_on=date(2026, 5, 25))
