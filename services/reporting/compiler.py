"""Compiling reports now: reads the facts in one snapshot and hands them to the pure
compile functions. Used by the HTTP API for drafts, submissions and exports, and by GraphQL.
A compile shown (not frozen into a submission) is served again while the read model has not
changed (shared.answers): the same tenant, arguments and day give the same document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import date

from services.monitoring.contract import Thresholds
from services.reporting.application import Compiled
from services.reporting.domain.compile import Rules, compile_consolidation, compile_national, compile_region_report
from services.reporting.domain.stages import judged_on
from services.reporting.readmodel import ReportingReadModel, Snapshot
from shared.answers import Answers
from shared.errors import NotFound
from shared.periods import Period
from shared.regions import Region, RegionCatalog
from shared.settings import Settings
from shared.tenancy import narrowed


@dataclass(frozen=True)
class Compiler:
    reads: ReportingReadModel
    regions: RegionCatalog
    settings: Settings
    answers: Answers | None = None

    async def _reuse(self, question: Hashable, fresh: bool, compile_now: Callable[[], Awaitable[Compiled]]) -> Compiled:
        """A compile to show, kept while the read model has not changed; one to freeze
        (`fresh`: a submission) is always made now, after the read model has caught up. A
        kept `Compiled` is shared by every request it serves: its callers only read it."""
        if fresh or self.answers is None:
            await self._fresh(fresh)
            return await compile_now()
        return await self.answers.get(question, compile_now)

    @property
    def rules(self) -> Rules:
        return Rules(Thresholds.from_settings(self.settings), self.settings.alert_no_neighbour_scope)

    def _region(self, code: str) -> Region:
        region = self.regions.get(code)
        if region is None:
            raise NotFound("Wilayah tidak ditemukan.")
        return region

    async def _fresh(self, fresh: bool) -> None:
        """A compile that will be frozen (a submission) waits for the read model to hold
        every event recorded so far."""
        if fresh:
            await self.reads.wait_caught_up(self.settings.report_fresh_wait_seconds)

    async def region_report(
        self, tenant: str, region: str, period: Period, today: date, *, fresh: bool = False
    ) -> Compiled:
        async def compile_now() -> Compiled:
            async with self.reads.snapshot(narrowed(tenant, region)) as view:
                return await self._region_report(view, region, period, today)

        return await self._reuse(("region_report", tenant, region, str(period), today), fresh, compile_now)

    async def _region_report(self, view: Snapshot, region: str, period: Period, today: date) -> Compiled:
        facts = await view.region_facts(region, period, judged_on(period, today))
        content = compile_region_report(self._region(region), period, today, facts, self.rules, self.regions)
        return Compiled(content, {**facts.sources, "compiled_on": today.isoformat()})

    async def consolidation(
        self, tenant: str, province: str, period: Period, today: date, *, fresh: bool = False
    ) -> Compiled:
        return await self._reuse(("consolidation", tenant, province, str(period), today), fresh,
                                 lambda: self._consolidation(tenant, province, period, today))

    async def _consolidation(self, tenant: str, province: str, period: Period, today: date) -> Compiled:
        info = self._region(province)
        regencies = [r for r in self.regions.in_province(province) if r.autonomous]
        async with self.reads.snapshot(narrowed(tenant, province)) as view:
            reports = await view.report_rows("region", period, [province, *(r.code for r in regencies)])
            own = await self._region_report(view, province, period, today)
            province_wide = await view.period_totals(period, judged_on(period, today), province)
        content = compile_consolidation(
            info, period, today, period.due(self.settings.report_deadline_days), regencies, reports, own.content,
            province_wide,
        )
        content["consolidation_deadline"] = period.due(self.settings.consolidation_deadline_days).isoformat()
        return Compiled(content, own.sources)

    async def national(self, tenant: str, period: Period, today: date) -> Compiled:
        return await self._reuse(("national", tenant, str(period), today), False,
                                 lambda: self._national(tenant, period, today))

    async def _national(self, tenant: str, period: Period, today: date) -> Compiled:
        provinces = self.regions.provinces()
        regencies = {p.code: [r for r in self.regions.in_province(p.code) if r.autonomous] for p in provinces}
        everyone = [p.code for p in provinces] + [r.code for rs in regencies.values() for r in rs]
        async with self.reads.snapshot(tenant) as view:
            reports = await view.report_rows("region", period, everyone)
            consolidations = await view.report_rows("consolidation", period, [p.code for p in provinces])
            totals = await view.period_totals(period, judged_on(period, today))
            reported = await view.ever_reported(period)
            sources = await view.positions()
        never = [self._region(code) for code in everyone if code not in reported]
        content = compile_national(period, today, provinces, regencies, reports, consolidations, totals, never)
        content["deadlines"] = {
            "report": period.due(self.settings.report_deadline_days).isoformat(),
            "consolidation": period.due(self.settings.consolidation_deadline_days).isoformat(),
        }
        return Compiled(content, {**sources, "compiled_on": today.isoformat()})
