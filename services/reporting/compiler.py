"""Compiling reports now: reads the facts (one snapshot per region) and hands them to the
pure compile functions. Used by the HTTP API for drafts, submissions and exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.monitoring.domain.alerts import Thresholds
from services.reporting.application import Compiled
from services.reporting.domain.compile import Rules, compile_consolidation, compile_national, compile_region_report
from services.reporting.domain.reports import deadline_of
from services.reporting.readmodel import ReportingReadModel
from shared.periods import Period
from shared.regions import RegionCatalog
from shared.settings import Settings


@dataclass(frozen=True)
class Compiler:
    reads: ReportingReadModel
    regions: RegionCatalog
    settings: Settings

    @property
    def rules(self) -> Rules:
        return Rules(Thresholds.from_settings(self.settings), self.settings.alert_no_neighbour_scope)

    async def region_report(self, tenant: str, region: str, period: Period, today: date) -> Compiled:
        facts = await self.reads.region_facts(tenant, region, period)
        info = self.regions.get(region)
        assert info is not None  # tenants are known regions (checked with the token)
        content = compile_region_report(info, period, today, facts, self.rules, self.regions)
        return Compiled(content, {**facts.sources, "compiled_on": today.isoformat()})

    async def consolidation(self, tenant: str, province: str, period: Period, today: date) -> Compiled:
        regencies = [r for r in self.regions.in_province(province) if r.autonomous]
        reports = await self.reads.report_rows(tenant, "region", period, [province, *(r.code for r in regencies)])
        own = await self.region_report(tenant, province, period, today)
        province_wide = await self.reads.period_totals(tenant, period, province)
        info = self.regions.get(province)
        assert info is not None
        content = compile_consolidation(
            info, period, today, deadline_of(period, self.settings.report_deadline_days), regencies, reports,
            own.content, province_wide,
        )
        content["consolidation_deadline"] = deadline_of(period, self.settings.consolidation_deadline_days).isoformat()
        return Compiled(content, own.sources)

    async def national(self, tenant: str, period: Period, today: date) -> Compiled:
        provinces = self.regions.provinces()
        regencies = {p.code: [r for r in self.regions.in_province(p.code) if r.autonomous] for p in provinces}
        everyone = [p.code for p in provinces] + [r.code for rs in regencies.values() for r in rs]
        reports = await self.reads.report_rows(tenant, "region", period, everyone)
        consolidations = await self.reads.report_rows(tenant, "consolidation", period, [p.code for p in provinces])
        totals = await self.reads.period_totals(tenant, period)
        reported = await self.reads.ever_reported(tenant, period)
        never = [self.regions.get(code) for code in everyone if code not in reported]
        content = compile_national(period, today, provinces, regencies, reports, consolidations, totals,
                                   [r for r in never if r is not None])
        content["deadlines"] = {
            "report": deadline_of(period, self.settings.report_deadline_days).isoformat(),
            "consolidation": deadline_of(period, self.settings.consolidation_deadline_days).isoformat(),
        }
        return Compiled(content, {**await self.reads.positions(tenant), "compiled_on": today.isoformat()})
