"""Tenant-scoped reads of the reporting read model (HTTP and GraphQL), inside transactions
that row-level security checks as well.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import anyio
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from services.reporting.domain.compile import Facts
from services.reporting.domain.labels import FORMS, STAGES
from services.reporting.rules import ALIVE, STAGE_ON
from services.reporting.setup import LAG_QUERY, POSITIONS_QUERY
from services.reporting.views import SCHEMA
from shared.cursors import decode_cursor, encode_cursor
from shared.db import tenant_transaction
from shared.errors import Unavailable
from shared.periods import Period
from shared.tenancy import NATIONAL
from shared.urusan import URUSAN


def period_params(period: Period, on: date | None = None) -> dict[str, Any]:
    """The period's bounds and the day its agreements are judged by (`on`: its end, or
    today while it runs; see domain.stages.judged_on)."""
    return {"period_start": period.start, "period_end": period.end, "on": on or period.end}


@dataclass(frozen=True)
class ReportFilter:
    period: str | None = None
    region: str | None = None
    province: str | None = None
    submitted: bool | None = None


_ORDER = {"form": list(FORMS), "stage": list(STAGES), "urusan": [u.code for u in URUSAN]}


class Snapshot:
    """Reads for one compile, inside one tenant transaction that sees one moment: a report's
    rows, figures and sources always agree with each other."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], schema: sql.Identifier, tenant: str) -> None:
        self.conn, self.s, self.tenant = conn, schema, tenant

    def _q(self, text: str, **parts: Any) -> sql.Composed:
        return sql.SQL(text).format(s=self.s, **parts)

    def _stage_on(self) -> sql.Composed:
        return STAGE_ON.format(s=self.s)

    async def _all(self, query: sql.Composed | sql.SQL, params: Any = None) -> list[dict[str, Any]]:
        cur = await self.conn.execute(query, params)
        return await cur.fetchall()

    async def region_facts(self, region: str, period: Period, on: date | None = None) -> Facts:
        """Everything a region's report for `period` is compiled from, each agreement with
        its stage `on` the day the period is judged by. The agreements are found once; their
        records by id (uuid equality stays indexable under row-level security, where the
        array operators are not)."""
        agreements = await self._all(self._q(
            "SELECT a.id, a.state, {stage_on} AS stage_on FROM {s}.agreements a WHERE visible_to @> ARRAY[%(tenant)s]"
            " AND party_regions @> ARRAY[%(region)s] AND {alive}", alive=ALIVE, stage_on=self._stage_on()),
            {"tenant": self.tenant, "region": region, **period_params(period, on)})
        ids = {"ids": [r["id"] for r in agreements]}
        progress = await self._all(self._q(
            "SELECT agreement_id::text, region, period, version, content, filed_at FROM {s}.progress_reports"
            " WHERE agreement_id = ANY(%(ids)s)"), ids)
        evaluations = await self._all(self._q(
            "SELECT agreement_id::text, period, evaluator, version, content, recorded_at FROM {s}.evaluations"
            " WHERE agreement_id = ANY(%(ids)s)"), ids)
        return Facts(
            agreements=[r["state"] for r in agreements],
            stages={str(r["id"]): r["stage_on"] for r in agreements},
            progress=[{**r, "filed_at": r["filed_at"].isoformat()} for r in progress],
            evaluations=[{**r, "recorded_at": r["recorded_at"].isoformat()} for r in evaluations],
            sources=await self.positions(),
        )

    async def positions(self) -> dict[str, int]:
        """The event-log positions the read model had reached: a compile's sources."""
        [row] = await self._all(POSITIONS_QUERY)  # type: ignore[arg-type]  # a str built from constants
        return {k: int(v) for k, v in row.items()}

    async def report_rows(self, kind: str, period: Period, subjects: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The report rows (region reports or consolidations) of `subjects` for a period."""
        rows = await self._all(self._q(
            "SELECT * FROM {s}.reports WHERE kind = %s AND period = %s AND subject = ANY(%s)"
            " AND visible_to @> ARRAY[%s]"), (kind, str(period), list(subjects), self.tenant))
        return {r["subject"]: r for r in rows}

    async def period_totals(
        self, period: Period, on: date | None = None, province: str | None = None, *, counted: bool = False
    ) -> dict[str, Any]:
        """Agreements alive in the period (each once), with their value: in all, and by
        form, stage (`on` the day the period is judged by) and urusan. `province`: those
        with a party in it. A period judged by its last day is read from the totals the
        worker keeps (services.reporting.totals), when it keeps them for that period; any
        other day is counted from the rows (and any, with `counted`: checks and benchmarks)."""
        params = {"tenant": self.tenant, "province": province, **period_params(period, on)}
        # (kept per province and nationally: read them when the reader sees the whole scope)
        scope = province or NATIONAL
        if not counted and self.tenant in (scope, NATIONAL) and params["on"] == period.end and await self._kept():
            kept = await self._all(self._q(
                "SELECT dim, code, n, value FROM {s}.period_totals WHERE period = %(period)s AND scope = %(scope)s"
                " AND n <> 0 AND (SELECT %(period_start)s <= upto AND %(period)s <> ALL(stale) FROM {s}.periods_done)"),
                {**params, "period": str(period), "scope": scope})
            if kept or await self._kept_through(period):
                return self._totals(kept)
        where = sql.SQL(" AND provinces @> ARRAY[%(province)s]" if province else "")
        rows = await self._all(self._q(
            "WITH alive AS (SELECT form, {stage_on} AS stage, urusan, coalesce(value_idr, 0) AS value"
            " FROM {s}.agreements a WHERE visible_to @> ARRAY[%(tenant)s]{scope} AND {alive})"
            " SELECT 'all' AS dim, '' AS code, count(*) AS n, coalesce(sum(value), 0) AS value FROM alive"
            " UNION ALL SELECT 'form', form, count(*), sum(value) FROM alive GROUP BY form"
            " UNION ALL SELECT 'stage', stage, count(*), sum(value) FROM alive GROUP BY stage"
            " UNION ALL SELECT 'urusan', u, count(*), sum(value) FROM alive, unnest(urusan) AS u GROUP BY u",
            scope=where, alive=ALIVE, stage_on=self._stage_on()), params)
        return self._totals(rows)

    async def _kept(self) -> bool:
        """Whether the live read model keeps period totals: not while the first shape that
        does is built beside one that does not (an upgrade), whose readers count the rows."""
        [row] = await self._all(self._q("SELECT to_regclass(%s) IS NOT NULL AS present"),
                                (self.s.as_string(self.conn) + ".periods_done",))
        return bool(row["present"])

    async def _kept_through(self, period: Period) -> bool:
        """Whether the kept totals cover `period` (none of its rows: no agreement alive then)."""
        [row] = await self._all(self._q("SELECT %s <= upto AND %s <> ALL(stale) AS kept FROM {s}.periods_done"),
                                (period.start, str(period)))
        return bool(row["kept"])

    @staticmethod
    def _totals(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
        totals: dict[str, Any] = {"agreements": 0, "value_idr": 0, "by_form": [], "by_stage": [], "by_urusan": []}
        for row in rows:
            if row["dim"] == "all":
                totals.update(agreements=row["n"], value_idr=int(row["value"]))
            else:
                totals[f"by_{row['dim']}"].append(
                    {"code": row["code"], "count": row["n"], "value_idr": int(row["value"])})
        for dim, order in _ORDER.items():
            totals[f"by_{dim}"].sort(key=lambda g, o=order: o.index(g["code"]) if g["code"] in o else len(o))
        return totals

    async def ever_reported(self, period: Period) -> set[str]:
        """Regions that have submitted a report for this period or an earlier one."""
        rows = await self._all(self._q(
            "SELECT DISTINCT subject FROM {s}.reports WHERE kind = 'region' AND revision > 0"
            " AND period_end <= %s AND visible_to @> ARRAY[%s]"), (period.end, self.tenant))
        return {r["subject"] for r in rows}


class ReportingReadModel:
    def __init__(self, pool: AsyncConnectionPool, schema: str = SCHEMA) -> None:
        self.pool = pool
        self.s = sql.Identifier(schema)

    @asynccontextmanager
    async def snapshot(self, tenant: str) -> AsyncIterator[Snapshot]:
        async with tenant_transaction(self.pool, tenant, snapshot=True) as conn:
            yield Snapshot(conn, self.s, tenant)

    async def wait_caught_up(self, timeout: float) -> None:
        """Until every feed has every event recorded so far: a submission must not freeze
        what a lagging (or rebuilding) read model holds. 503 after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            async with self.pool.connection() as conn:
                cur = await conn.execute(LAG_QUERY)
                row: Any = await cur.fetchone()
                lag = {k: int(v) for k, v in row.items()}
            if not any(lag.values()):
                return
            if time.monotonic() >= deadline:
                raise Unavailable(
                    "Data pelaporan sedang diperbarui dari registri dan pemantauan; coba lagi sebentar lagi.",
                    code="read_model_behind", projection_lag=lag,
                )
            await anyio.sleep(0.1)

    async def reports(
        self, tenant: str, flt: ReportFilter, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        where = ["visible_to @> ARRAY[%s]", "kind = 'region'"]
        params: list[Any] = [tenant]
        for value, clause in ((flt.period, "period = %s"), (flt.region, "subject = %s"),
                              (flt.province, "province = %s")):
            if value:
                where.append(clause)
                params.append(value)
        if flt.submitted is not None:
            where.append("revision > 0" if flt.submitted else "revision = 0")
        if cursor:
            where.append("seq < %s")
            params.append(decode_cursor(cursor))
        params.append(limit + 1)
        async with tenant_transaction(self.pool, tenant) as conn:
            cur = await conn.execute(
                sql.SQL("SELECT * FROM {s}.reports WHERE {w} ORDER BY seq DESC LIMIT %s").format(
                    s=self.s, w=sql.SQL(" AND ".join(where))), params)
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1]["seq"]) if more and rows else None)
