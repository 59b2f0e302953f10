"""The reporting service's GraphQL schema: cross-region analysis, tenant-scoped.

Every field sees what the caller's tenant sees (DOMAIN.md, "Regions and tenants"): a region
the agreements it is party to, a province also its kab/kota's, the ministry everything.
Cost is bounded twice: the schema's depth, alias and token limits, and every list answer
at `settings.analysis_max_rows` (asking for more is an error; more rows than asked for come
back truncated).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from services.reporting.analysis import AnalysisFilter, AnalysisReadModel
from services.reporting.domain.labels import CATEGORIES, FORMS, PARTNER_TYPES, STAGES
from services.reporting.readmodel import ReportingReadModel
from shared.answers import Answers, reuse_answers
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
)
from shared.periods import Period, local_date
from shared.regions import Region, RegionCatalog, is_region_code, province_of
from shared.settings import Settings
from shared.tenancy import NATIONAL
from shared.urusan import URUSAN, get_urusan
from shared.wire import refuse_unstorable_arguments

REGION_KINDS = ("provinsi", "kabupaten", "kota")
NOT_FOUND = "Wilayah tidak ditemukan."


class ReportingContext(ServiceContext, kw_only=True):
    reads: ReportingReadModel
    compiler: Any  # services.reporting.compiler.Compiler
    clock: Any
    regions: RegionCatalog
    answers: Answers | None = None  # a query's result, kept while the read model has not changed


@strawberry.enum(description="Dimensi pengelompokan statistik kerja sama")
class StatsDimension(Enum):
    PROVINCE = "province"
    REGION = "region"
    FORM = "form"
    CATEGORY = "category"
    URUSAN = "urusan"
    STAGE = "stage"
    YEAR = "year"


@strawberry.input(description="Kerja sama yang dihitung; setiap isian mempersempit")
class CooperationFilter:
    province: str | None = strawberry.field(default=None, description="a party in this province")
    region: str | None = strawberry.field(default=None, description="this region is a party")
    form: list[str] | None = strawberry.field(default=None, description="KSDD, KSDPK, KSDPL, KSDLL, SINERGI")
    category: str | None = strawberry.field(default=None, description="wajib or sukarela (KSDD)")
    urusan: list[str] | None = strawberry.field(default=None, description="any of these urusan codes")
    stage: list[str] | None = None
    year_from: int | None = strawberry.field(default=None, description="year signed (else recorded, WIB) from")
    year_to: int | None = strawberry.field(default=None, description="year signed (else recorded, WIB) to")
    period: str | None = strawberry.field(default=None, description="alive during the period: 2026-S1 or 2026")
    active_only: bool = strawberry.field(default=False, description="framework signed and not ended")
    on: date | None = strawberry.field(
        default=None, description="a day: each cooperation by its stage then (legal dates, as known now); those not "
        "yet begun are left out; stage and activeOnly judge that stage")


@strawberry.input(description="Cakupan: wilayah yang ditinjau")
class CoverageFilter:
    province: str | None = strawberry.field(default=None, description="one province and its kab/kota")
    urusan: list[str] | None = strawberry.field(default=None, description="default: all 32")
    kind: list[str] | None = strawberry.field(default=None, description="provinsi, kabupaten, kota")
    on: date | None = strawberry.field(
        default=None, description="a day: active by each cooperation's stage then (legal dates, as known now)")


@strawberry.type(description="One group of cooperationStats: its keys (null when not grouped by it)")
class StatsGroup:
    province_code: strawberry.Private[str | None]
    region_code: strawberry.Private[str | None]
    urusan_code: strawberry.Private[str | None]
    form: str | None
    category: str | None
    stage: str | None
    year: int | None
    count: int = strawberry.field(description="distinct agreements")
    value_idr: Decimal = strawberry.field(description="their value, each agreement once (unknown counts 0)")

    @strawberry.field
    def province(self) -> RegionType | None:
        return region_type(self.province_code) if self.province_code else None

    @strawberry.field
    def region(self) -> RegionType | None:
        return region_type(self.region_code) if self.region_code else None

    @strawberry.field
    def urusan(self) -> UrusanType | None:
        found = get_urusan(self.urusan_code) if self.urusan_code else None
        return UrusanType.of(found) if found else None


@strawberry.type
class StatsTotal:
    count: int
    value_idr: Decimal


@strawberry.type(description="Jumlah dan nilai kerja sama per kelompok")
class CooperationStats:
    groups: list[StatsGroup]
    total: StatsTotal = strawberry.field(description="the filtered set, each agreement once")
    truncated: bool


@strawberry.type(description="A party of the network: a region, or a kind of third party (mitra:<type>)")
class NetworkNode:
    id: str
    kind: str = strawberry.field(description="provinsi, kabupaten, kota or mitra")
    label: str
    region: RegionType | None
    lat: float | None
    lng: float | None
    agreements: int
    value_idr: Decimal


@strawberry.type(description="Two parties and the agreements they share")
class NetworkEdge:
    source: str
    target: str
    weight: int = strawberry.field(description="distinct agreements")
    value_idr: Decimal


@strawberry.type(description="Siapa bekerja sama dengan siapa")
class CooperationNetwork:
    nodes: list[NetworkNode]
    edges: list[NetworkEdge]
    truncated: bool


def _regions_of(codes: list[str], info: Info, first: int | None) -> list[RegionType]:
    catalog: RegionCatalog = info.context.regions
    return [RegionType.of(r) for c in codes[:_bound(first, info.context.settings)] if (r := catalog.get(c))]


@strawberry.type
class UrusanCoverage:
    urusan: UrusanType
    covered: int = strawberry.field(description="regions in scope with an active cooperation in this urusan")
    without: int
    without_codes: strawberry.Private[list[str]]

    @strawberry.field(description="the regions without, by code")
    def regions_without(self, info: Info, first: int | None = None) -> list[RegionType]:
        return _regions_of(self.without_codes, info, first)


@strawberry.type(description="Wilayah tanpa kerja sama aktif")
class Coverage:
    regions: int = strawberry.field(description="autonomous regions in scope")
    with_active: int = strawberry.field(description="regions with an active cooperation in any urusan")
    by_urusan: list[UrusanCoverage]
    without_any_codes: strawberry.Private[list[str]]

    @strawberry.field(description="regions in scope with no active cooperation at all, by code")
    def without_any(self, info: Info, first: int | None = None) -> list[RegionType]:
        return _regions_of(self.without_any_codes, info, first)


@strawberry.type(description="An alert of a region's report: of one of its agreements, or of the region itself")
class ReportAlert:
    agreement_id: str | None
    agreement_title: str | None
    kind: str
    title: str
    severity: str
    since: date
    message: str
    regions: list[str]

    @classmethod
    def of(cls, alert: dict[str, Any], agreement: dict[str, Any] | None = None) -> ReportAlert:
        return cls(
            agreement_id=agreement["id"] if agreement else None,
            agreement_title=agreement["title"] if agreement else None,
            kind=alert["kind"], title=alert["title"], severity=alert["severity"],
            since=date.fromisoformat(alert["since"]), message=alert["message"], regions=list(alert["regions"]),
        )


# -- arguments ---------------------------------------------------------------------------------


def _analysis(ctx: ReportingContext) -> AnalysisReadModel:
    return AnalysisReadModel(ctx.reads.pool, timeout_ms=ctx.settings.analysis_timeout_ms)


def _bound(first: int | None, settings: Settings) -> int:
    limit = settings.analysis_max_rows
    if first is None:
        return limit
    if not 1 <= first <= limit:
        raise BadRequest(f"first: antara 1 dan {limit}.")
    return first


def _province(code: str, catalog: RegionCatalog) -> str:
    region = catalog.get(code) if is_region_code(code) else None
    if region is None or region.kind != "provinsi":
        raise BadRequest(f"province: kode provinsi tidak dikenal: {code}.")
    return code


def _codes(values: list[str] | None, known: Any, field: str, what: str) -> tuple[str, ...]:
    unknown = [v for v in values or () if v not in known]
    if unknown:
        raise BadRequest(f"{field}: {what} tidak dikenal: {', '.join(unknown)}.")
    return tuple(dict.fromkeys(values or ()))


def _year(value: int | None, field: str) -> int | None:
    if value is not None and not 2000 <= value <= 2100:
        raise BadRequest(f"{field}: tahun antara 2000 dan 2100.")
    return value


def analysis_filter(f: CooperationFilter | None, catalog: RegionCatalog, tenant: str) -> AnalysisFilter:
    """The filter as the read model takes it, every code checked. A region or province
    analyses within its own scope: filtering on another region is refused like coverage's."""
    f = f or CooperationFilter()
    if f.region is not None and (not is_region_code(f.region) or f.region not in catalog):
        raise BadRequest(f"region: kode wilayah tidak dikenal: {f.region}.")
    for code in (f.region, f.province):
        if code is not None and code in catalog and not (may_see_region(tenant, code) or code == tenant[:2]):
            raise NotFound(NOT_FOUND)
    if f.category is not None and f.category not in CATEGORIES:
        raise BadRequest("category: wajib atau sukarela.")
    year_from, year_to = _year(f.year_from, "yearFrom"), _year(f.year_to, "yearTo")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise BadRequest("yearFrom tidak boleh melebihi yearTo.")
    try:
        period = Period.parse(f.period) if f.period is not None else None
    except ValueError as e:
        raise BadRequest(f"period: {e}.") from None
    return AnalysisFilter(
        province=_province(f.province, catalog) if f.province is not None else None,
        region=f.region,
        form=_codes(f.form, FORMS, "form", "bentuk kerja sama"),
        category=f.category,
        urusan=_codes(f.urusan, {u.code for u in URUSAN}, "urusan", "kode urusan"),
        stage=_codes(f.stage, STAGES, "stage", "tahap"),
        year_from=year_from,
        year_to=year_to,
        period=period,
        active_only=f.active_only,
        on=f.on,
    )


def may_see_region(tenant: str, code: str) -> bool:
    """The region itself, a province's own kab/kota, anything for the ministry."""
    return tenant in (NATIONAL, code) or (len(tenant) == 2 and province_of(code) == tenant)


def coverage_scope(tenant: str, f: CoverageFilter, catalog: RegionCatalog) -> list[Region]:
    """The autonomous regions a coverage looks at: the ministry every one (or one province
    and its kab/kota), a province itself and its kab/kota, a kab/kota itself."""
    province = _province(f.province, catalog) if f.province is not None else None
    kinds = _codes(f.kind, REGION_KINDS, "kind", "jenis wilayah")
    if tenant == NATIONAL:
        provinces = [catalog.get(province)] if province else catalog.provinces()
    elif province is not None and province != province_of(tenant):
        raise NotFound(NOT_FOUND)
    else:
        provinces = [catalog.get(tenant)] if len(tenant) == 2 else []
    if tenant == NATIONAL or len(tenant) == 2:
        regions = [r for p in provinces if p for r in (p, *catalog.in_province(p.code))]
    else:
        regions = [r for r in (catalog.get(tenant),) if r]
    return sorted((r for r in regions if r.autonomous and (not kinds or r.kind in kinds)), key=lambda r: r.code)


def _node(row: dict[str, Any], catalog: RegionCatalog) -> NetworkNode:
    node_id = row["id"]
    if node_id.startswith("mitra:"):
        kind = node_id.removeprefix("mitra:")
        return NetworkNode(id=node_id, kind="mitra", label=PARTNER_TYPES.get(kind, kind), region=None, lat=None,
                           lng=None, agreements=row["agreements"], value_idr=row["value_idr"])
    region = catalog.get(node_id)
    return NetworkNode(
        id=node_id, kind=region.kind if region else "wilayah", label=region.display_name if region else node_id,
        region=RegionType.of(region) if region else None, lat=region.lat if region else None,
        lng=region.lng if region else None, agreements=row["agreements"], value_idr=row["value_idr"],
    )


# -- the schema ---------------------------------------------------------------------------------


@strawberry.type
class ReportingQuery(ReferenceQuery):
    @strawberry.field(description="Distinct agreements and their value, grouped by 0 to 7 dimensions. The filter "
                                  "selects agreements; a multi-valued dimension (REGION, PROVINCE, URUSAN) puts an "
                                  "agreement in each of its groups. At most `first` groups, ordered by the keys.")
    async def cooperation_stats(
        self, info: Info, group_by: list[StatsDimension], filter: CooperationFilter | None = None,  # noqa: A002
        first: int | None = None,
    ) -> CooperationStats:
        identity = identity_from(info)
        ctx: ReportingContext = info.context
        limit = _bound(first, ctx.settings)
        dimensions = [d.value for d in group_by]
        if len(set(dimensions)) != len(dimensions):
            raise BadRequest("groupBy: setiap dimensi hanya sekali.")
        result = await _analysis(ctx).stats(
            identity.tenant, dimensions, analysis_filter(filter, ctx.regions, identity.tenant), limit=limit)
        groups = [
            StatsGroup(province_code=g.get("province"), region_code=g.get("region"), urusan_code=g.get("urusan"),
                       form=g.get("form"), category=g.get("category"), stage=g.get("stage"), year=g.get("year"),
                       count=g["count"], value_idr=g["value_idr"])
            for g in result["groups"]
        ]
        total = result["total"]
        return CooperationStats(groups=groups, total=StatsTotal(count=total["count"], value_idr=total["value_idr"]),
                                truncated=result["truncated"])

    @strawberry.field(description="Who cooperates with whom: parties as nodes (regions, third parties by kind), "
                                  "pairs sharing at least `minWeight` agreements as edges, heaviest first; the nodes "
                                  "are the ends of the edges returned.")
    async def cooperation_network(
        self, info: Info, filter: CooperationFilter | None = None, min_weight: int = 1,  # noqa: A002
        first: int | None = None,
    ) -> CooperationNetwork:
        identity = identity_from(info)
        ctx: ReportingContext = info.context
        limit = _bound(first, ctx.settings)
        if min_weight < 1:
            raise BadRequest("minWeight: sedikitnya 1.")
        result = await _analysis(ctx).network(
            identity.tenant, analysis_filter(filter, ctx.regions, identity.tenant), min_weight=min_weight, limit=limit)
        return CooperationNetwork(
            nodes=[_node(n, ctx.regions) for n in result["nodes"]],
            edges=[NetworkEdge(**e) for e in result["edges"]],
            truncated=result["truncated"],
        )

    @strawberry.field(description="Regions in scope without an active cooperation (framework signed, not ended): "
                                  "at all, and per urusan; today, or by each cooperation's stage on `filter.on`.")
    async def coverage(self, info: Info, filter: CoverageFilter | None = None) -> Coverage:  # noqa: A002
        identity = identity_from(info)
        ctx: ReportingContext = info.context
        f = filter or CoverageFilter()
        scope = coverage_scope(identity.tenant, f, ctx.regions)
        known = {u.code: u for u in URUSAN}
        urusan = _codes(f.urusan, known, "urusan", "kode urusan") or tuple(known)
        codes = [r.code for r in scope]
        pairs = await _analysis(ctx).active_pairs(identity.tenant, codes, f.on) if codes else set()
        active = {r for r, _ in pairs}
        by_urusan = []
        for code in urusan:
            without = [c for c in codes if (c, code) not in pairs]
            by_urusan.append(UrusanCoverage(urusan=UrusanType.of(known[code]), covered=len(codes) - len(without),
                                            without=len(without), without_codes=without))
        return Coverage(regions=len(codes), with_active=len(active), by_urusan=by_urusan,
                        without_any_codes=[c for c in codes if c not in active])

    @strawberry.field(description="The alerts of one region's agreements and of the region itself, as the "
                                  "monitoring rules compute them today (the alert stream with its history is the "
                                  "monitoring service's).")
    async def alerts(self, info: Info, region: str) -> list[ReportAlert]:
        identity = identity_from(info)
        ctx: ReportingContext = info.context
        if not is_region_code(region):
            raise BadRequest("region: kode wilayah (32 atau 32.73).")
        if region not in ctx.regions or not may_see_region(identity.tenant, region):
            raise NotFound(NOT_FOUND)
        today = local_date(ctx.clock.now())
        compiled = await ctx.compiler.region_report(identity.tenant, region, Period.semester_of(today), today)
        content = compiled.content
        return [
            *(ReportAlert.of(a, entry) for entry in content["agreements"] for a in entry["alerts"]),
            *(ReportAlert.of(a) for a in content["region_alerts"]),
        ]


def _today(context: ReportingContext) -> date:
    return local_date(context.clock.now())


def build_schema(settings: Settings) -> strawberry.Schema:
    # Every string argument is checked like a REST text field before any resolver runs. Every
    # resolver reads the read model, reference data and the day only: a query's result is
    # kept while the read model has not changed (shared.answers), under the caller's tenant
    # and roles, the document, its variables and the day.
    return ServiceSchema(query=ReportingQuery,
                         extensions=[*limit_extensions(settings), refuse_unstorable_arguments(),
                                     reuse_answers(_today)])
