"""Documents: which exist, which are in force, their numbers, types and contents
(DOMAIN.md, "Documents"; Permendagri 22/2020, 25/2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.registry.domain.commands import FRAMEWORK
from services.registry.domain.rules.rule import Rule, text
from services.registry.domain.rules.vocabulary import FOREIGN_FORMS, PKS_OPEN, Family, Form
from services.registry.domain.wording import FRAMEWORK_DOCUMENTS, document_stage_words, pks_words
from shared.errors import RuleViolation

# The framework document each form signs (KB; MoU/LoI abroad; NK for SINERGI).
FRAMEWORK_TYPES: dict[Form, frozenset[str]] = {
    Form.KSDD: frozenset({"kesepakatan_bersama"}),
    Form.KSDPK: frozenset({"kesepakatan_bersama"}),
    Form.KSDPL: frozenset({"mou", "loi"}),
    Form.KSDLL: frozenset({"mou", "loi"}),
    Form.SINERGI: frozenset({"nota_kesepakatan"}),
}

ATTACHMENT_KINDS = frozenset(
    {
        "studi_kelayakan", "kak", "surat_penawaran", "surat_jawaban_penawaran", "kesepakatan_bersama",
        "nota_kesepakatan", "mou", "loi", "rencana_kerja", "perjanjian_kerja_sama", "addendum",
        "perpanjangan", "persetujuan_dprd", "persetujuan_pemerintah_pusat", "surat_kuasa",
        "pemutusan", "berita_acara", "lainnya",
    }
)


class PksKnown(Rule):
    """A step on a PKS names one of the family's PKS; answers it."""

    def check(self, family: Family, pks_id: str) -> dict[str, Any]:
        pks = family.pks_by_id(pks_id)
        if pks is None:
            raise RuleViolation("unknown_document", f"Tidak ada {pks_words(pks_id)} dalam kerja sama ini.")
        return pks


class InForce(Rule):
    """Addenda, extensions and termination apply to a signed document still in force;
    answers the document."""

    def check(self, family: Family, document: str, what: str) -> dict[str, Any]:
        if document == FRAMEWORK:
            if family.framework is None:
                raise RuleViolation("document_not_signed", f"{what}: kesepakatan belum ditandatangani.")
            doc = family.framework
        else:
            doc = PKS_KNOWN.check(family, document)
            if doc["stage"] in PKS_OPEN:
                raise RuleViolation("document_not_signed", f"{what}: {pks_words(document)} belum ditandatangani.")
        if doc["stage"] != "ditandatangani":
            raise RuleViolation(
                "document_not_in_force", f"{what}: naskah ini sudah {document_stage_words(doc['stage'])}."
            )
        return doc


class ReferenceRequired(Rule):
    """Every step after signature is recorded with its reference number (DOMAIN.md);
    answers the number as recorded."""

    def check(self, value: str | None, what: str) -> str:
        number = text(value)
        if number is None:
            raise RuleViolation("reference_required", f"{what} harus menyebutkan nomornya.")
        return number


class FrameworkType(Rule):
    """Each form signs its own framework document: a Kesepakatan Bersama (KSDD, KSDPK), an
    MoU or LoI (the foreign forms, Permendagri 25/2020), a Nota Kesepakatan (SINERGI).
    Answers the type, the form's own when none is stated."""

    def check(self, form: Form, document_type: str | None) -> str:
        allowed = FRAMEWORK_TYPES[form]
        doc_type = document_type or ("mou" if form in FOREIGN_FORMS else next(iter(allowed)))
        if doc_type not in allowed:
            raise RuleViolation(
                "document_type_not_allowed",
                f"Naskah kesepakatan {form.value} berjenis "
                f"{' atau '.join(sorted(FRAMEWORK_DOCUMENTS.get(t, t) for t in allowed))}, "
                f"bukan {FRAMEWORK_DOCUMENTS.get(doc_type, doc_type)}.",
            )
        return doc_type


class WorkPlanInFramework(Rule):
    """A SINERGI Nota Kesepakatan carries its rencana kerja; no other framework does."""

    def check(self, form: Form, plan: tuple[str, ...]) -> None:
        if form is Form.SINERGI and not plan:
            raise RuleViolation("rencana_kerja_required", "Nota Kesepakatan SINERGI harus memuat rencana kerja.")
        if form is not Form.SINERGI and plan:
            raise RuleViolation("rencana_kerja_not_allowed", "Rencana kerja dalam naskah hanya untuk SINERGI.")


class WorkPlanOnlyForSinergi(Rule):
    """SINERGI has no PKS: its implementation starts when the NK's rencana kerja runs; every
    other form starts with a signed PKS."""

    def check(self, form: Form) -> None:
        if form is not Form.SINERGI:
            raise RuleViolation(
                "pks_required", "Pelaksanaan dimulai dengan penandatanganan PKS; rencana kerja NK hanya untuk SINERGI."
            )


class NoPksForSinergi(Rule):
    """SINERGI is carried out through the NK's rencana kerja, without a PKS."""

    def check(self, form: Form) -> None:
        if form is Form.SINERGI:
            raise RuleViolation("pks_not_allowed_for_form", "SINERGI dilaksanakan melalui rencana kerja NK, tanpa PKS.")


class ValueNotNegative(Rule):
    """A cooperation's value (nilai kerja sama, in rupiah) is never negative."""

    def check(self, value_idr: int | None) -> None:
        if value_idr is not None and value_idr < 0:
            raise RuleViolation("negative_value", "Nilai kerja sama tidak boleh negatif.")


class AttachmentKind(Rule):
    """Supporting and signed documents are kept with the family, each of a known kind."""

    def check(self, kind: str) -> None:
        if kind not in ATTACHMENT_KINDS:
            raise RuleViolation("unknown_document_kind", f"Jenis dokumen tidak dikenal: {kind}.")


@dataclass(frozen=True)
class Stated(Rule):
    """A fact the step must state (its text, once trimmed, or at least one item): `message`
    says which."""

    message: str = ""

    def check(self, *values: object) -> None:
        if not all(values):
            raise RuleViolation(self.codes[0], self.message)


PKS_KNOWN = PksKnown("pks_known", ("unknown_document",), 'DOMAIN.md, "Documents"')
IN_FORCE = InForce(
    "in_force", ("unknown_document", "document_not_signed", "document_not_in_force"), 'DOMAIN.md, "Documents"'
)
REFERENCE_REQUIRED = ReferenceRequired("reference_required", ("reference_required",), 'DOMAIN.md, "Documents"')
FRAMEWORK_TYPE = FrameworkType(
    "framework_type", ("document_type_not_allowed",), "Permendagri 22/2020; Permendagri 25/2020"
)
WORK_PLAN_IN_FRAMEWORK = WorkPlanInFramework(
    "work_plan_in_framework", ("rencana_kerja_required", "rencana_kerja_not_allowed"), "PP 28/2018 (SINERGI)"
)
WORK_PLAN_ONLY_FOR_SINERGI = WorkPlanOnlyForSinergi(
    "work_plan_only_for_sinergi", ("pks_required",), "PP 28/2018 (SINERGI); Permendagri 22/2020"
)
NO_PKS_FOR_SINERGI = NoPksForSinergi("no_pks_for_sinergi", ("pks_not_allowed_for_form",), "PP 28/2018 (SINERGI)")
VALUE_NOT_NEGATIVE = ValueNotNegative("value_not_negative", ("negative_value",), 'DOMAIN.md, "Documents"')
ATTACHMENT_KIND = AttachmentKind("attachment_kind", ("unknown_document_kind",), 'DOMAIN.md, "Documents"')
URUSAN_REQUIRED = Stated(
    "urusan_required", ("urusan_required",), "UU 23/2014 (urusan pemerintahan); PP 28/2018",
    "Sebutkan sedikitnya satu urusan pemerintahan.",
)
PKS_CONTENTS = Stated(
    "pks_contents", ("pks_title_required",), 'DOMAIN.md, "Documents"', "PKS memerlukan judul dan objek."
)
ADDENDUM_CHANGES = Stated(
    "addendum_changes", ("changes_required",), 'DOMAIN.md, "Documents"', "Uraikan perubahan yang dimuat addendum."
)
CANCELLATION_REASON = Stated(
    "cancellation_reason", ("reason_required",), 'DOMAIN.md, "Lifecycle"', "Sebutkan alasan pembatalan."
)
ATTACHMENT_NAME = Stated("attachment_name", ("name_required",), 'DOMAIN.md, "Documents"', "Dokumen memerlukan nama.")

RULES: tuple[Rule, ...] = (
    PKS_KNOWN, IN_FORCE, REFERENCE_REQUIRED, FRAMEWORK_TYPE, WORK_PLAN_IN_FRAMEWORK, WORK_PLAN_ONLY_FOR_SINERGI,
    NO_PKS_FOR_SINERGI, VALUE_NOT_NEGATIVE, ATTACHMENT_KIND, URUSAN_REQUIRED, PKS_CONTENTS, ADDENDUM_CHANGES,
    CANCELLATION_REASON, ATTACHMENT_NAME,
)
