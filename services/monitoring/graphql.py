"""The monitoring service's GraphQL schema: alerts and health, tenant-scoped."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.monitoring.domain.alerts import Kind, Severity
from services.monitoring.domain.valid_time import past_day
from services.monitoring.readmodel import AlertFilter, MonitoringReadModel, NotYetInForce
from shared.errors import BadRequest, NotFound
from shared.graphql import (
    ReferenceQuery,
    RegionType,
    ServiceContext,
    ServiceSchema,
    identity_from,
    limit_extensions,
    region_type,
)
from shared.periods import local_date
from shared.regions import is_region_code, province_of
from shared.settings import Settings
from shared.tenancy import NATIONAL
from shared.wire import refuse_unstorable_arguments

# Valid time (API.md "Two times"), as the registry's and reporting's `on`.
ON_DAY = ("a past day (valid time, as known now): as legally on that day: each agreement by its stage then (those "
          "not yet begun left out), its documents as they stood then, the reports filed by then, the alerts open "
          "then; today or later: now")

if TYPE_CHECKING:  # mypy reads strawberry's enums as the enums they wrap
    AlertKind = Kind
    AlertSeverity = Severity
else:
    AlertKind = strawberry.enum(Kind, name="AlertKind", description="Jenis peringatan")
    AlertSeverity = strawberry.enum(Severity, name="AlertSeverity", description="Tingkat peringatan")


class MonitoringContext(ServiceContext, kw_only=True):
    reads: MonitoringReadModel
    clock: Any


@strawberry.type(description="Peringatan: a cause the ministry wants to see, open until the cause is gone")
class Alert:
    id: str
    kind: AlertKind
    title: str
    severity: AlertSeverity
    level: int | None
    agreement_id: str | None
    region: str | None
    regions: list[str]
    since: date
    message: str
    details: JSON
    opened_at: str
    cleared_at: str | None

    @classmethod
    def of(cls, a: dict[str, Any]) -> Alert:
        return cls(
            id=a["id"], kind=Kind(a["kind"]), title=a["title"], severity=Severity(a["severity"]), level=a["level"],
            agreement_id=a["agreement_id"], region=a["region"], regions=a["regions"],
            since=date.fromisoformat(a["since"]), message=a["message"], details=a["details"],
            opened_at=a["opened_at"], cleared_at=a["cleared_at"],
        )


@strawberry.type
class AlertPage:
    items: list[Alert]
    next_cursor: str | None


@strawberry.input
class AlertFilterInput:
    kind: AlertKind | None = None
    severity: AlertSeverity | None = strawberry.field(default=None, description="this level or higher")
    region: str | None = None
    province: str | None = None
    agreement_id: strawberry.ID | None = None
    state: str = strawberry.field(default="open", description="open, cleared or all")
    on: date | None = strawberry.field(
        default=None, description="a past day (valid time, as known now): the alerts open then (cause begun, not yet "
        "cleared by its end); with state cleared those cleared by then, all those begun by then; today or later: now")


@strawberry.type
class DocumentInForce:
    document: str
    type: str
    number: str | None
    valid_until: date
    days_left: int


@strawberry.type(description="Kesehatan satu kerja sama")
class AgreementHealth:
    agreement_id: str
    title: str
    form: str
    stage: str
    version: int
    party_regions: list[str]
    evaluator: str
    documents_in_force: list[DocumentInForce]
    reports_filed: int
    last_report: JSON | None
    latest_evaluation: JSON | None
    open_alerts: list[Alert]


@strawberry.type
class StageCount:
    stage: str
    count: int


@strawberry.type
class KindCount:
    kind: AlertKind
    count: int


@strawberry.type(description="Kesehatan kerja sama suatu daerah (provinsi: termasuk kabupaten/kotanya)")
class RegionHealth:
    code: str
    agreements: int
    by_stage: list[StageCount]
    frameworks_signed: int
    frameworks_with_pks: int
    share_frameworks_with_pks: float | None
    reports_due: int
    reports_on_time: int
    share_pks_reporting_on_time: float | None
    median_days_framework_to_first_pks: float | None
    open_alerts: list[KindCount]

    @strawberry.field
    def region(self) -> RegionType | None:
        return region_type(self.code) if self.code != NATIONAL else None


def _may_see_region(tenant: str, code: str) -> bool:
    return tenant in (NATIONAL, code) or (len(tenant) == 2 and province_of(code) == tenant and code != NATIONAL)


@strawberry.type
class MonitoringQuery(ReferenceQuery):
    @strawberry.field(description="Alerts the caller may see, newest first")
    async def alerts(
        self, info: Info, filter: AlertFilterInput | None = None, first: int | None = None, after: str | None = None,  # noqa: A002
    ) -> AlertPage:
        identity = identity_from(info)
        settings: Settings = info.context.settings
        f = filter or AlertFilterInput()
        if f.state not in ("open", "cleared", "all"):
            raise BadRequest("state: open, cleared atau all.")
        if first is not None and not 1 <= first <= settings.page_size_max:
            raise BadRequest(f"first: antara 1 dan {settings.page_size_max}.")
        size = first or settings.page_size_default
        try:
            agreement = UUID(str(f.agreement_id)) if f.agreement_id else None
        except ValueError:
            raise BadRequest("agreementId bukan UUID.") from None
        items, cursor = await info.context.reads.alerts(
            identity.tenant,
            AlertFilter(kind=f.kind.value if f.kind else None, severity=f.severity.value if f.severity else None,
                        region=f.region, province=f.province, agreement_id=agreement, state=f.state,
                        on=past_day(f.on, local_date(info.context.clock.now()))),
            limit=size, cursor=after,
        )
        return AlertPage(items=[Alert.of(a) for a in items], next_cursor=cursor)

    @strawberry.field(description="Health of one agreement (null when not visible, or with `on` when it began "
                                  "after that day)")
    async def agreement_health(
        self, info: Info, id: strawberry.ID,  # noqa: A002
        on: Annotated[date | None, strawberry.argument(description=ON_DAY)] = None,
    ) -> AgreementHealth | None:
        identity = identity_from(info)
        try:
            agreement_id = UUID(str(id))
        except ValueError:
            return None
        today = local_date(info.context.clock.now())
        try:
            s = await info.context.reads.status(identity.tenant, agreement_id, today, on=past_day(on, today))
        except NotYetInForce:
            return None
        if s is None:
            return None
        return AgreementHealth(
            agreement_id=s["agreement_id"], title=s["title"], form=s["form"], stage=s["stage"], version=s["version"],
            party_regions=s["party_regions"], evaluator=s["evaluator"],
            documents_in_force=[
                DocumentInForce(document=d["document"], type=d["type"], number=d["number"],
                                valid_until=date.fromisoformat(d["valid_until"]), days_left=d["days_left"])
                for d in s["documents_in_force"]
            ],
            reports_filed=len(s["reports"]), last_report=s["last_report"], latest_evaluation=s["latest_evaluation"],
            open_alerts=[Alert.of(a) for a in s["open_alerts"]],
        )

    @strawberry.field(description="Health of a region's cooperation: a province includes its kab/kota; "
                                  "'national' (national tenant only) covers everything")
    async def region_health(
        self, info: Info, code: str, on: Annotated[date | None, strawberry.argument(description=ON_DAY)] = None,
    ) -> RegionHealth:
        identity = identity_from(info)
        if code != NATIONAL and not is_region_code(code):
            raise BadRequest("code: kode wilayah (32 atau 32.73) atau 'national'.")
        if not _may_see_region(identity.tenant, code):
            raise NotFound("Wilayah tidak ditemukan.")
        settings: Settings = info.context.settings
        today = local_date(info.context.clock.now())
        h = await info.context.reads.region_health(
            identity.tenant, None if code == NATIONAL else code, today, settings.alert_progress_grace_days,
            on=past_day(on, today),
        )
        return RegionHealth(
            code=code, agreements=h["agreements"],
            by_stage=[StageCount(stage=k, count=v) for k, v in h["by_stage"].items()],
            frameworks_signed=h["frameworks_signed"], frameworks_with_pks=h["frameworks_with_pks"],
            share_frameworks_with_pks=h["share_frameworks_with_pks"], reports_due=h["reports_due"],
            reports_on_time=h["reports_on_time"], share_pks_reporting_on_time=h["share_pks_reporting_on_time"],
            median_days_framework_to_first_pks=h["median_days_framework_to_first_pks"],
            open_alerts=[KindCount(kind=Kind(k), count=v) for k, v in sorted(h["open_alerts"].items())],
        )


def build_schema(settings: Settings) -> strawberry.Schema:
    # Every string argument is checked like a REST text field before any resolver runs.
    return ServiceSchema(query=MonitoringQuery,
                         extensions=[*limit_extensions(settings), refuse_unstorable_arguments()])
