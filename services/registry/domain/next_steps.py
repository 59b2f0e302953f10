"""Which lifecycle actions a caller may take on a cooperation now: the steps a client offers
as buttons. A guide, not a decision: `Agreement.execute` still decides each step on its facts
(dates, numbers, signatories), so an action listed here can be refused by a rule of its own.

Each action names the documents it may act on (`framework`, `pks-N`), where it takes one, and
for approvals the `kind` (`dprd`, `central`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.registry.domain.agreement import (
    CLOSED,
    PKS_CLOSED,
    PKS_OPEN,
    SIGNED,
    Agreement,
    Form,
    Stage,
)
from services.registry.domain.commands import FRAMEWORK
from shared.tenancy import NATIONAL

CENTRAL_APPROVER = "approver"


@dataclass(frozen=True)
class NextStep:
    action: str
    documents: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _approvals_to_request(agreement: Agreement, document: str, region: str) -> list[str]:
    """Kinds of approval `region` may ask for `document` now: required, not pending, not
    granted, and the central one only after the DPRD approved."""
    kinds = []
    for kind, who, _ in agreement.required_approvals(document):
        if who != region:
            continue
        status = agreement.approval_status(kind, document, region)
        if status in ("pending", "approved"):
            continue
        if kind == "central" and agreement.approval_status("dprd", document, region) != "approved":
            continue
        kinds.append(kind)
    return kinds


def next_steps(agreement: Agreement, tenant: str, roles: tuple[str, ...] | list[str]) -> list[NextStep]:
    """The actions `tenant` with `roles` may take on `agreement` now, in lifecycle order. Every
    history starts with a correctable step (its `drafted_on`), so a party's operator may always
    correct; the national approver, once it recorded a central decision."""
    stage = Stage(agreement.stage)
    if tenant == NATIONAL:
        if CENTRAL_APPROVER not in roles:
            return []
        steps: list[NextStep] = []
        pending = sorted({a["document"] for a in agreement.approvals
                          if a["kind"] == "central" and a["decision"] is None})
        if pending and stage not in CLOSED:
            steps.append(NextStep("record-approval", tuple(pending), ("central",)))
        if any(a["kind"] == "central" for a in agreement.approvals):
            steps.append(NextStep("attach-document", ("framework",), extra={"kind": "persetujuan_pemerintah_pusat"}))
            if any(a["kind"] == "central" and a["decision"] for a in agreement.approvals):
                steps.append(NextStep("correct"))
        return steps
    if "operator" not in roles or tenant not in agreement.party_regions:
        return []
    steps = []
    if stage not in CLOSED:
        if stage is Stage.PERSIAPAN and tenant == agreement.initiator:
            steps.append(NextStep("submit-offer"))
        if stage is Stage.PENAWARAN:
            others = [p["name"] for p in agreement.parties if p["kind"] == "other"]
            waiting = [k for k, p in zip(agreement.party_keys, agreement.parties, strict=True)
                       if p["role"] == "partner" and k not in agreement.responses]
            if tenant in waiting or (tenant == agreement.initiator and any(o in waiting for o in others)):
                steps.append(NextStep("record-offer-response"))
        documents_open: list[str] = []
        if stage is Stage.PENYUSUNAN_KESEPAKATAN:
            documents_open.append(FRAMEWORK)
        if stage in SIGNED:
            documents_open += [p["id"] for p in agreement.pks if p["stage"] in PKS_OPEN]
        to_request = {d: _approvals_to_request(agreement, d, tenant) for d in documents_open}
        if any(to_request.values()):
            steps.append(NextStep("request-approval", tuple(d for d, k in to_request.items() if k),
                                  tuple(sorted({k for kinds in to_request.values() for k in kinds}))))
        pending_dprd = [d for d in documents_open if agreement.approval_status("dprd", d, tenant) == "pending"]
        if pending_dprd:
            steps.append(NextStep("record-approval", tuple(pending_dprd), ("dprd",)))
        if stage is Stage.PENYUSUNAN_KESEPAKATAN and not agreement.missing_approvals(FRAMEWORK):
            steps.append(NextStep("sign-framework"))
        form = Form(agreement.form)
        if form is Form.SINERGI and stage is Stage.KESEPAKATAN_DITANDATANGANI:
            steps.append(NextStep("start-work-plan"))
        if form is not Form.SINERGI and stage in SIGNED:
            steps.append(NextStep("draft-pks"))
            signable = [p["id"] for p in agreement.pks
                        if p["stage"] in PKS_OPEN and not agreement.missing_approvals(p["id"])
                        and tenant in p["parties"]]
            if signable:
                steps.append(NextStep("sign-pks", tuple(signable)))
        in_force = []
        if agreement.framework is not None and agreement.framework["stage"] == "ditandatangani":
            in_force.append(FRAMEWORK)
        in_force += [p["id"] for p in agreement.pks if p["stage"] == "ditandatangani"]
        if in_force:
            steps.append(NextStep("amend", tuple(in_force)))
            steps.append(NextStep("extend", tuple(in_force)))
            all_pks_closed = all(p["stage"] in PKS_CLOSED for p in agreement.pks)
            terminable = tuple(d for d in in_force if d != FRAMEWORK or all_pks_closed)
            if terminable:
                steps.append(NextStep("terminate", terminable))
        drafts = tuple(p["id"] for p in agreement.pks if p["stage"] in PKS_OPEN)
        if stage not in SIGNED:
            steps.append(NextStep("cancel"))
        elif drafts:
            steps.append(NextStep("cancel", drafts))
    steps.append(NextStep("attach-document"))
    steps.append(NextStep("correct"))
    return steps

