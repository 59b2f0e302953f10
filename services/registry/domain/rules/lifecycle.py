"""Stage order: no stage is skipped, a closed family records nothing more, a signed document
ends by termination, not cancellation (DOMAIN.md, "Lifecycle"; PP 28/2018; Permendagri 22/2020)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.registry.domain.commands import AttachDocument, Correct
from services.registry.domain.rules.rule import Rule
from services.registry.domain.rules.vocabulary import CLOSED, PKS_CLOSED, PKS_OPEN, SIGNED, Stage
from services.registry.domain.wording import document_stage_words, pks_words, stage_words
from shared.errors import RuleViolation


class FamilyOpen(Rule):
    """A family that ended (berakhir) or was abandoned (dibatalkan) records no further step;
    a document may still be attached and a recorded fact corrected."""

    def check(self, stage: str, command: Any) -> None:
        if Stage(stage) in CLOSED and not isinstance(command, AttachDocument | Correct):
            raise RuleViolation(
                "agreement_closed",
                f"Kerja sama ini sudah {stage_words(stage)}; tidak ada langkah lagi yang dapat dicatat.",
            )


class StageRequired(Rule):
    """No stage can be skipped (DOMAIN.md, "Lifecycle"): a step is recorded at its stage."""

    def check(self, stage: str, required: Stage, what: str) -> None:
        if stage != required.value:
            raise RuleViolation(
                "stage_transition_not_allowed",
                f"{what} hanya dapat dicatat pada tahap {stage_words(required.value)}; kerja sama ini pada tahap "
                f"{stage_words(stage)}.",
            )


class PksDraftOpen(Rule):
    """A PKS is approved and signed while it is a draft (penyusunan, menunggu persetujuan)."""

    def check(self, pks_id: str, pks: Mapping[str, Any]) -> None:
        if pks["stage"] not in PKS_OPEN:
            raise RuleViolation(
                "stage_transition_not_allowed", f"{pks_words(pks_id)} sudah {document_stage_words(pks['stage'])}."
            )


class PksUnderSignedFramework(Rule):
    """A PKS is drafted only under a signed framework (Permendagri 22/2020)."""

    def check(self, stage: str) -> None:
        if Stage(stage) not in SIGNED:
            raise RuleViolation(
                "framework_not_signed", "PKS hanya dapat disusun setelah kesepakatan bersama ditandatangani."
            )


class CancelBeforeSignature(Rule):
    """A cooperation may be abandoned only before its framework is signed; after that it ends
    by termination. An unsigned PKS draft may be abandoned at any time."""

    def check(self, stage: str, document: str | None, pks: Mapping[str, Any] | None) -> None:
        if document is None:
            if Stage(stage) in SIGNED:
                raise RuleViolation(
                    "framework_already_signed",
                    "Kesepakatan sudah ditandatangani: kerja sama diakhiri dengan pengakhiran, bukan dibatalkan.",
                )
        elif pks is not None and pks["stage"] not in PKS_OPEN:
            raise RuleViolation(
                "document_already_signed",
                f"{pks_words(document)} sudah {document_stage_words(pks['stage'])}; akhiri dengan pengakhiran, "
                "bukan pembatalan.",
            )


class FrameworkEndsLast(Rule):
    """PP 28/2018 Pasal 29: ending the framework ends the family, once every PKS under it
    has ended or been abandoned."""

    def check(self, pks: Iterable[Mapping[str, Any]]) -> None:
        still_open = [p["id"] for p in pks if p["stage"] not in PKS_CLOSED]
        if still_open:
            raise RuleViolation(
                "documents_still_open",
                f"Akhiri atau batalkan dulu PKS di bawah kesepakatan ini: {', '.join(still_open)}.",
            )


FAMILY_OPEN = FamilyOpen("family_open", ("agreement_closed",), 'DOMAIN.md, "Lifecycle"')
STAGE_REQUIRED = StageRequired("stage_required", ("stage_transition_not_allowed",), 'DOMAIN.md, "Lifecycle"')
PKS_DRAFT_OPEN = PksDraftOpen("pks_draft_open", ("stage_transition_not_allowed",), 'DOMAIN.md, "Lifecycle"')
PKS_UNDER_SIGNED_FRAMEWORK = PksUnderSignedFramework(
    "pks_under_signed_framework", ("framework_not_signed",), "Permendagri 22/2020"
)
CANCEL_BEFORE_SIGNATURE = CancelBeforeSignature(
    "cancel_before_signature", ("framework_already_signed", "document_already_signed"), 'DOMAIN.md, "Lifecycle"'
)
FRAMEWORK_ENDS_LAST = FrameworkEndsLast("framework_ends_last", ("documents_still_open",), "PP 28/2018 Pasal 29")

RULES: tuple[Rule, ...] = (
    FAMILY_OPEN, STAGE_REQUIRED, PKS_DRAFT_OPEN, PKS_UNDER_SIGNED_FRAMEWORK, CANCEL_BEFORE_SIGNATURE,
    FRAMEWORK_ENDS_LAST,
)
