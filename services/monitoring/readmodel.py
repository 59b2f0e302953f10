"""Tenant-scoped reads of the monitoring read model (HTTP and GraphQL), inside transactions
that row-level security checks as well.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from services.monitoring.application import AgreementFacts
from services.monitoring.domain.alerts import expected_reports
from services.monitoring.views import SCHEMA, alert_payload
from services.registry.projections.agreements import decode_cursor, encode_cursor
from shared.db import tenant_transaction
from shared.periods import Period, local_date
from shared.regions import kind_of

SEVERITY_ORDER = ("info", "warning", "critical")


@dataclass(frozen=True)
class AlertFilter:
    kind: str | None = None
    severity: str | None = None  # this severity or higher
    region: str | None = None  # an alert concerning this region
    province: str | None = None
    agreement_id: UUID | None = None
    state: str = "open"  # open | cleared | all


class MonitoringReadModel:
    def __init__(self, pool: AsyncConnectionPool, schema: str = SCHEMA) -> None:
        self.pool = pool
        self.s = sql.Identifier(schema)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.s)

    async def _all(self, tenant: str, query: sql.Composed, params: Any) -> list[dict[str, Any]]:
        async with tenant_transaction(self.pool, tenant) as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    async def agreement(self, tenant: str, agreement_id: UUID) -> dict[str, Any] | None:
        rows = await self._all(
            tenant, self._q("SELECT * FROM {s}.agreements WHERE id = %s AND visible_to @> ARRAY[%s]"),
            (agreement_id, tenant),
        )
        return rows[0] if rows else None

    async def facts(self, tenant: str, agreement_id: UUID) -> AgreementFacts | None:
        row = await self.agreement(tenant, agreement_id)
        if row is None:
            return None
        return AgreementFacts(id=row["id"], stage=row["stage"], party_regions=tuple(row["party_regions"]),
                              framework_signed_on=row["framework_signed_on"])

    async def alerts(
        self, tenant: str, flt: AlertFilter, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        where = ["visible_to @> ARRAY[%s]"]
        params: list[Any] = [tenant]
        if flt.state == "open":
            where.append("cleared_at IS NULL")
        elif flt.state == "cleared":
            where.append("cleared_at IS NOT NULL")
        for value, clause in (
            (flt.kind, "kind = %s"),
            (flt.region, "regions @> ARRAY[%s]"),
            (flt.province, "provinces @> ARRAY[%s]"),
            (flt.agreement_id, "agreement_id = %s"),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        if flt.severity:
            where.append("severity = ANY(%s)")
            params.append(list(SEVERITY_ORDER[SEVERITY_ORDER.index(flt.severity):]))
        if cursor:
            where.append("seq < %s")
            params.append(decode_cursor(cursor))
        params.append(limit + 1)
        rows = await self._all(
            tenant,
            sql.SQL("SELECT * FROM {s}.alerts WHERE {w} ORDER BY seq DESC LIMIT %s").format(
                s=self.s, w=sql.SQL(" AND ".join(where))
            ),
            params,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return [alert_payload(r) for r in rows], (encode_cursor(rows[-1]["seq"]) if more and rows else None)

    async def reports(
        self, tenant: str, agreement_id: UUID, *, period: str | None = None, region: str | None = None
    ) -> list[dict[str, Any]]:
        where, params = ["agreement_id = %s", "visible_to @> ARRAY[%s]"], [agreement_id, tenant]
        for value, clause in ((period, "period = %s"), (region, "region = %s")):
            if value:
                where.append(clause)
                params.append(value)
        return await self._all(
            tenant,
            sql.SQL("SELECT * FROM {s}.progress_reports WHERE {w} ORDER BY period, region").format(
                s=self.s, w=sql.SQL(" AND ".join(where))),
            params,
        )

    async def evaluations(self, tenant: str, agreement_id: UUID) -> list[dict[str, Any]]:
        return await self._all(
            tenant,
            self._q("SELECT * FROM {s}.evaluations WHERE agreement_id = %s AND visible_to @> ARRAY[%s] ORDER BY period"),
            (agreement_id, tenant),
        )

    async def notifications(
        self, tenant: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: list[Any] = [tenant]
        after = ""
        if cursor:
            after = " AND n.id < %s"
            params.append(decode_cursor(cursor))
        params.append(limit + 1)
        rows = await self._all(
            tenant,
            self._q(
                "SELECT n.id, n.transition, n.payload, n.created_at, coalesce(json_agg(json_build_object("
                "'channel', d.channel, 'attempts', d.attempts, 'delivered_at', d.delivered_at, 'next_attempt_at',"
                " d.next_attempt_at, 'last_error', d.last_error)) FILTER (WHERE d.channel IS NOT NULL), '[]') AS deliveries"
                " FROM {s}.notifications n LEFT JOIN {s}.deliveries d ON d.notification_id = n.id"
                " WHERE n.tenant = %s" + after + " GROUP BY n.id ORDER BY n.id DESC LIMIT %s"
            ),
            params,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1]["id"]) if more and rows else None)

    # -- health ---------------------------------------------------------------------------------

    async def status(self, tenant: str, agreement_id: UUID, today: date) -> dict[str, Any] | None:
        """An agreement's health: stage, documents in force, reporting, evaluations, alerts."""
        row = await self.agreement(tenant, agreement_id)
        if row is None:
            return None
        state = row["state"]
        reports = await self.reports(tenant, agreement_id)
        evaluations = await self.evaluations(tenant, agreement_id)
        alerts, _ = await self.alerts(tenant, AlertFilter(agreement_id=agreement_id), limit=100)
        framework = state.get("framework") or {}
        documents = []
        if framework.get("stage") == "ditandatangani":
            documents.append({"document": "framework", "type": framework["type"], "number": framework["number"],
                              "valid_until": framework["valid_until"],
                              "days_left": (date.fromisoformat(framework["valid_until"]) - today).days})
        for pks in state.get("pks", []):
            if pks.get("stage") == "ditandatangani":
                documents.append({"document": pks["id"], "type": "perjanjian_kerja_sama", "number": pks["number"],
                                  "valid_until": pks["end_on"],
                                  "days_left": (date.fromisoformat(pks["end_on"]) - today).days})
        last = max(reports, key=lambda r: (r["period"], r["filed_at"]), default=None)
        latest_evaluation = max(evaluations, key=lambda e: (Period.parse(e["period"]).end, e["recorded_at"]), default=None)
        return {
            "agreement_id": str(agreement_id),
            "title": row["title"],
            "form": row["form"],
            "stage": row["stage"],
            "version": row["version"],
            "party_regions": row["party_regions"],
            "evaluator": row["evaluator"],
            "documents_in_force": documents,
            "reports": [report_summary(r) for r in reports],
            "last_report": report_summary(last) if last else None,
            "latest_evaluation": evaluation_summary(latest_evaluation) if latest_evaluation else None,
            "open_alerts": alerts,
            "as_of": today.isoformat(),
        }

    async def region_health(self, tenant: str, code: str | None, today: date, grace_days: int) -> dict[str, Any]:
        """Counts by stage, the share of frameworks followed by a PKS, the share of due
        progress reports filed on time, and the median days from framework to first PKS,
        over the agreements a region is party to (a province: also its kab/kota's)."""
        # Agreements have `party_regions`, alerts `regions`; both have `provinces`.
        scope = "" if not code else "provinces" if kind_of(code) == "provinsi" else "{regions}"
        where = "visible_to @> ARRAY[%s]" + (f" AND {scope} @> ARRAY[%s]" if scope else "")
        params = [tenant, code] if code else [tenant]
        agreements_where = sql.SQL(where.format(regions="party_regions"))
        async with tenant_transaction(self.pool, tenant) as conn:  # one snapshot for all three
            cur = await conn.execute(
                sql.SQL("SELECT id, stage, form, state, framework_signed_on, first_pks_signed_on FROM {s}.agreements"
                        " WHERE {w}").format(s=self.s, w=agreements_where), params)
            agreements = await cur.fetchall()
            cur = await conn.execute(
                sql.SQL("SELECT agreement_id, period, region, filed_at FROM {s}.progress_reports WHERE agreement_id IN"
                        " (SELECT id FROM {s}.agreements WHERE {w})").format(s=self.s, w=agreements_where), params)
            filed = await cur.fetchall()
            cur = await conn.execute(
                sql.SQL("SELECT kind, count(*) AS n FROM {s}.alerts WHERE cleared_at IS NULL AND {w}"
                        " GROUP BY kind").format(s=self.s, w=sql.SQL(where.format(regions="regions"))), params)
            open_alerts = await cur.fetchall()
        first_filed = {(r["agreement_id"], r["period"], r["region"]): r["filed_at"] for r in filed}
        with_framework = [a for a in agreements if a["framework_signed_on"] and a["form"] != "SINERGI"]
        followed = [a for a in with_framework if a["first_pks_signed_on"]]
        days = [(a["first_pks_signed_on"] - a["framework_signed_on"]).days for a in followed]
        due = on_time = 0
        for a in agreements:
            for period, region in expected_reports(a["state"], today, grace_days):
                due += 1
                at = first_filed.get((a["id"], str(period), region))
                if at is not None and local_date(at) <= period.due(grace_days):
                    on_time += 1
        return {
            "region": code,
            "agreements": len(agreements),
            "by_stage": dict(sorted(Counter(a["stage"] for a in agreements).items())),
            "frameworks_signed": len(with_framework),
            "frameworks_with_pks": len(followed),
            "share_frameworks_with_pks": round(len(followed) / len(with_framework), 4) if with_framework else None,
            "reports_due": due,
            "reports_on_time": on_time,
            "share_pks_reporting_on_time": round(on_time / due, 4) if due else None,
            "median_days_framework_to_first_pks": statistics.median(days) if days else None,
            "open_alerts": {r["kind"]: r["n"] for r in open_alerts},
            "as_of": today.isoformat(),
        }


def report_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "period": row["period"],
        "region": row["region"],
        "version": row["version"],
        "filed_at": row["filed_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "content": row["content"],
    }


def evaluation_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "period": row["period"],
        "evaluator": row["evaluator"],
        "version": row["version"],
        "recorded_at": row["recorded_at"].isoformat(),
        "content": row["content"],
    }
