"""Wire types of the registry's REST API (msgspec Structs). They never enter the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from services.registry.application import StartAgreement
from services.registry.domain.agreement import Agreement

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
RegionCode = Annotated[str, msgspec.Meta(pattern=r"^\d{2}(\.\d{2})?$", examples=["32.04"])]
UrusanCode = Annotated[str, msgspec.Meta(pattern=r"^[1-3]\.\d{2}$", examples=["2.11"])]


class PartyIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A region (`{"region": "32.04"}`) or another party (`name`, `type`, `country`)."""

    region: RegionCode | None = None
    name: Annotated[str, msgspec.Meta(min_length=2, max_length=300)] | None = None
    type: Annotated[str, msgspec.Meta(min_length=2, max_length=60)] | None = None
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=100)] | None = None


class AgreementCreate(msgspec.Struct, forbid_unknown_fields=True):
    form: FormName
    title: Annotated[str, msgspec.Meta(min_length=3, max_length=300)]
    object: Annotated[str, msgspec.Meta(min_length=3, max_length=4000, description="objek kerja sama")]
    urusan: Annotated[list[UrusanCode], msgspec.Meta(min_length=1, max_length=32)]
    parties: Annotated[
        list[PartyIn],
        msgspec.Meta(min_length=1, max_length=50, description="the partners; the caller's region is added as initiator"),
    ]
    category: Literal["wajib", "sukarela"] | None = None
    value_idr: Annotated[int, msgspec.Meta(ge=0, description="nilai kerja sama, rupiah")] | None = None
    burdens_community: bool = False
    budgeted_in_apbd: bool = False
    initiator: Annotated[RegionCode, msgspec.Meta(description="optional; must be the caller's region")] | None = None

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

    @classmethod
    def from_aggregate(cls, a: Agreement) -> AgreementRead:
        return cls(
            id=a.id,
            version=a.version,
            form=a.form.value,  # type: ignore[arg-type]
            category=a.category.value if a.category else None,
            title=a.title,
            object=a.object,
            stage=a.stage.value,  # type: ignore[arg-type]
            initiator=a.initiator,
            parties=[msgspec.convert(p, PartyOut) for p in a.parties],
            urusan=list(a.urusan),
            value_idr=a.value_idr,
            burdens_community=a.burdens_community,
            budgeted_in_apbd=a.budgeted_in_apbd,
            dprd_approval_required=a.dprd_approval_required,
            created_at=a.created_on,
            updated_at=a.modified_on,
            created_by=msgspec.convert(a.created_by, Actor),
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AgreementRead:
        return cls(
            id=row["id"],
            version=row["version"],
            form=row["form"],
            category=row["category"],
            title=row["title"],
            object=row["object"],
            stage=row["stage"],
            initiator=row["initiator"],
            parties=[msgspec.convert(p, PartyOut) for p in row["parties"]],
            urusan=list(row["urusan"]),
            value_idr=int(row["value_idr"]) if row["value_idr"] is not None else None,
            burdens_community=row["burdens_community"],
            budgeted_in_apbd=row["budgeted_in_apbd"],
            dprd_approval_required=row["dprd_approval_required"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            created_by=msgspec.convert(row["created_by"], Actor),
        )


class AgreementPage(msgspec.Struct):
    items: list[AgreementRead]
    next_cursor: str | None
    limit: int
