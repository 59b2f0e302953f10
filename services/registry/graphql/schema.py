"""The registry's GraphQL schema: agreements from the read model, tenant-scoped."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio.to_thread
import msgspec
import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON
from strawberry.types import Info

from services.registry.api.schemas import AgreementRead
from services.registry.application import without_state_filters
from services.registry.domain.agreement import Form, Stage
from services.registry.projections.agreements import AgreementFilter, AgreementsReadModel
from shared.auth import Identity
from shared.cursors import encode_cursor
from shared.errors import BadRequest, NotFound
from shared.graphql import (
    ReferenceQuery,
    RegionType,
    ServiceContext,
    ServiceSchema,
    UrusanType,
    identity_from,
    limit_extensions,
    region_type,
    urusan_types,
)
from shared.settings import Settings
from shared.wire import refuse_unstorable_arguments

# strawberry.enum registers the GraphQL enum on the class itself (and returns it): the types
# below name `Form` and `Stage`, which a type checker reads as types.
FormEnum = strawberry.enum(Form, name="Form", description="Bentuk kerja sama")
StageEnum = strawberry.enum(Stage, name="Stage", description="Tahap keluarga kerja sama")


class RegistryContext(ServiceContext, kw_only=True):
    agreements: AgreementsReadModel
    registry: Any = None  # services.registry.application.Registry: time travel
    audit: Any = None  # services.registry.audit.Audit: history
    # The histories a request asks for, loaded together (one query per page, not per row).
    histories: DataLoader[UUID, list[dict[str, Any]]] | None = None


def history_loader(audit: Any, identity: Identity | None) -> DataLoader[UUID, list[dict[str, Any]]]:
    """A request's loader of agreements' histories (`Audit.histories`): the agreements of a
    page that ask for theirs are read in one query."""

    async def load(ids: list[UUID]) -> list[list[dict[str, Any]] | BaseException]:
        if identity is None:
            return [NotFound("Kerja sama tidak ditemukan.") for _ in ids]
        found = await anyio.to_thread.run_sync(audit.histories, identity, ids)
        return [found.get(i) or NotFound("Kerja sama tidak ditemukan.") for i in ids]

    return DataLoader(load_fn=load)


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


@strawberry.type(description="Who recorded a step: stable subject id, tenant and roles")
class Actor:
    sub: str
    tenant: str
    roles: list[str]


@strawberry.type(description="One recorded event and its link of the hash chain (see GET /agreements/{id}/history)")
class HistoryEvent:
    version: int
    type: str | None
    topic: str | None
    recorded_at: str | None
    actor: Actor | None
    data: JSON | None = strawberry.field(description="What the event recorded, with its class_version")
    prev_hash: str | None
    hash: str | None
    error: str | None = strawberry.field(description="Why a damaged event cannot be read")


@strawberry.type(description="Surat penawaran")
class Offer:
    reference: str
    sent_on: date
    direction: str
    note: str | None
    by: str


@strawberry.type
class OfferResponse:
    party: str
    decision: str
    reference: str
    responded_on: date
    note: str | None
    recorded_by: str


@strawberry.type(description="A DPRD or central-government approval: its request and decision")
class Approval:
    kind: str
    document: str
    region: str
    reasons: list[str]
    request_reference: str
    requested_on: date
    decision: str | None
    decision_reference: str | None
    decided_on: date | None
    note: str | None


@strawberry.type
class Signatory:
    party: str
    name: str
    position: str
    capacity: str
    surat_kuasa: str | None


@strawberry.type(description="Addendum (perubahan)")
class Addendum:
    reference: str
    signed_on: date
    changes: str
    value_idr: Decimal | None


@strawberry.type(description="Perpanjangan")
class Extension:
    reference: str
    signed_on: date
    previous_end: date
    new_end: date
    exception_reference: str | None


@strawberry.type
class Termination:
    ground: str
    reference: str
    terminated_on: date
    note: str | None


@strawberry.type
class Cancellation:
    reason: str
    reference: str | None
    by: str
    cancelled_on: date | None = None


@strawberry.type(description="Kesepakatan Bersama, MoU/LoI, or Nota Kesepakatan")
class Framework:
    type: str
    stage: str
    number: str
    signed_on: date
    valid_from: date
    valid_until: date
    signatories: list[Signatory]
    rencana_kerja: list[str]
    work_plan_started_on: date | None
    addenda: list[Addendum]
    extensions: list[Extension]
    termination: Termination | None


@strawberry.type(description="Perjanjian Kerja Sama")
class Pks:
    id: str
    title: str
    object: str
    parties: list[str]
    stage: str
    value_idr: Decimal | None
    burdens_community: bool
    budgeted_in_apbd: bool
    dprd_reasons: list[str]
    drafted_on: date
    number: str | None
    signed_on: date | None
    start_on: date | None
    end_on: date | None
    exception_reference: str | None
    signatories: list[Signatory]
    addenda: list[Addendum]
    extensions: list[Extension]
    termination: Termination | None
    cancellation: Cancellation | None


@strawberry.type(description="An attached file; download it at downloadUrl with the same token")
class Document:
    document: str | None
    kind: str
    name: str
    size: int
    media_type: str
    sha256: str
    attached_at: datetime
    attached_by: str
    download_url: str


@strawberry.type(description="Bilingual text: Bahasa Indonesia (id) and English (en)")
class ReasonText:
    id: str
    en: str


@strawberry.type(description="This agreement's history failed verification against the transparency log: "
                             "past content read from it may have been altered (REST: integrity_warning and the "
                             "X-KSD-Integrity header)")
class IntegrityWarning:
    code: str
    first_invalid_version: int | None
    reason: str | None
    reason_text: ReasonText | None
    message: str


_NESTED: dict[str, Any] = {
    "created_by": Actor, "offer": Offer, "offer_responses": OfferResponse, "approvals": Approval,
    "signatories": Signatory, "addenda": Addendum, "extensions": Extension, "termination": Termination,
    "cancellation": Cancellation, "framework": Framework, "pks": Pks, "documents": Document,
}


# The agreement's nested records, built on demand (`Agreement.nested`).
_LAZY = ("created_by", "offer", "offer_responses", "approvals", "framework", "pks", "documents", "cancellation")


def _one(cls: type, value: dict[str, Any] | None) -> Any:
    return None if value is None else _build(cls, value)


def _many(cls: type, values: list[dict[str, Any]]) -> list[Any]:
    return [_build(cls, v) for v in values]


def _build(cls: type, values: dict[str, Any]) -> Any:
    """A strawberry object from a plain dict (msgspec's rendering), nested types included."""
    fields = {}
    for name, value in values.items():
        nested = _NESTED.get(name)
        if nested is not None and isinstance(value, list):
            value = [_build(nested, v) for v in value]
        elif nested is not None and isinstance(value, dict):
            value = _build(nested, value)
        fields[name] = value
    return cls(**fields)


@strawberry.type
class Agreement:
    id: strawberry.ID
    version: int
    form: Form
    category: str | None
    title: str
    object: str
    stage: Stage
    initiator_code: str
    parties: list[Party]
    urusan_codes: list[str]
    value_idr: Decimal | None
    burdens_community: bool
    budgeted_in_apbd: bool
    dprd_approval_required: bool
    created_at: datetime
    updated_at: datetime
    ended_on: date | None = strawberry.field(default=None, description="The day the family ended, once it has")
    drafted_on: date | None = strawberry.field(default=None, description="The day it was prepared (persiapan)")
    # The nested records as plain values: each becomes its objects only when a query asks for
    # it (a list page asks for none: building them all was a fifth of its time).
    nested: strawberry.Private[dict[str, Any]] = dataclasses.field(default_factory=dict)

    @strawberry.field
    def created_by(self) -> Actor:
        return _one(Actor, self.nested["created_by"])

    @strawberry.field
    def offer(self) -> Offer | None:
        return _one(Offer, self.nested["offer"])

    @strawberry.field
    def offer_responses(self) -> list[OfferResponse]:
        return _many(OfferResponse, self.nested["offer_responses"])

    @strawberry.field
    def approvals(self) -> list[Approval]:
        return _many(Approval, self.nested["approvals"])

    @strawberry.field
    def framework(self) -> Framework | None:
        return _one(Framework, self.nested["framework"])

    @strawberry.field
    def pks(self) -> list[Pks]:
        return _many(Pks, self.nested["pks"])

    @strawberry.field
    def documents(self) -> list[Document]:
        return _many(Document, self.nested["documents"])

    @strawberry.field
    def cancellation(self) -> Cancellation | None:
        return _one(Cancellation, self.nested["cancellation"])

    @strawberry.field
    def initiator(self) -> RegionType | None:
        return region_type(self.initiator_code)

    @strawberry.field
    def urusan(self) -> list[UrusanType]:
        return urusan_types(self.urusan_codes)

    @strawberry.field(description="Every event in order, with its hash chain (anyone who can see the agreement)")
    async def history(self, info: Info) -> list[HistoryEvent]:
        loader = info.context.histories or history_loader(info.context.audit, identity_from(info))
        events = await loader.load(UUID(str(self.id)))
        return [
            HistoryEvent(
                version=e["version"], type=e.get("type"), topic=e.get("topic"), recorded_at=e.get("recorded_at"),
                actor=Actor(**e["actor"]) if e.get("actor") else None, data=e.get("data"),
                prev_hash=e["prev_hash"], hash=e["hash"], error=e.get("error"),
            )
            for e in events
        ]

    @strawberry.field(description="Null when the agreement's history verifies against the transparency log (as "
                                  "GET /agreements/{id}/verify checks it); else what failed, at which version. Ask "
                                  "for it with a past state (version, asOf) or the history: they replay stored events.")
    async def integrity_warning(self, info: Info) -> IntegrityWarning | None:
        warning = await anyio.to_thread.run_sync(info.context.audit.integrity_warning, UUID(str(self.id)))
        if warning is None:
            return None
        text = warning.get("reason_text")
        return IntegrityWarning(code=warning["code"], first_invalid_version=warning["first_invalid_version"],
                                reason=warning["reason"], message=warning["message"],
                                reason_text=ReasonText(id=text["id"], en=text["en"]) if text else None)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Agreement:
        return cls.from_read(AgreementRead.from_row(row))

    @classmethod
    def from_read(cls, rendered: AgreementRead) -> Agreement:
        read = msgspec.to_builtins(rendered, builtin_types=(datetime, date, UUID))
        parties = [
            Party(kind=p["kind"], role=p["role"], name=p.get("name"), type=p.get("type"),
                  country=p.get("country"), region_code=p.get("region"))
            for p in read.pop("parties")
        ]
        read.update(
            id=strawberry.ID(str(read["id"])), form=Form(read["form"]), stage=Stage(read["stage"]),
            initiator_code=read.pop("initiator"), urusan_codes=read.pop("urusan"), parties=parties,
        )
        nested = {name: read.pop(name) for name in _LAZY}
        return cls(**read, nested=nested)


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
    stage: list[Stage] | None = None
    form: list[Form] | None = None
    category: str | None = None
    region: str | None = None
    province: str | None = None
    urusan: str | None = None
    q: str | None = None
    signed_from: date | None = strawberry.field(default=None, description="framework signed on or after")
    signed_to: date | None = strawberry.field(default=None, description="framework signed on or before")
    expiring_from: date | None = strawberry.field(default=None, description="a document in force ends on or after")
    expiring_to: date | None = strawberry.field(default=None, description="a document in force ends on or before")
    on: date | None = strawberry.field(
        default=None, description="a day: each cooperation as legally in force then, as known now; stage, signed* "
        "and expiring* judge that state (a page may then hold fewer than `first`)")


@strawberry.type
class Query(ReferenceQuery):
    @strawberry.field(
        description="One cooperation, if the caller's tenant may see it: now, or as it was at `version` or at "
        "`asOf` (transaction time: as recorded then; replayed from the event store; null past the head or before "
        "it existed). `on` (valid time): what was legally in force that day, as known now or, with `asOf` or "
        "`version`, as known then (null when it was prepared after `on`)."
    )
    async def agreement(
        self,
        info: Info,
        id: strawberry.ID,  # noqa: A002
        version: int | None = None,
        as_of: datetime | None = None,
        on: Annotated[date | None, strawberry.argument(
            description="a day: the steps whose legal date is on or before it (valid time)")] = None,
    ) -> Agreement | None:
        try:
            agreement_id = UUID(str(id))
        except ValueError:
            return None
        if version is None and as_of is None and on is None:
            row = await info.context.agreements.get(identity_from(info).tenant, agreement_id)
            return Agreement.from_row(row) if row else None
        if version is not None and as_of is not None:
            raise BadRequest("Pilih salah satu: version atau asOf.")
        if version is not None and version < 1:
            raise BadRequest("version mulai dari 1.")
        registry = info.context.registry
        try:
            then = await anyio.to_thread.run_sync(
                partial(registry.get_agreement, identity_from(info), agreement_id, version=version, as_of=as_of,
                        on=on)
            )
        except NotFound:
            return None
        return Agreement.from_read(AgreementRead.from_aggregate(then))

    @strawberry.field(description="Cooperations the caller's tenant may see, newest first.")
    async def agreements(
        self,
        info: Info,
        filter: AgreementFilterInput | None = None,  # noqa: A002
        first: int | None = None,
        after: str | None = None,
    ) -> AgreementConnection:
        settings: Settings = info.context.settings
        size = settings.page_size_default if first is None else first  # first: 0 is refused
        if not 1 <= size <= settings.page_size_max:
            raise BadRequest(f"first harus antara 1 dan {settings.page_size_max}.")
        f = filter or AgreementFilterInput()
        flt = AgreementFilter(
            stage=[s.value for s in f.stage or ()],
            form=[x.value for x in f.form or ()],
            category=f.category,
            region=f.region,
            province=f.province,
            urusan=f.urusan,
            q=f.q,
            signed_from=f.signed_from,
            signed_to=f.signed_to,
            expiring_from=f.expiring_from,
            expiring_to=f.expiring_to,
        )
        tenant = identity_from(info).tenant
        if f.on is None:
            page = await info.context.agreements.list(tenant, flt, limit=size, cursor=after)
            edges = [AgreementEdge(cursor=encode_cursor(r["position"]), node=Agreement.from_row(r))
                     for r in page.rows]
        else:
            page = await info.context.agreements.list(tenant, without_state_filters(flt), limit=size, cursor=after)
            positions = {r["id"]: r["position"] for r in page.rows}
            found = await anyio.to_thread.run_sync(
                info.context.registry.listed_on, list(positions), f.on, flt)
            edges = [AgreementEdge(cursor=encode_cursor(positions[a.id]),
                                   node=Agreement.from_read(AgreementRead.from_aggregate(a))) for a in found]
        return AgreementConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.next_cursor is not None, end_cursor=page.next_cursor),
        )


def build_schema(settings: Settings) -> strawberry.Schema:
    # Every string argument is checked like a REST text field before any resolver runs.
    return ServiceSchema(query=Query,
                         extensions=[*limit_extensions(settings), refuse_unstorable_arguments()])
