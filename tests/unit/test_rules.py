"""The aggregate's rules as named rule objects by theme (`services/registry/domain/rules/`):
each checked on its own, with the facts it is given, a passing and a failing case per theme."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.registry.domain import agreement, rules
from services.registry.domain.commands import FRAMEWORK, AttachDocument, Capacity, Policy, Signatory, SubmitOffer
from services.registry.domain.rules import (
    approvals,
    corrections,
    dates,
    documents,
    lifecycle,
    offers,
    parties,
    signatories,
    terms,
)
from services.registry.domain.rules.rule import Rule
from services.registry.domain.rules.vocabulary import Category, Form, OtherParty, RegionParty, Stage
from shared.errors import Forbidden, KsdError, RuleViolation

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeFamily:
    """What the rules read of a family (`vocabulary.Family`), stated directly."""

    stage: str = Stage.PENYUSUNAN_KESEPAKATAN.value
    form: str = Form.KSDD.value
    burdens_community: bool = False
    budgeted_in_apbd: bool = True
    offer: dict[str, Any] | None = None
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    framework: dict[str, Any] | None = None
    pks: list[dict[str, Any]] = field(default_factory=list)
    initiator: str = "32.73"
    party_regions: list[str] = field(default_factory=lambda: ["32.73", "32.04"])

    def pks_by_id(self, pks_id: str) -> dict[str, Any] | None:
        return next((p for p in self.pks if p["id"] == pks_id), None)


class Borders:
    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = {frozenset(p) for p in pairs}

    def are_adjacent(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.pairs


def refused(check: Any, *args: Any, **kwargs: Any) -> KsdError:
    with pytest.raises((RuleViolation, Forbidden)) as raised:
        check(*args, **kwargs)
    return raised.value


# -- the list ---------------------------------------------------------------------------------------

def test_every_rule_is_listed_once_under_its_theme() -> None:
    assert set(rules.THEMES) == {
        "lifecycle", "documents", "dates", "offers", "approvals", "terms", "signatories", "parties", "corrections",
    }
    names = [rule.name for rule in rules.ALL]
    assert len(names) == len(set(names)), "each rule has its own name"
    assert len(rules.ALL) == len(set(map(id, rules.ALL))), "each rule is listed once"
    for theme, listed in rules.THEMES.items():
        assert listed, theme
        for rule in listed:
            assert isinstance(rule, Rule)
            assert rule.theme == theme
            assert rule.codes and all(isinstance(code, str) and code for code in rule.codes)
            assert rule.source, rule.name
            assert callable(getattr(rule, "check", None)), rule.name


def test_every_rule_object_a_theme_module_defines_is_listed() -> None:
    modules = (approvals, corrections, dates, documents, lifecycle, offers, parties, signatories, terms)
    defined = {id(value) for module in modules for value in vars(module).values() if isinstance(value, Rule)}
    assert defined == {id(rule) for rule in rules.ALL}


def test_the_names_other_modules_import_from_the_aggregate_still_resolve() -> None:
    for name in ("wajib_pair_allowed", "check_wajib_adjacency", "check_parties", "requires_dprd_approval",
                 "add_years", "is_central_decision", "dprd_reasons", "PARTNER_TYPES", "FOREIGN_FORMS",
                 "CORRECTABLE_FACTS", "REASON_BURDENS", "Form", "Stage", "PksStage", "CLOSED", "PKS_OPEN"):
        assert hasattr(agreement, name), name
    assert agreement.add_years is terms.add_years
    assert agreement.Form is Form


# -- lifecycle ---------------------------------------------------------------------------------------

def test_lifecycle_stage_required() -> None:
    lifecycle.STAGE_REQUIRED.check("persiapan", Stage.PERSIAPAN, "Surat penawaran")
    error = refused(lifecycle.STAGE_REQUIRED.check, "penawaran", Stage.PERSIAPAN, "Surat penawaran")
    assert error.code == "stage_transition_not_allowed"


def test_lifecycle_closed_family_records_only_attachments_and_corrections() -> None:
    attach = AttachDocument(kind="lainnya", name="x.pdf", size=1, media_type="application/pdf", sha256="0" * 64)
    lifecycle.FAMILY_OPEN.check("dibatalkan", attach)
    lifecycle.FAMILY_OPEN.check("penawaran", SubmitOffer(reference="1", sent_on=date(2026, 1, 1)))
    error = refused(lifecycle.FAMILY_OPEN.check, "berakhir", SubmitOffer(reference="1", sent_on=date(2026, 1, 1)))
    assert error.code == "agreement_closed"


def test_lifecycle_cancel_before_signature_and_framework_ends_last() -> None:
    lifecycle.CANCEL_BEFORE_SIGNATURE.check("penawaran", None, None)
    assert refused(lifecycle.CANCEL_BEFORE_SIGNATURE.check, "pelaksanaan", None, None).code == (
        "framework_already_signed"
    )
    signed = {"stage": "ditandatangani"}
    error = refused(lifecycle.CANCEL_BEFORE_SIGNATURE.check, "pelaksanaan", "pks-1", signed)
    assert error.code == "document_already_signed"
    lifecycle.FRAMEWORK_ENDS_LAST.check([{"id": "pks-1", "stage": "berakhir"}])
    error = refused(lifecycle.FRAMEWORK_ENDS_LAST.check, [{"id": "pks-1", "stage": "ditandatangani"}])
    assert error.code == "documents_still_open"


# -- documents ---------------------------------------------------------------------------------------

def test_documents_in_force() -> None:
    family = FakeFamily(framework={"stage": "ditandatangani"}, pks=[{"id": "pks-1", "stage": "penyusunan"}])
    assert documents.IN_FORCE.check(family, FRAMEWORK, "Addendum") == {"stage": "ditandatangani"}
    assert refused(documents.IN_FORCE.check, family, "pks-1", "Addendum").code == "document_not_signed"
    assert refused(documents.IN_FORCE.check, family, "pks-9", "Addendum").code == "unknown_document"
    family.framework = {"stage": "diputus"}
    assert refused(documents.IN_FORCE.check, family, FRAMEWORK, "Addendum").code == "document_not_in_force"


def test_documents_reference_type_and_value() -> None:
    assert documents.REFERENCE_REQUIRED.check("  12/2026 ", "PKS") == "12/2026"
    assert refused(documents.REFERENCE_REQUIRED.check, "  ", "PKS").code == "reference_required"
    assert documents.FRAMEWORK_TYPE.check(Form.KSDPL, None) == "mou"
    assert refused(documents.FRAMEWORK_TYPE.check, Form.KSDD, "mou").code == "document_type_not_allowed"
    documents.VALUE_NOT_NEGATIVE.check(None)
    assert refused(documents.VALUE_NOT_NEGATIVE.check, -1).code == "negative_value"
    assert refused(documents.PKS_CONTENTS.check, "PKS", None).code == "pks_title_required"


# -- dates -------------------------------------------------------------------------------------------

def test_dates_not_in_future_in_the_easternmost_zone() -> None:
    dates.POSSIBLE_DAY.check(date(2026, 3, 2), AT, "surat penawaran")
    assert refused(dates.POSSIBLE_DAY.check, date(2026, 3, 3), AT, "surat penawaran").code == "date_in_future"


def test_dates_not_before_the_proclamation() -> None:
    dates.POSSIBLE_DAY.check(date(1945, 8, 17), AT, "surat penawaran")
    error = refused(dates.POSSIBLE_DAY.check, date(224, 1, 5), AT, "surat penawaran")  # (2024, typed short)
    assert error.code == "date_too_early"
    assert "5 Januari 224" in error.detail and "periksa tahunnya" in error.detail


def test_dates_legal_order_names_the_earlier_step() -> None:
    dates.LEGAL_ORDER.check(date(2026, 3, 2), "surat penawaran", ("create", "2026-03-02"))
    dates.LEGAL_ORDER.check(date(2026, 3, 2), "surat penawaran", None)
    error = refused(dates.LEGAL_ORDER.check, date(2026, 3, 1), "surat penawaran", ("create", "2026-03-02"))
    assert error.code == "date_out_of_order"
    assert error.extra["conflicts_with"] == {"step": "create", "date": "2026-03-02"}


def test_dates_steps_are_facts_of_the_state() -> None:
    family = FakeFamily(offer={"sent_on": "2026-01-05"},
                        responses={"32.04": {"responded_on": "2026-01-09"}, "X": {"responded_on": "2026-01-07"}})
    assert dates.draft_step(family, FRAMEWORK) == ("record-offer-response", "2026-01-09")
    assert dates.latest(("a", None), ("b", "2026-01-01"), ("c", "2026-01-01")) == ("b", "2026-01-01")
    assert dates.created_step(family) is None


def test_dates_pks_within_its_framework() -> None:
    framework = {"valid_from": "2026-01-01", "valid_until": "2030-12-31"}
    dates.WITHIN_FRAMEWORK.check(framework, "pks-1", date(2026, 2, 1), date(2029, 1, 31), None, "Kesepakatan Bersama")
    dates.WITHIN_FRAMEWORK.check(framework, "pks-1", date(2026, 2, 1), date(2031, 1, 31), "UU 1/2000", "KB")
    error = refused(dates.WITHIN_FRAMEWORK.check, framework, "pks-1", date(2026, 2, 1), date(2031, 1, 31), None, "KB")
    assert error.code == "pks_outside_framework_validity"


# -- offers ------------------------------------------------------------------------------------------

def test_offers_direction_and_responding_party() -> None:
    offers.OFFER_DIRECTION.check("received", only_regions=False)
    assert refused(offers.OFFER_DIRECTION.check, "received", only_regions=True).code == "invalid_direction"
    assert offers.RESPONDING_PARTY.check(None, "32.04", "32.73", ["32.04"], []) == "32.04"
    assert offers.RESPONDING_PARTY.check(None, "32.73", "32.73", ["PT A"], ["PT A"]) == "PT A"
    error = refused(offers.RESPONDING_PARTY.check, "32.04", "32.73", "32.73", ["32.04"], [])
    assert error.code == "counterpart_must_respond"
    assert refused(offers.ANSWERED_ONCE.check, "32.04", {"32.04": {}}).code == "already_responded"


# -- approvals ---------------------------------------------------------------------------------------

def test_approvals_required_for_the_foreign_forms_and_before_signature() -> None:
    family = FakeFamily(form=Form.KSDLL.value)
    assert approvals.required_approvals(family, FRAMEWORK) == [
        ("dprd", "32.73", [approvals.REASON_FOREIGN]), ("central", "32.73", [approvals.REASON_FOREIGN]),
    ]
    assert approvals.APPROVAL_TARGET.check(family, "central", FRAMEWORK, "32.73") is None
    assert refused(approvals.APPROVAL_TARGET.check, family, "dprd", FRAMEWORK, "32.04").code == (
        "approval_not_required"
    )
    error = refused(approvals.APPROVALS_BEFORE_SIGNATURE.check, [("central", "32.73")], [], FRAMEWORK, date(2026, 3, 1))
    assert error.code == "central_approval_required"
    assert error.extra["missing"] == [{"kind": "central", "region": "32.73"}]
    decided = [{"document": FRAMEWORK, "decision": "approved", "decided_on": "2026-03-02"}]
    approvals.APPROVALS_BEFORE_SIGNATURE.check([], decided, FRAMEWORK, date(2026, 3, 2))
    assert refused(approvals.APPROVALS_BEFORE_SIGNATURE.check, [], decided, FRAMEWORK, date(2026, 3, 1)).code == (
        "signed_before_approval"
    )


def test_approvals_dprd_reasons_and_requests() -> None:
    assert approvals.requires_dprd_approval("KSDD", False, True) is False
    assert approvals.dprd_reasons(True, False) == [approvals.REASON_BURDENS, approvals.REASON_NOT_BUDGETED]
    approvals.REQUESTED_ONCE.check("rejected")
    assert refused(approvals.REQUESTED_ONCE.check, "pending").code == "approval_already_pending"
    assert refused(approvals.DPRD_BEFORE_CENTRAL.check, "central", "pending").code == "dprd_approval_required"


# -- terms -------------------------------------------------------------------------------------------

def test_terms_pks_at_most_its_years_unless_excepted() -> None:
    terms.PKS_TERM.check(date(2026, 1, 1), date(2031, 1, 1), None, Policy())
    terms.PKS_TERM.check(date(2026, 1, 1), date(2041, 1, 1), "UU 2/2009", Policy())
    error = refused(terms.PKS_TERM.check, date(2026, 1, 1), date(2031, 1, 2), None, Policy())
    assert error.code == "duration_exceeds_limit"
    assert error.extra["max_years"] == 5
    assert refused(terms.PKS_TERM.check, date(2026, 1, 1), date(2026, 1, 1), None, Policy()).code == "invalid_period"
    assert refused(terms.EXTENSION_LATER.check, date(2030, 1, 1), date(2030, 1, 1)).code == "extension_not_later"
    assert terms.add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


# -- signatories -------------------------------------------------------------------------------------

def test_signatories_kepala_daerah_signs_the_framework() -> None:
    head = Signatory("32.73", "Muhammad Farhan", "Wali Kota Bandung", Capacity.KEPALA_DAERAH)
    partner = Signatory("32.04", "Dadang", "Bupati Bandung", Capacity.KEPALA_DAERAH)
    records = signatories.SIGNATORIES.check([head, partner], ["32.73", "32.04"], {"32.73", "32.04"}, framework=True)
    assert [r["party"] for r in records] == ["32.73", "32.04"]
    official = Signatory("32.04", "Kepala Dinas", "Kepala DLH", Capacity.PEJABAT_KUASA, surat_kuasa="1/SK")
    error = refused(signatories.SIGNATORIES.check, [head, official], ["32.73", "32.04"], {"32.73", "32.04"},
                    framework=True)
    assert error.code == "signatory_not_authorized"
    signatories.SIGNATORIES.check([head, official], ["32.73", "32.04"], {"32.73", "32.04"}, framework=False)
    error = refused(signatories.SIGNATORIES.check, [head], ["32.73", "32.04"], {"32.73", "32.04"}, framework=False)
    assert error.code == "signatory_missing"


# -- parties -----------------------------------------------------------------------------------------

def test_parties_of_each_form() -> None:
    parties.PARTIES_OF_FORM.check(Form.KSDPK, None, "32.73", [OtherParty("PT A", "badan_usaha")])
    jica = OtherParty("JICA", "lembaga_luar_negeri")
    error = refused(parties.PARTIES_OF_FORM.check, Form.KSDLL, None, "32.73", [jica])
    assert error.code == "country_required"
    assert refused(parties.PARTIES_OF_FORM.check, Form.KSDD, None, "32.73", [RegionParty("32.04")]).code == (
        "category_required"
    )


def test_parties_wajib_adjacency() -> None:
    borders = Borders(("32.73", "32.04"))
    parties.check_parties(Form.KSDD, Category.WAJIB, "32.73", [RegionParty("32.04")], borders)
    parties.check_parties(Form.KSDD, Category.SUKARELA, "32.73", [RegionParty("31.71")], borders)
    assert parties.wajib_pair_allowed("32", "32.73", borders)
    error = refused(parties.check_parties, Form.KSDD, Category.WAJIB, "32.73", [RegionParty("31.71")], borders)
    assert error.code == "wajib_requires_adjacency"
    assert error.extra["pair"] == ["32.73", "31.71"]


def test_parties_who_acts() -> None:
    parties.PARTY_ACTS.check("32.73", ["32.73", "32.04"], central_decision=False)
    parties.PARTY_ACTS.check("national", ["32.73"], central_decision=True)
    assert refused(parties.PARTY_ACTS.check, "31.71", ["32.73"], central_decision=False).code == "not_a_party"
    assert parties.PKS_PARTIES.check((), ["32.73", "32.04"], "32.73") == ["32.73", "32.04"]
    assert refused(parties.PKS_PARTIES.check, ("32.73",), ["32.73", "32.04"], "32.73").code == (
        "pks_parties_insufficient"
    )


# -- corrections -------------------------------------------------------------------------------------

def test_corrections_facts_and_fields() -> None:
    allowed = corrections.CORRECTABLE_FACTS["OfferSubmitted"]
    corrections.RECORDED_FACTS.check({"sent_on": date(2026, 1, 2)}, allowed, "Langkah ke-2")
    error = refused(corrections.RECORDED_FACTS.check, {"direction": "sent"}, allowed, "Langkah ke-2")
    assert error.code == "field_not_recorded"
    assert error.extra["allowed"] == ["reference", "sent_on"]
    assert corrections.CORRECTED_FACT.check("sent_on", date(2026, 1, 2)) == "2026-01-02"
    assert corrections.CORRECTED_FACT.check("reference", " 7/2026 ") == "7/2026"
    assert refused(corrections.CORRECTED_FACT.check, "sent_on", "2026-01-02").code == "invalid_fact"
    assert refused(corrections.KNOWN_VERSION.check, ["e1"], 2).code == "unknown_version"


def test_messages_name_a_pks_as_the_web_application_does() -> None:
    # ("PKS pks-1 sudah ditandatangani." read the internal id; the pages call it "PKS 1".)
    assert refused(lifecycle.PKS_DRAFT_OPEN.check, "pks-1", {"stage": "ditandatangani"}).detail == (
        "PKS 1 sudah ditandatangani.")
    assert refused(documents.PKS_KNOWN.check, FakeFamily(), "pks-7").detail == "Tidak ada PKS 7 dalam kerja sama ini."
