"""The registry's GraphQL schema: agreements from the read model, tenant-scoped."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from services.registry.domain.agreement import Form, Stage
from services.registry.projections.agreements import AgreementFilter, AgreementsReadModel, encode_cursor
from shared.errors import BadRequest
from shared.graphql import (
    ReferenceQuery,
    RegionType,
    ServiceContext,
    UrusanType,
    identity_from,
    limit_extensions,
    region_type,
    urusan_types,
)
from shared.settings import Settings

FormEnum = strawberry.enum(Form, name="Form", description="Bentuk kerja sama")
StageEnum = strawberry.enum(Stage, name="Stage", description="Tahap keluarga kerja sama")


class RegistryContext(ServiceContext, kw_only=True):
    agreements: AgreementsReadModel


@strawberry.type
class Party:
    kind: str
    role: str
    name: str | None
    type: str | None
    country: str | None
    region_code: str | None

    @strawberry.field
    def region(self) -> RegionType | None:
        return region_type(self.region_code) if self.region_code else None


@strawberry.type
class Agreement:
    id: strawberry.ID
    version: int
    form: FormEnum  # type: ignore[valid-type]
    category: str | None
    title: str
    object: str
    stage: StageEnum  # type: ignore[valid-type]
    initiator_code: str
    parties: list[Party]
    urusan_codes: list[str]
    value_idr: Decimal | None
    burdens_community: bool
    budgeted_in_apbd: bool
    dprd_approval_required: bool
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    def initiator(self) -> RegionType | None:
        return region_type(self.initiator_code)

    @strawberry.field
    def urusan(self) -> list[UrusanType]:
        return urusan_types(self.urusan_codes)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Agreement:
        return cls(
            id=strawberry.ID(str(row["id"])),
            version=row["version"],
            form=Form(row["form"]),
            category=row["category"],
            title=row["title"],
            object=row["object"],
            stage=Stage(row["stage"]),
            initiator_code=row["initiator"],
            parties=[
                Party(
                    kind=p["kind"],
                    role=p["role"],
                    name=p.get("name"),
                    type=p.get("type"),
                    country=p.get("country"),
                    region_code=p.get("region"),
                )
                for p in row["parties"]
            ],
            urusan_codes=list(row["urusan"]),
            value_idr=row["value_idr"],
            burdens_community=row["burdens_community"],
            budgeted_in_apbd=row["budgeted_in_apbd"],
            dprd_approval_required=row["dprd_approval_required"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@strawberry.type
class AgreementEdge:
    cursor: str
    node: Agreement


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class AgreementConnection:
    edges: list[AgreementEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[Agreement]:
        return [e.node for e in self.edges]


@strawberry.input
class AgreementFilterInput:
    stage: list[StageEnum] | None = None  # type: ignore[valid-type]
    form: list[FormEnum] | None = None  # type: ignore[valid-type]
    category: str | None = None
    region: str | None = None
    province: str | None = None
    urusan: str | None = None
    q: str | None = None


@strawberry.type
class Query(ReferenceQuery):
    @strawberry.field(description="One cooperation, if the caller's tenant may see it.")
    async def agreement(self, info: Info, id: strawberry.ID) -> Agreement | None:  # noqa: A002
        try:
            agreement_id = UUID(str(id))
        except ValueError:
            return None
        row = await info.context.agreements.get(identity_from(info).tenant, agreement_id)
        return Agreement.from_row(row) if row else None

    @strawberry.field(description="Cooperations the caller's tenant may see, newest first.")
    async def agreements(
        self,
        info: Info,
        filter: AgreementFilterInput | None = None,  # noqa: A002
        first: int | None = None,
        after: str | None = None,
    ) -> AgreementConnection:
        settings: Settings = info.context.settings
        size = first or settings.page_size_default
        if not 1 <= size <= settings.page_size_max:
            raise BadRequest(f"first harus antara 1 dan {settings.page_size_max}.")
        f = filter or AgreementFilterInput()
        page = await info.context.agreements.list(
            identity_from(info).tenant,
            AgreementFilter(
                stage=[s.value for s in f.stage or ()],
                form=[x.value for x in f.form or ()],
                category=f.category,
                region=f.region,
                province=f.province,
                urusan=f.urusan,
                q=f.q,
            ),
            limit=size,
            cursor=after,
        )
        edges = [AgreementEdge(cursor=encode_cursor(r["position"]), node=Agreement.from_row(r)) for r in page.rows]
        return AgreementConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor),
        )


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(query=Query, extensions=limit_extensions(settings))
