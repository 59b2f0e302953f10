"""Wire types of the registry's REST API (msgspec Structs). They never enter the domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeAlias
from uuid import UUID

import msgspec

from services.registry.application import StartAgreement
from services.registry.domain import commands as cmd
from services.registry.domain.agreement import Agreement
from shared.wire import Label, Name, Reference, RegionCode, Rupiah, Text, Title, UrusanCode

FormName = Literal["KSDD", "KSDPK", "KSDPL", "KSDLL", "SINERGI"]
StageName = Literal[
    "persiapan",
    "penawaran",
    "penyusunan_kesepakatan",
    "kesepakatan_ditandatangani",
    "pelaksanaan",
    "berakhir",
    "dibatalkan",
]


class PartyIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A region (`{"region": "32.04"}`) or another party (`name`, `type`, `country`)."""

    region: RegionCode | None = None
    name: Annotated[Name, msgspec.Meta(min_length=2, description="the partner's name")] | None = None
    type: Annotated[Label, msgspec.Meta(min_length=2, description="the partner's kind, e.g. badan_usaha")] | None = None
    country: Annotated[Label, msgspec.Meta(min_length=2, description="the partner's country")] | None = None


class AgreementCreate(msgspec.Struct, forbid_unknown_fields=True):
    form: FormName
    title: Title
    object: Annotated[Text, msgspec.Meta(min_length=3, description="objek kerja sama")]
    urusan: Annotated[list[UrusanCode], msgspec.Meta(min_length=1, max_length=32)]
    parties: Annotated[
        list[PartyIn],
        msgspec.Meta(
            min_length=1, max_length=50, description="the partners; the caller's region is added as initiator"
        ),
    ]
    category: Literal["wajib", "sukarela"] | None = None
    value_idr: Annotated[Rupiah, msgspec.Meta(description="nilai kerja sama, rupiah")] | None = None
    burdens_community: bool = False
    budgeted_in_apbd: bool = False
    initiator: Annotated[RegionCode, msgspec.Meta(description="optional; must be the caller's region")] | None = None
    drafted_on: Annotated[date, msgspec.Meta(
        description="the day the cooperation was prepared (persiapan); default today (WIB)")] | None = None

    def to_command(self) -> StartAgreement:
        return StartAgreement(
            form=self.form,
            title=self.title,
            object=self.object,
            urusan=list(self.urusan),
            parties=[msgspec.structs.asdict(p) for p in self.parties],
            category=self.category,
            value_idr=self.value_idr,
            burdens_community=self.burdens_community,
            budgeted_in_apbd=self.budgeted_in_apbd,
            initiator=self.initiator,
            drafted_on=self.drafted_on,
        )


class PartyOut(msgspec.Struct, omit_defaults=True):
    kind: Literal["region", "other"]
    role: Literal["initiator", "partner"]
    region: str | None = None
    name: str | None = None
    type: str | None = None
    country: str | None = None


class Actor(msgspec.Struct):
    sub: str
    tenant: str
    roles: list[str]


class Offer(msgspec.Struct):
    reference: str
    sent_on: date
    direction: Literal["sent", "received"]
    note: str | None
    by: str


class OfferResponse(msgspec.Struct):
    party: str
    decision: Literal["accepted", "rejected"]
    reference: str
    responded_on: date
    note: str | None
    recorded_by: str


class Approval(msgspec.Struct):
    kind: Literal["dprd", "central"]
    document: str
    region: str
    reasons: list[str]
    request_reference: str
    requested_on: date
    decision: Literal["approved", "rejected"] | None
    decision_reference: str | None
    decided_on: date | None
    note: str | None


class SignatoryOut(msgspec.Struct):
    party: str
    name: str
    position: str
    capacity: str
    surat_kuasa: str | None


class Addendum(msgspec.Struct):
    reference: str
    signed_on: date
    changes: str
    value_idr: int | None


class Extension(msgspec.Struct):
    reference: str
    signed_on: date
    previous_end: date
    new_end: date
    exception_reference: str | None


class Termination(msgspec.Struct):
    ground: str
    reference: str
    terminated_on: date
    note: str | None


class Cancellation(msgspec.Struct):
    reason: str
    reference: str | None
    by: str
    cancelled_on: date | None = None  # as stated; absent on cancellations recorded before it was


class Framework(msgspec.Struct):
    """The framework document: Kesepakatan Bersama, MoU/LoI, or Nota Kesepakatan."""

    type: str
    stage: Literal["ditandatangani", "berakhir", "diputus"]
    number: str
    signed_on: date
    valid_from: date
    valid_until: date
    signatories: list[SignatoryOut]
    rencana_kerja: list[str]
    work_plan_started_on: date | None
    addenda: list[Addendum]
    extensions: list[Extension]
    termination: Termination | None


class Pks(msgspec.Struct):
    """One Perjanjian Kerja Sama under the framework."""

    id: str
    title: str
    object: str
    parties: list[str]
    stage: Literal["penyusunan", "menunggu_persetujuan_dprd", "ditandatangani", "berakhir", "diputus", "dibatalkan"]
    value_idr: int | None
    burdens_community: bool
    budgeted_in_apbd: bool
    dprd_reasons: list[str]
    drafted_on: date
    number: str | None
    signed_on: date | None
    start_on: date | None
    end_on: date | None
    exception_reference: str | None
    signatories: list[SignatoryOut]
    addenda: list[Addendum]
    extensions: list[Extension]
    termination: Termination | None
    cancellation: Cancellation | None = None


class AttachmentOut(msgspec.Struct):
    document: str | None
    kind: str
    name: str
    size: int
    media_type: str
    sha256: str
    attached_at: datetime
    attached_by: str
    download_url: str


class AgreementRead(msgspec.Struct):
    id: UUID
    version: int
    form: FormName
    category: str | None
    title: str
    object: str
    stage: StageName
    initiator: str
    parties: list[PartyOut]
    urusan: list[str]
    value_idr: int | None
    burdens_community: bool
    budgeted_in_apbd: bool
    dprd_approval_required: bool
    created_at: datetime
    updated_at: datetime
    created_by: Actor
    offer: Offer | None
    offer_responses: list[OfferResponse]
    approvals: list[Approval]
    framework: Framework | None
    pks: list[Pks]
    documents: list[AttachmentOut]
    cancellation: Cancellation | None
    ended_on: date | None = None  # the day the family ended (berakhir or dibatalkan)
    drafted_on: date | None = None  # the day it was prepared (persiapan); absent on older histories

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AgreementRead:
        """A read-model row's stored rendering (its `api` column, `from_aggregate`'s JSON)."""
        return msgspec.json.decode(row["api"], type=cls)

    @classmethod
    def from_aggregate(cls, agreement: Agreement, state: dict[str, Any] | None = None) -> AgreementRead:
        """One rendering for the event store's answer and the read model's copy; `state`: the
        agreement's `to_state()`, when the caller holds it already."""
        if state is None:
            state = agreement.to_state()
        base = f"/agreements/{agreement.id}/documents"
        return msgspec.convert(
            {
                **{k: v for k, v in state.items() if not k.startswith("_")},
                "id": agreement.id,
                "version": agreement.version,
                "initiator": agreement.initiator,
                "dprd_approval_required": agreement.dprd_approval_required,
                "created_at": state["_created_on"],
                "updated_at": state["_modified_on"],
                "offer_responses": list(state["responses"].values()),
                "documents": [{**a, "download_url": f"{base}/{a['sha256']}"} for a in state["attachments"]],
            },
            cls,
        )


class AgreementPage(msgspec.Struct):
    items: list[AgreementRead]
    next_cursor: str | None
    limit: int


# -- action bodies ---------------------------------------------------------------------------

Note: TypeAlias = Text
DOCUMENT_PATTERN = r"^(framework|pks-[0-9]{1,9})$"
DocumentRef = Annotated[
    str,
    msgspec.Meta(pattern=DOCUMENT_PATTERN, max_length=13, description="`framework` or a PKS id such as `pks-1`",
                 examples=["framework", "pks-1"]),
]
PksRef = Annotated[str, msgspec.Meta(pattern=r"^pks-[0-9]{1,9}$", max_length=13, examples=["pks-1"],
                                     description="a PKS id: `pks-1`, `pks-2`, ...")]
Money = Rupiah
GroundName = Literal[
    "para_pihak_sepakat", "tujuan_tercapai", "keadaan_kahar", "wanprestasi", "digantikan_perjanjian_baru",
    "perubahan_peraturan", "objek_hilang", "merugikan_kepentingan_nasional", "masa_berlaku_habis",
]


class _Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class SubmitOfferIn(_Body):
    reference: Reference
    sent_on: date
    direction: Literal["sent", "received"] = "sent"
    note: Note | None = None

    def to_command(self) -> cmd.SubmitOffer:
        return cmd.SubmitOffer(reference=self.reference, sent_on=self.sent_on, direction=self.direction,
                               note=self.note)


class OfferResponseIn(_Body):
    decision: Literal["accepted", "rejected"]
    reference: Reference
    responded_on: date
    party: Annotated[Name, msgspec.Meta(
        description="a non-region partner's name (recorded by the initiator); "
        "a partner region records its own answer and may omit it")] | None = None
    note: Note | None = None

    def to_command(self) -> cmd.RecordOfferResponse:
        return cmd.RecordOfferResponse(decision=self.decision, reference=self.reference,
                                       responded_on=self.responded_on, party=self.party, note=self.note)


class ApprovalRequestIn(_Body):
    kind: Literal["dprd", "central"]
    reference: Reference
    requested_on: date
    document: DocumentRef = "framework"

    def to_command(self) -> cmd.RequestApproval:
        return cmd.RequestApproval(kind=self.kind, reference=self.reference, requested_on=self.requested_on,
                                   document=self.document)


class ApprovalIn(_Body):
    kind: Literal["dprd", "central"]
    decision: Literal["approved", "rejected"]
    reference: Reference
    decided_on: date
    document: DocumentRef = "framework"
    note: Note | None = None

    def to_command(self) -> cmd.RecordApproval:
        return cmd.RecordApproval(kind=self.kind, decision=self.decision, reference=self.reference,
                                  decided_on=self.decided_on, document=self.document, note=self.note)


class SignatoryIn(_Body):
    party: Annotated[Name, msgspec.Meta(description="a party region's code, or a partner's name")]
    name: Annotated[Name, msgspec.Meta(min_length=2, description="the signatory's name")]
    position: Annotated[Name, msgspec.Meta(min_length=2, description="jabatan")]
    capacity: Literal["kepala_daerah", "pejabat_kuasa", "perwakilan_mitra"]
    surat_kuasa: Annotated[Reference, msgspec.Meta(description="nomor surat kuasa")] | None = None

    def to_value(self) -> cmd.Signatory:
        return cmd.Signatory(party=self.party, name=self.name, position=self.position,
                             capacity=cmd.Capacity(self.capacity), surat_kuasa=self.surat_kuasa)


Signatories = Annotated[list[SignatoryIn], msgspec.Meta(min_length=1, max_length=60)]


class SignFrameworkIn(_Body):
    number: Reference
    signed_on: date
    valid_from: date
    valid_until: date
    signatories: Signatories
    document_type: Literal["kesepakatan_bersama", "mou", "loi", "nota_kesepakatan"] | None = None
    rencana_kerja: Annotated[list[Text], msgspec.Meta(
        max_length=200, description="SINERGI only: the work plan of the Nota Kesepakatan")] = []

    def to_command(self) -> cmd.SignFramework:
        return cmd.SignFramework(number=self.number, signed_on=self.signed_on, valid_from=self.valid_from,
                                 valid_until=self.valid_until,
                                 signatories=tuple(s.to_value() for s in self.signatories),
                                 document_type=self.document_type, rencana_kerja=tuple(self.rencana_kerja))


class StartWorkPlanIn(_Body):
    started_on: date
    note: Note | None = None

    def to_command(self) -> cmd.StartWorkPlan:
        return cmd.StartWorkPlan(started_on=self.started_on, note=self.note)


class DraftPksIn(_Body):
    title: Title
    object: Annotated[Text, msgspec.Meta(min_length=3, description="objek PKS")]
    parties: Annotated[list[Name], msgspec.Meta(
        max_length=50, description="the PKS's parties (region codes or partner names); default: all")] = []
    value_idr: Money | None = None
    burdens_community: bool | None = None
    budgeted_in_apbd: bool | None = None
    drafted_on: (
        Annotated[date, msgspec.Meta(description="the day the draft was made; default today (WIB)")] | None
    ) = None

    def to_command(self) -> cmd.DraftPks:
        return cmd.DraftPks(title=self.title, object=self.object, parties=tuple(self.parties),
                            value_idr=self.value_idr, burdens_community=self.burdens_community,
                            budgeted_in_apbd=self.budgeted_in_apbd, drafted_on=self.drafted_on)


class SignPksIn(_Body):
    pks: PksRef
    number: Reference
    signed_on: date
    start_on: date
    end_on: date
    signatories: Signatories
    exception_reference: Annotated[Name, msgspec.Meta(
        description="sector law allowing a term beyond the limit")] | None = None

    def to_command(self) -> cmd.SignPks:
        return cmd.SignPks(pks=self.pks, number=self.number, signed_on=self.signed_on, start_on=self.start_on,
                           end_on=self.end_on, signatories=tuple(s.to_value() for s in self.signatories),
                           exception_reference=self.exception_reference)


class AmendIn(_Body):
    document: DocumentRef
    reference: Reference
    signed_on: date
    changes: Annotated[Text, msgspec.Meta(min_length=3, description="what the addendum changes")]
    value_idr: Money | None = None

    def to_command(self) -> cmd.Amend:
        return cmd.Amend(document=self.document, reference=self.reference, signed_on=self.signed_on,
                         changes=self.changes, value_idr=self.value_idr)


class ExtendIn(_Body):
    document: DocumentRef
    reference: Reference
    signed_on: date
    new_end: date
    exception_reference: Annotated[Name, msgspec.Meta(
        description="sector law allowing a term beyond the limit")] | None = None

    def to_command(self) -> cmd.Extend:
        return cmd.Extend(document=self.document, reference=self.reference, signed_on=self.signed_on,
                          new_end=self.new_end, exception_reference=self.exception_reference)


class TerminateIn(_Body):
    document: DocumentRef
    ground: GroundName
    reference: Reference
    terminated_on: date
    note: Note | None = None

    def to_command(self) -> cmd.Terminate:
        return cmd.Terminate(document=self.document, ground=cmd.Ground(self.ground), reference=self.reference,
                             terminated_on=self.terminated_on, note=self.note)


class CancelIn(_Body):
    reason: Annotated[Text, msgspec.Meta(min_length=3, description="why it is cancelled")]
    document: (
        Annotated[PksRef, msgspec.Meta(description="an unsigned PKS draft; omit to cancel the cooperation")] | None
    ) = None
    reference: Reference | None = None
    cancelled_on: (
        Annotated[date, msgspec.Meta(description="the day it was abandoned; default today (WIB)")] | None
    ) = None

    def to_command(self) -> cmd.Cancel:
        return cmd.Cancel(reason=self.reason, document=self.document, reference=self.reference,
                          cancelled_on=self.cancelled_on)


class CorrectionChanges(_Body, omit_defaults=True):
    """The corrected facts, named as the step recorded them; state only those that change.
    Each step records its own: `create` drafted_on, value_idr; `submit-offer` reference,
    sent_on; `record-offer-response` reference, responded_on; `request-approval` reference,
    requested_on; `record-approval` reference, decided_on; `sign-framework` number, signed_on,
    valid_from, valid_until, signatories; `start-work-plan` started_on; `draft-pks` drafted_on,
    value_idr; `sign-pks` number, signed_on, start_on, end_on, signatories; `amend` reference,
    signed_on, value_idr; `extend` reference, signed_on, new_end; `terminate` reference,
    terminated_on; `cancel` reference, cancelled_on."""

    drafted_on: date | None = None
    sent_on: date | None = None
    responded_on: date | None = None
    requested_on: date | None = None
    decided_on: date | None = None
    signed_on: date | None = None
    started_on: date | None = None
    terminated_on: date | None = None
    cancelled_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    start_on: date | None = None
    end_on: date | None = None
    new_end: date | None = None
    reference: Reference | None = None
    number: Reference | None = None
    value_idr: Money | None = None
    signatories: Signatories | None = None


class CorrectIn(_Body):
    version: Annotated[int, msgspec.Meta(
        ge=1, le=2_147_483_647, description="the version of the recorded step (or of a correction) to correct")]
    changes: CorrectionChanges
    reason: Annotated[Text, msgspec.Meta(min_length=3, description="why (alasan ralat)")]

    def to_command(self) -> cmd.Correct:
        changes: dict[str, Any] = {
            name: value for name, value in msgspec.structs.asdict(self.changes).items() if value is not None
        }
        if "signatories" in changes:
            changes["signatories"] = tuple(s.to_value() for s in self.changes.signatories or ())
        return cmd.Correct(version=self.version, changes=changes, reason=self.reason)
