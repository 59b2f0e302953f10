"""Approvals before signature: the DPRD's when the plan burdens the community and the region
or is not budgeted (PP 28/2018 Pasal 9), and for the foreign forms the central government's
after it (Permendagri 25/2020). DOMAIN.md, "Lifecycle": record which reason applied."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from services.registry.domain.commands import FRAMEWORK
from services.registry.domain.rules.documents import PKS_KNOWN
from services.registry.domain.rules.lifecycle import PKS_DRAFT_OPEN, STAGE_REQUIRED
from services.registry.domain.rules.rule import Rule
from services.registry.domain.rules.vocabulary import FOREIGN_FORMS, Family, Form, Stage
from services.registry.domain.wording import day_words
from shared.errors import RuleViolation

# Why approval was needed: recorded with every request (DOMAIN.md: "record which").
REASON_BURDENS = "membebani_masyarakat_dan_daerah"
REASON_NOT_BUDGETED = "belum_teranggarkan"
REASON_FOREIGN = "kerja_sama_luar_negeri"

# (kind, region, reasons) of one approval a document needs.
Required = tuple[str, str, list[str]]


def requires_dprd_approval(form: str, burdens_community: bool, budgeted_in_apbd: bool) -> bool:
    """PP 28/2018: DPRD approval before signing when the plan burdens the community and the
    region (membebani masyarakat dan daerah) or is not yet in the current APBD (belum
    teranggarkan); foreign forms always need it (Permendagri 25/2020)."""
    return burdens_community or not budgeted_in_apbd or Form(form) in FOREIGN_FORMS


def dprd_reasons(burdens_community: bool, budgeted_in_apbd: bool) -> list[str]:
    """PP 28/2018: DPRD approval when the plan burdens the community and the region and/or
    is not yet in the current APBD; both reasons are recorded when both apply."""
    reasons = []
    if burdens_community:
        reasons.append(REASON_BURDENS)
    if not budgeted_in_apbd:
        reasons.append(REASON_NOT_BUDGETED)
    return reasons


def required_approvals(family: Family, document: str) -> list[Required]:
    """(kind, region, reasons) of every approval `document` needs before signature, in
    the order they must be obtained."""
    if document == FRAMEWORK:
        form = Form(family.form)
        if form in FOREIGN_FORMS:
            # Permendagri 25/2020: DPRD approval, then the central government's
            # (Mendagri, after Kemenlu's consideration), before the MoU/LoI is signed.
            reasons = [REASON_FOREIGN, *dprd_reasons(family.burdens_community, family.budgeted_in_apbd)]
            return [("dprd", family.initiator, reasons), ("central", family.initiator, [REASON_FOREIGN])]
        if form is Form.SINERGI:
            # SINERGI has no PKS: the NK itself is what commits the region.
            reasons = dprd_reasons(family.burdens_community, family.budgeted_in_apbd)
            return [("dprd", family.initiator, reasons)] if reasons else []
        return []  # KSDD/KSDPK: DPRD approves the PKS, which commits the money
    pks = family.pks_by_id(document)
    if pks is None or not pks["dprd_reasons"]:
        return []
    return [("dprd", region, list(pks["dprd_reasons"]))
            for region in pks["parties"] if region in family.party_regions]


class ApprovalTarget(Rule):
    """Where an approval may be asked or recorded: a DPRD's or the central government's, on
    the framework's draft or a PKS draft, that the document needs from that region. Answers
    the PKS's stage, if a PKS."""

    def check(self, family: Family, kind: str, document: str, region: str) -> str | None:
        if kind not in ("dprd", "central"):
            raise RuleViolation("invalid_approval_kind", "Jenis persetujuan harus 'dprd' atau 'central'.")
        pks_stage: str | None
        if document == FRAMEWORK:
            STAGE_REQUIRED.check(family.stage, Stage.PENYUSUNAN_KESEPAKATAN, "Persetujuan atas rancangan kesepakatan")
            pks_stage = None
        else:
            pks = PKS_KNOWN.check(family, document)
            PKS_DRAFT_OPEN.check(document, pks)
            pks_stage = pks["stage"]
        if not any((k, r) == (kind, region) for k, r, _ in required_approvals(family, document)):
            whose = "DPRD" if kind == "dprd" else "pemerintah pusat"
            raise RuleViolation(
                "approval_not_required",
                f"Naskah ini tidak memerlukan persetujuan {whose} untuk {region}.",
            )
        return pks_stage


class RequestedOnce(Rule):
    """An approval is requested once: not while a request waits, nor once it was granted."""

    def check(self, status: str | None) -> None:
        if status == "pending":
            raise RuleViolation("approval_already_pending", "Permohonan persetujuan ini masih menunggu keputusan.")
        if status == "approved":
            raise RuleViolation("approval_already_granted", "Persetujuan ini sudah diberikan.")


class DprdBeforeCentral(Rule):
    """Permendagri 25/2020: the central government is asked once the DPRD approved."""

    def check(self, kind: str, dprd_status: str | None) -> None:
        if kind == "central" and dprd_status != "approved":
            raise RuleViolation(
                "dprd_approval_required",
                "Persetujuan pemerintah pusat dimohonkan setelah DPRD menyetujui (Permendagri 25/2020).",
            )


class DecisionOnRequest(Rule):
    """A decision answers a request still waiting for one. Answers that request."""

    def check(self, pending: dict[str, Any] | None) -> dict[str, Any]:
        if pending is None:
            raise RuleViolation(
                "approval_not_requested", "Belum ada permohonan persetujuan yang menunggu keputusan untuk naskah ini."
            )
        return pending


class ApprovalDecision(Rule):
    """A decision on a request approves or rejects it."""

    def check(self, decision: str) -> None:
        if decision not in ("approved", "rejected"):
            raise RuleViolation("invalid_decision", "Keputusan harus 'approved' atau 'rejected'.")


class ApprovalsBeforeSignature(Rule):
    """PP 28/2018 Pasal 9: DPRD approval before signing when the plan burdens the
    community and the region or is not budgeted; Permendagri 25/2020: the foreign
    forms also need the central government's approval, after the DPRD's. "Before"
    holds for the dates on the documents too: no signature predates an approval."""

    def check(
        self, missing: list[tuple[str, str]], approvals: Sequence[Mapping[str, Any]],
        document: str, signed_on: date,
    ) -> None:
        if not missing:
            decided = [
                record["decided_on"]
                for record in approvals
                if record["document"] == document and record["decision"] == "approved"
            ]
            latest = max(decided, default=None)
            if latest is not None and signed_on < date.fromisoformat(latest):
                raise RuleViolation(
                    "signed_before_approval",
                    f"Tanggal penandatanganan ({day_words(signed_on)}) mendahului persetujuan yang diperlukan "
                    f"({day_words(latest)}).",
                    conflicts_with={"step": "record-approval", "date": latest},
                )
            return
        kind, region = missing[0]
        if kind == "dprd":
            raise RuleViolation(
                "dprd_approval_required",
                f"Naskah ini memerlukan persetujuan DPRD {region} sebelum ditandatangani.",
                missing=[{"kind": k, "region": r} for k, r in missing],
            )
        raise RuleViolation(
            "central_approval_required",
            "Naskah kerja sama luar negeri memerlukan persetujuan pemerintah pusat sebelum ditandatangani.",
            missing=[{"kind": k, "region": r} for k, r in missing],
        )


APPROVAL_TARGET = ApprovalTarget(
    "approval_target",
    ("invalid_approval_kind", "stage_transition_not_allowed", "unknown_document", "approval_not_required"),
    "PP 28/2018 Pasal 9 dan 12; Permendagri 25/2020",
)
REQUESTED_ONCE = RequestedOnce(
    "requested_once", ("approval_already_pending", "approval_already_granted"), "PP 28/2018 Pasal 9"
)
DPRD_BEFORE_CENTRAL = DprdBeforeCentral("dprd_before_central", ("dprd_approval_required",), "Permendagri 25/2020")
DECISION_ON_REQUEST = DecisionOnRequest("decision_on_request", ("approval_not_requested",), "PP 28/2018 Pasal 9")
APPROVAL_DECISION = ApprovalDecision("approval_decision", ("invalid_decision",), "PP 28/2018 Pasal 9")
APPROVALS_BEFORE_SIGNATURE = ApprovalsBeforeSignature(
    "approvals_before_signature", ("dprd_approval_required", "central_approval_required", "signed_before_approval"),
    "PP 28/2018 Pasal 9; Permendagri 25/2020",
)

RULES: tuple[Rule, ...] = (
    APPROVAL_TARGET, REQUESTED_ONCE, DPRD_BEFORE_CENTRAL, DECISION_ON_REQUEST, APPROVAL_DECISION,
    APPROVALS_BEFORE_SIGNATURE,
)
