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

from services.monitoring.alert_store import alert_payload
from services.monitoring.application import AgreementFacts
from services.monitoring.domain.alerts import expected_reports
from services.monitoring.domain.valid_time import end_of_day, state_on
from services.monitoring.tables import SCHEMA
from shared.cursors import decode_cursor, encode_cursor
from shared.db import tenant_transaction
from shared.errors import NotFound
from shared.periods import Period, local_date
from shared.regions import kind_of

SEVERITY_ORDER = ("info", "warning", "critical")

# An agreement's stage on a day (`%(on)s`; the agreements table aliased `a`): the stage of the
# latest change (in the order they were recorded) that had legally happened by then. NULL:
# the agreement had not yet begun that day (its Started event's legal date is later).
STAGE_ON = (
    "(SELECT h.stage FROM {s}.agreement_stages h WHERE h.agreement_id = a.id AND h.since <= %(on)s"
    " ORDER BY h.version DESC LIMIT 1)"
)

# An alert open on a day (`%(on)s`, `%(before)s` the first moment after it, WIB): its cause
# had begun (the `since` it opened with) and it was not yet cleared by the end of that day.
ALERT_OPEN_ON = "coalesce(began_on, since) <= %(on)s AND (cleared_at IS NULL OR cleared_at >= %(before)s)"
ALERT_CLEARED_BY = "coalesce(began_on, since) <= %(on)s AND cleared_at < %(before)s"
ALERT_BEGUN_BY = "coalesce(began_on, since) <= %(on)s"


@dataclass(frozen=True)
class AlertFilter:
    kind: str | None = None
    severity: str | None = None  # this severity or higher
    region: str | None = None  # an alert concerning this region
    province: str | None = None
    agreement_id: UUID | None = None
    state: str = "open"  # open | cleared | all
    on: date | None = None  # open / cleared / begun as of that day (valid time), not now


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
        where = ["visible_to @> ARRAY[%(tenant)s]"]
        params: dict[str, Any] = {"tenant": tenant}
        if flt.on is not None:
            where.append({"open": ALERT_OPEN_ON, "cleared": ALERT_CLEARED_BY}.get(flt.state, ALERT_BEGUN_BY))
            params |= {"on": flt.on, "before": end_of_day(flt.on)}
        elif flt.state == "open":
            where.append("cleared_at IS NULL")
        elif flt.state == "cleared":
            where.append("cleared_at IS NOT NULL")
        for name, value, clause in (
            ("kind", flt.kind, "kind = %(kind)s"),
            ("region", flt.region, "regions @> ARRAY[%(region)s]"),
            ("province", flt.province, "provinces @> ARRAY[%(province)s]"),
            ("agreement", flt.agreement_id, "agreement_id = %(agreement)s"),
        ):
            if value is not None:
                where.append(clause)
                params[name] = value
        if flt.severity:
            where.append("severity = ANY(%(severities)s)")
            params["severities"] = list(SEVERITY_ORDER[SEVERITY_ORDER.index(flt.severity):])
        if cursor:
            where.append("seq < %(after)s")
            params["after"] = decode_cursor(cursor)
        params["limit"] = limit + 1
        rows = await self._all(
            tenant,
            sql.SQL("SELECT * FROM {s}.alerts WHERE {w} ORDER BY seq DESC LIMIT %(limit)s").format(
                s=self.s, w=sql.SQL(" AND ".join(where))
            ),
            params,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return [alert_payload(r) for r in rows], (encode_cursor(rows[-1]["seq"]) if more and rows else None)

    async def reports(
        self, tenant: str, agreement_id: UUID, *, period: str | None = None, region: str | None = None,
        on: date | None = None,
    ) -> list[dict[str, Any]]:
        """`on`: only the reports filed by the end of that day (WIB)."""
        where, params = ["agreement_id = %s", "visible_to @> ARRAY[%s]"], [agreement_id, tenant]
        for value, clause in ((period, "period = %s"), (region, "region = %s"),
                              (end_of_day(on) if on else None, "filed_at < %s")):
            if value:
                where.append(clause)
                params.append(value)
        return await self._all(
            tenant,
            sql.SQL("SELECT * FROM {s}.progress_reports WHERE {w} ORDER BY period, region").format(
                s=self.s, w=sql.SQL(" AND ".join(where))),
            params,
        )

    async def evaluations(self, tenant: str, agreement_id: UUID, *, on: date | None = None) -> list[dict[str, Any]]:
        """`on`: only the evaluations made by that day (their legal date, `evaluated_on`), as
        known now."""
        where, params = "", [agreement_id, tenant]
        if on is not None:
            where = " AND (content->>'evaluated_on')::date <= %s"
            params.append(on)
        return await self._all(
            tenant,
            self._q(
                "SELECT * FROM {s}.evaluations"  # noqa: S608 - constant fragments; the values are bound
                " WHERE agreement_id = %s AND visible_to @> ARRAY[%s]" + where + " ORDER BY period"
            ),
            params,
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
                "SELECT n.id, n.transition, n.payload, n.created_at,"  # noqa: S608 - constant fragments; values are bound
                " coalesce(json_agg(json_build_object("
                "'channel', d.channel, 'attempts', d.attempts, 'delivered_at', d.delivered_at, 'next_attempt_at',"
                " d.next_attempt_at, 'last_error', d.last_error)) FILTER (WHERE d.channel IS NOT NULL), '[]')"
                " AS deliveries"
                " FROM {s}.notifications n LEFT JOIN {s}.deliveries d ON d.notification_id = n.id"
                " WHERE n.tenant = %s" + after + " GROUP BY n.id ORDER BY n.id DESC LIMIT %s"
            ),
            params,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1]["id"]) if more and rows else None)

    # -- health ---------------------------------------------------------------------------------

    async def stage_on(self, tenant: str, agreement_id: UUID, on: date) -> str | None:
        """An agreement's stage on a day; None: not yet begun then (or not visible)."""
        rows = await self._all(
            tenant,
            sql.SQL(
                "SELECT " + STAGE_ON + " AS stage"  # noqa: S608 - STAGE_ON is a constant; the values are bound
                " FROM {s}.agreements a WHERE a.id = %(id)s AND a.visible_to @> ARRAY[%(tenant)s]"
            ).format(s=self.s),
            {"on": on, "id": agreement_id, "tenant": tenant},
        )
        return rows[0]["stage"] if rows else None

    async def status(
        self, tenant: str, agreement_id: UUID, today: date, on: date | None = None
    ) -> dict[str, Any] | None:
        """An agreement's health: stage, documents in force, reporting, evaluations, alerts.
        `on` (a day up to today): as legally on that day (raises `NotYetInForce` when it had
        not begun then)."""
        row = await self.agreement(tenant, agreement_id)
        if row is None:
            return None
        state = row["state"]
        if on is not None:
            stage = await self.stage_on(tenant, agreement_id, on)
            if stage is None:
                raise NotYetInForce(on)
            state = state_on(state, stage, on)
            row = {**row, "stage": stage}
            today = on
        reports = await self.reports(tenant, agreement_id, on=on)
        evaluations = await self.evaluations(tenant, agreement_id, on=on)
        alerts, _ = await self.alerts(tenant, AlertFilter(agreement_id=agreement_id, on=on), limit=100)
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
        latest_evaluation = max(
            evaluations, key=lambda e: (Period.parse(e["period"]).end, e["recorded_at"]), default=None
        )
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
            "on": on.isoformat() if on else None,
        }

    async def region_health(
        self, tenant: str, code: str | None, today: date, grace_days: int, on: date | None = None
    ) -> dict[str, Any]:
        """Counts by stage, the share of frameworks followed by a PKS, the share of due
        progress reports filed on time, and the median days from framework to first PKS,
        over the agreements a region is party to (a province: also its kab/kota's).
        `on` (a day up to today): as legally on that day: each agreement by its stage then
        (those not yet begun left out), its documents as they stood then, the reports filed
        by then and the alerts open then."""
        # Agreements have `party_regions`, alerts `regions`; both have `provinces`.
        scope = "" if not code else "provinces" if kind_of(code) == "provinsi" else "{regions}"
        where = "visible_to @> ARRAY[%(tenant)s]" + (f" AND {scope} @> ARRAY[%(code)s]" if scope else "")
        params: dict[str, Any] = {"tenant": tenant, "code": code, "on": on,
                                  "before": end_of_day(on) if on else None}
        agreements_where = sql.SQL(where.format(regions="party_regions"))
        stage = sql.SQL(STAGE_ON if on else "a.stage").format(s=self.s)
        alerts_open = sql.SQL(ALERT_OPEN_ON if on else "cleared_at IS NULL")
        filed_by = sql.SQL(" AND filed_at < %(before)s" if on else "")
        async with tenant_transaction(self.pool, tenant) as conn:  # one snapshot for all three
            cur = await conn.execute(
                sql.SQL("SELECT * FROM (SELECT a.id, {stage} AS stage, a.form, a.state, a.framework_signed_on,"
                        " a.first_pks_signed_on FROM {s}.agreements a WHERE {w}) x WHERE stage IS NOT NULL").format(
                    s=self.s, w=agreements_where, stage=stage), params)
            agreements = await cur.fetchall()
            cur = await conn.execute(
                sql.SQL("SELECT agreement_id, period, region, filed_at FROM {s}.progress_reports WHERE agreement_id IN"
                        " (SELECT id FROM {s}.agreements WHERE {w}){filed_by}").format(
                    s=self.s, w=agreements_where, filed_by=filed_by), params)
            filed = await cur.fetchall()
            cur = await conn.execute(
                sql.SQL("SELECT kind, count(*) AS n FROM {s}.alerts WHERE {open} AND {w} GROUP BY kind").format(
                    s=self.s, open=alerts_open, w=sql.SQL(where.format(regions="regions"))
                ),
                params)
            open_alerts = await cur.fetchall()
        if on is not None:
            today = on
            agreements = [{**a, "state": state_on(a["state"], a["stage"], on),
                           "framework_signed_on": _by(a["framework_signed_on"], on),
                           "first_pks_signed_on": _by(a["first_pks_signed_on"], on)} for a in agreements]
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
            "on": on.isoformat() if on else None,
        }


class NotYetInForce(NotFound):
    """Asked about a day before the agreement began (the registry's `not_yet_in_force`)."""

    def __init__(self, on: date) -> None:
        super().__init__(f"Kerja sama ini belum ada pada tanggal {on.isoformat()}.", code="not_yet_in_force")


def _by(day: date | None, on: date) -> date | None:
    """A fact's day, if it had happened by `on`."""
    return day if day is not None and day <= on else None


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
