"""Corrections (ralat): which recorded facts may be corrected, by whom, and how a corrected
fact is stated (DOMAIN.md, "Lifecycle": a signed document is never silently changed; a
mistyped fact is corrected in the open, with its reason)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from services.registry.domain.commands import Capacity
from services.registry.domain.rules.documents import REFERENCE_REQUIRED, Stated
from services.registry.domain.rules.rule import Rule, text
from services.registry.domain.wording import fact_words
from shared.errors import Forbidden, RuleViolation

# The facts each step's event records that a correction may change (a date, a number, a
# value, the signatories), by the event's name; the fields are named as the event names them.
CORRECTABLE_FACTS: dict[str, frozenset[str]] = {
    "Started": frozenset({"drafted_on", "value_idr"}),
    "OfferSubmitted": frozenset({"reference", "sent_on"}),
    "OfferResponseRecorded": frozenset({"reference", "responded_on"}),
    "ApprovalRequested": frozenset({"reference", "requested_on"}),
    "ApprovalRecorded": frozenset({"reference", "decided_on"}),
    "FrameworkSigned": frozenset({"number", "signed_on", "valid_from", "valid_until", "signatories"}),
    "WorkPlanStarted": frozenset({"started_on"}),
    "PksDrafted": frozenset({"drafted_on", "value_idr"}),
    "PksSigned": frozenset({"number", "signed_on", "start_on", "end_on", "signatories"}),
    "Amended": frozenset({"reference", "signed_on", "value_idr"}),
    "Extended": frozenset({"reference", "signed_on", "new_end"}),
    "Terminated": frozenset({"reference", "terminated_on"}),
    "Cancelled": frozenset({"reference", "cancelled_on"}),
}
REFERENCE_FACTS = frozenset({"reference", "number"})


class CorrectionStated(Stated):
    """What a correction must state: its reason, the facts it changes."""


class KnownVersion(Rule):
    """A correction names a recorded step by its version; answers that step's event."""

    def check(self, history: list[Any], version: int) -> Any:
        target = history[version - 1] if 1 <= version <= len(history) else None
        if target is None:
            raise RuleViolation(
                "unknown_version", f"Tidak ada langkah tercatat dengan versi {version} pada kerja sama ini.",
                current_version=len(history),
            )
        return target


class CorrectableStep(Rule):
    """Only a step that states facts (a date, a number, a value, the signatories) is corrected."""

    def check(self, allowed: Collection[str], named: str) -> None:
        if not allowed:
            raise RuleViolation(
                "step_not_correctable", f"{named} tidak memuat fakta yang dapat diralat."
            )


class RecordedFacts(Rule):
    """A correction changes facts the step recorded, and only those."""

    def check(self, changes: Mapping[str, Any], allowed: Collection[str], named: str) -> None:
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise RuleViolation(
                "field_not_recorded",
                f"{named} tidak mencatat {', '.join(fact_words(u) for u in unknown)}; yang dapat diralat: "
                f"{', '.join(sorted(fact_words(a) for a in allowed))}.",
                allowed=sorted(allowed),
            )


class DprdCorrectedByItsRegion(Rule):
    """A DPRD's request and decision are corrected by the region whose DPRD it is."""

    def check(self, region: str, step_region: str) -> None:
        if region != step_region:
            raise Forbidden(
                f"Permohonan dan keputusan persetujuan DPRD {step_region} diralat oleh daerah itu sendiri.",
                code="not_the_deciding_region",
            )


class CorrectedFact(Rule):
    """A corrected fact as the step's event records it: a number stated, a value not
    negative, signatories as recorded, a date; answers it."""

    def check(self, name: str, value: Any) -> Any:
        if name in REFERENCE_FACTS:
            return REFERENCE_REQUIRED.check(value if isinstance(value, str) else None, "Ralat nomor")
        if name == "value_idr":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RuleViolation("negative_value", "Nilai kerja sama tidak boleh negatif.")
            return value
        if name == "signatories":
            return [
                {"party": s.party, "name": s.name.strip(), "position": s.position.strip(),
                 "capacity": Capacity(s.capacity).value, "surat_kuasa": text(s.surat_kuasa)}
                for s in value
            ]
        if not isinstance(value, date):
            raise RuleViolation("invalid_fact", f"{fact_words(name).capitalize()} harus berupa tanggal.")
        return value.isoformat()


class SomethingChanges(Rule):
    """A correction changes at least one fact from what is recorded."""

    def check(self, changes: Mapping[str, Any]) -> None:
        if not changes:
            raise RuleViolation("nothing_to_correct", "Nilai yang disebutkan sama dengan yang sudah tercatat.")


CORRECTION_REASON = CorrectionStated(
    "correction_reason", ("reason_required",), 'DOMAIN.md, "Lifecycle"', "Sebutkan alasan ralat."
)
KNOWN_VERSION = KnownVersion("known_version", ("unknown_version",), 'DOMAIN.md, "Lifecycle"')
CORRECTABLE_STEP = CorrectableStep("correctable_step", ("step_not_correctable",), 'DOMAIN.md, "Lifecycle"')
CORRECTION_CHANGES = CorrectionStated(
    "correction_changes", ("changes_required",), 'DOMAIN.md, "Lifecycle"',
    "Sebutkan fakta yang diralat beserta nilai barunya.",
)
RECORDED_FACTS = RecordedFacts("recorded_facts", ("field_not_recorded",), 'DOMAIN.md, "Lifecycle"')
DPRD_CORRECTED_BY_ITS_REGION = DprdCorrectedByItsRegion(
    "dprd_corrected_by_its_region", ("not_the_deciding_region",), "PP 28/2018 Pasal 9"
)
CORRECTED_FACT = CorrectedFact(
    "corrected_fact", ("reference_required", "negative_value", "invalid_fact"), 'DOMAIN.md, "Documents"'
)
SOMETHING_CHANGES = SomethingChanges("something_changes", ("nothing_to_correct",), 'DOMAIN.md, "Lifecycle"')

RULES: tuple[Rule, ...] = (
    CORRECTION_REASON, KNOWN_VERSION, CORRECTABLE_STEP, CORRECTION_CHANGES, RECORDED_FACTS,
    DPRD_CORRECTED_BY_ITS_REGION, CORRECTED_FACT, SOMETHING_CHANGES,
)
