"""Cross-region analysis over the reporting read model (`reporting.agreements`): counts and
values by dimension, who cooperates with whom, and which regions have no active
cooperation. Every read runs inside a tenant transaction (row-level security) and filters
on the tenant's audience itself as well: two walls. The aggregation happens in SQL; the
callers (GraphQL) bound the answer's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from services.monitoring.contract import ACTIVE_STAGES
from services.reporting.domain.labels import FORMS, STAGES
from services.reporting.readmodel import period_params
from services.reporting.rules import ALIVE, STAGE_ON
from services.reporting.views import SCHEMA
from shared.db import tenant_transaction
from shared.errors import Unavailable
from shared.periods import Period

# The day (WIB) of a timestamp column.
WIB_DATE = "(({} AT TIME ZONE 'UTC') + interval '7 hours')::date"
# The year an agreement belongs to: its framework's signature, else the day (WIB) it was recorded.
YEAR = "extract(year FROM coalesce(framework_signed_on, " + WIB_DATE.format("created_at") + "))::int"

DIMENSIONS = ("province", "region", "form", "category", "urusan", "stage", "year")

# Groups are ordered by their keys; forms and stages in the order people know them.
_ORDERS = {"form": list(FORMS), "stage": list(STAGES)}


@dataclass(frozen=True)
class AnalysisFilter:
    """Which agreements an analysis counts (every field narrows; codes already checked)."""

    province: str | None = None  # a party in this province
    region: str | None = None  # this region is a party
    form: Sequence[str] = ()
    category: str | None = None
    urusan: Sequence[str] = ()  # any of these
    stage: Sequence[str] = ()
    year_from: int | None = None
    year_to: int | None = None
    period: Period | None = None  # alive during the period (rules.ALIVE)
    active_only: bool = False  # framework signed and not ended
    # A day: each agreement by its stage then (rules.STAGE_ON), those not yet begun left
    # out; `stage` and `active_only` judge that stage. None: today's stage.
    on: date | None = None


def _stage(schema: sql.Identifier, on: date | None) -> sql.Composable:
    """The stage an analysis counts an agreement by (the agreements table aliased `a`):
    today's, or its stage `on` a day."""
    return sql.SQL("a.stage") if on is None else STAGE_ON.format(s=schema)


def _where(tenant: str, flt: AnalysisFilter, schema: sql.Identifier) -> tuple[sql.Composable, dict[str, Any]]:
    stage = _stage(schema, flt.on)
    clauses: list[sql.Composable] = [sql.SQL("visible_to @> ARRAY[%(tenant)s]")]
    params: dict[str, Any] = {"tenant": tenant}
    for value, name, clause in (
        (flt.province, "province", "provinces @> ARRAY[%(province)s]"),
        (flt.region, "region", "party_regions @> ARRAY[%(region)s]"),
        (list(flt.form), "form", "form = ANY(%(form)s)"),
        (flt.category, "category", "category = %(category)s"),
        (list(flt.urusan), "urusan", "urusan && %(urusan)s::text[]"),
        (list(flt.stage), "stage", "{stage} = ANY(%(stage)s)"),
        (flt.year_from, "year_from", YEAR + " >= %(year_from)s"),
        (flt.year_to, "year_to", YEAR + " <= %(year_to)s"),
    ):
        if value not in (None, [], ""):
            clauses.append(sql.SQL(clause).format(stage=stage))
            params[name] = value
    if flt.active_only:
        clauses.append(sql.SQL("{} = ANY(%(active)s)").format(stage))
        params["active"] = sorted(ACTIVE_STAGES)
    if flt.period is not None:
        clauses.append(sql.SQL("({})").format(ALIVE))
        params.update(period_params(flt.period))
    if flt.on is not None:
        clauses.append(sql.SQL("began_on <= %(on)s"))
        params["on"] = flt.on
    return sql.SQL(" AND ").join(clauses), params


def _group_expressions(dimensions: Sequence[str]) -> tuple[list[sql.Composable], list[sql.Composable]]:
    """(key expressions in the order of `dimensions`, lateral expansions) for the groups.

    A multi-valued dimension puts an agreement in each of its groups: one per party region,
    urusan or province. With both REGION and PROVINCE, the province is the region's own."""
    keys: dict[str, sql.Composable] = {}
    laterals: list[sql.Composable] = []
    if "region" in dimensions:
        laterals.append(sql.SQL("CROSS JOIN LATERAL unnest(f.party_regions) AS r(code)"))
        keys["region"] = sql.SQL("r.code")
    if "province" in dimensions:
        if "region" in dimensions:
            keys["province"] = sql.SQL("left(r.code, 2)")
        else:
            laterals.append(sql.SQL("CROSS JOIN LATERAL unnest(f.provinces) AS pv(code)"))
            keys["province"] = sql.SQL("pv.code")
    if "urusan" in dimensions:
        laterals.append(sql.SQL("CROSS JOIN LATERAL unnest(f.urusan) AS u(code)"))
        keys["urusan"] = sql.SQL("u.code")
    for column in ("form", "category", "stage", "year"):
        keys[column] = sql.SQL("f.{}").format(sql.Identifier(column))
    return [keys[d] for d in dimensions], laterals


def _order_of(dimension: str) -> sql.Composable:
    column = sql.Identifier(dimension)
    if dimension in _ORDERS:
        return sql.SQL("array_position({order}::text[], {c}), {c}").format(
            order=sql.Literal(_ORDERS[dimension]), c=column)
    if dimension == "year":
        return column
    return sql.SQL('{} COLLATE "C"').format(column)


class AnalysisReadModel:
    def __init__(self, pool: AsyncConnectionPool, schema: str = SCHEMA, *, timeout_ms: int = 10_000) -> None:
        self.pool = pool
        self.s = sql.Identifier(schema)
        self.timeout_ms = timeout_ms

    async def _fetch(self, tenant: str, query: sql.Composed, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One query in a tenant transaction, cut off after `timeout_ms`: an analysis may be
        heavy, but never holds a connection (or the database) for long."""
        try:
            async with tenant_transaction(self.pool, tenant) as conn:
                await conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(self.timeout_ms),))
                cur = await conn.execute(query, params)
                return await cur.fetchall()
        except psycopg.errors.QueryCanceled:
            raise Unavailable("Analisis ini terlalu berat untuk dijawab sekarang; persempit filternya.",
                              code="analysis_too_heavy") from None

    async def stats(
        self, tenant: str, dimensions: Sequence[str], flt: AnalysisFilter, *, limit: int
    ) -> dict[str, Any]:
        """Distinct agreements and their value per combination of `dimensions` (at most
        `limit` groups, ordered by the keys), and the total of the filtered set, each
        agreement once."""
        unknown = set(dimensions) - set(DIMENSIONS)
        if unknown or len(set(dimensions)) != len(dimensions):
            raise ValueError(f"dimensions: {dimensions}")
        where, params = _where(tenant, flt, self.s)
        keys, laterals = _group_expressions(dimensions)
        names = [sql.Identifier(d) for d in dimensions]
        grouped: sql.Composable
        if dimensions:
            grouped = sql.SQL(
                "SELECT {names}, count(*) AS n, sum(g.value) AS value, row_number() OVER (ORDER BY {order}) AS ord"
                " FROM g GROUP BY {names} ORDER BY ord LIMIT %(limit)s"
            ).format(names=sql.SQL(", ").join(names), order=sql.SQL(", ").join(_order_of(d) for d in dimensions))
        else:
            grouped = sql.SQL("SELECT count(*) AS n, coalesce(sum(g.value), 0) AS value, 1 AS ord FROM g")
        query = sql.SQL(
            "WITH f AS (SELECT id, form, category, {stage} AS stage, urusan, party_regions, provinces,"
            " coalesce(value_idr, 0) AS value, {year} AS year FROM {s}.agreements a WHERE {where}),"
            " g AS (SELECT DISTINCT f.id, f.value{keys} FROM f {laterals}),"
            " t AS (SELECT count(*) AS n, coalesce(sum(value), 0) AS value FROM f)"
            " SELECT t.n AS total_count, t.value AS total_value, grp.* FROM t LEFT JOIN LATERAL ({grouped}) grp ON true"
            " ORDER BY grp.ord"
        ).format(
            year=sql.SQL(YEAR), s=self.s, where=where, grouped=grouped, stage=_stage(self.s, flt.on),
            keys=sql.SQL("").join(sql.SQL(", {} AS {}").format(k, n) for k, n in zip(keys, names, strict=True)),
            laterals=sql.SQL(" ").join(laterals),
        )
        rows = await self._fetch(tenant, query, {**params, "limit": limit + 1})
        groups = [
            {**{d: row[d] for d in dimensions}, "count": row["n"], "value_idr": row["value"]}
            for row in rows if row["n"] is not None
        ]
        return {
            "total": {"count": rows[0]["total_count"], "value_idr": rows[0]["total_value"]},
            "groups": groups[:limit],
            "truncated": len(groups) > limit,
        }

    async def network(self, tenant: str, flt: AnalysisFilter, *, min_weight: int, limit: int) -> dict[str, Any]:
        """Who cooperates with whom: the pairs of parties (regions, and third parties by
        kind: `mitra:<type>`) that share agreements, heaviest first (at most `limit`), with
        each endpoint's own count and value within the filter."""
        where, params = _where(tenant, flt, self.s)
        query = sql.SQL(
            "WITH f AS (SELECT id, coalesce(value_idr, 0) AS value, parties FROM {s}.agreements a WHERE {where}),"
            " p AS (SELECT DISTINCT f.id, f.value, (CASE WHEN e->>'kind' = 'region' THEN e->>'region'"
            " ELSE 'mitra:' || coalesce(e->>'type', 'lainnya') END) COLLATE \"C\" AS node"
            " FROM f CROSS JOIN LATERAL jsonb_array_elements(f.parties) AS e),"
            " n AS (SELECT node, count(*) AS agreements, sum(value) AS value FROM p GROUP BY node),"
            " e AS (SELECT a.node AS source, b.node AS target, count(*) AS weight, sum(a.value) AS value"
            " FROM p a JOIN p b ON a.id = b.id AND a.node < b.node GROUP BY a.node, b.node"
            " HAVING count(*) >= %(min_weight)s ORDER BY weight DESC, source, target LIMIT %(limit)s)"
            " SELECT e.source, e.target, e.weight, e.value, s.agreements AS source_agreements,"
            " s.value AS source_value, t.agreements AS target_agreements, t.value AS target_value"
            " FROM e JOIN n s ON s.node = e.source JOIN n t ON t.node = e.target"
            " ORDER BY e.weight DESC, e.source, e.target"
        ).format(s=self.s, where=where)
        rows = await self._fetch(tenant, query, {**params, "min_weight": min_weight, "limit": limit + 1})
        edges = rows[:limit]
        nodes: dict[str, dict[str, Any]] = {}
        for row in edges:
            for end in ("source", "target"):
                nodes[row[end]] = {"id": row[end], "agreements": row[f"{end}_agreements"],
                                   "value_idr": row[f"{end}_value"]}
        return {
            "nodes": [nodes[k] for k in sorted(nodes)],
            "edges": [{k: row[k] for k in ("source", "target", "weight")} | {"value_idr": row["value"]}
                      for row in edges],
            "truncated": len(rows) > limit,
        }

    async def active_pairs(
        self, tenant: str, regions: Sequence[str], on: date | None = None
    ) -> set[tuple[str, str]]:
        """(region, urusan) of every active cooperation (framework signed, not ended) of
        `regions` that the tenant sees: active now, or by its stage `on` a day."""
        query = sql.SQL(
            "SELECT DISTINCT r, u FROM {s}.agreements a, unnest(party_regions) AS r, unnest(urusan) AS u"
            " WHERE visible_to @> ARRAY[%(tenant)s] AND {stage} = ANY(%(active)s) AND r = ANY(%(regions)s){begun}"
        ).format(s=self.s, stage=_stage(self.s, on),
                 begun=sql.SQL(" AND began_on <= %(on)s" if on is not None else ""))
        rows = await self._fetch(tenant, query, {"tenant": tenant, "active": sorted(ACTIVE_STAGES),
                                                 "regions": list(regions), "on": on})
        return {(row["r"], row["u"]) for row in rows}
