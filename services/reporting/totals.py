"""Period totals kept by the reporting worker: what consolidations and the national roll-up
count for a period that has ended, without counting 100,000 agreements on every request.

A period's totals are the agreements alive in it (`rules.ALIVE`), each by its stage on the
period's last day (`rules.STAGE_ON`): in all, by form, by stage and by urusan, with their
value; for the whole country (scope `national`) and for each province (the agreements with a
party in it). The same numbers `Snapshot.period_totals` counts from the rows; a test holds
the two equal.

Two tables, rebuilt with the agreements (`AgreementsView`, built beside the live ones):

- `agreement_periods`: each agreement's part in each period (its stage on the period's last
  day, form, urusan, value, provinces), for every period (semester and year) that began by
  `periods_done.upto`;
- `period_totals`: their sums per (period, scope, dimension, code).

In the batch that changes agreements (and in its transaction), their parts are computed again
(the rules in Python, over the rows and stage history just written), and the parts that
changed are written and their difference counted into the sums. A catch-up (a rebuild, a
restart after downtime: large batches) writes the parts only and marks their periods stale;
the first live batch, or the worker once the feed is idle (`count_stale`), counts the stale
periods' sums again from the parts. Stale periods are
counted from the rows by the readers meanwhile. `upto` is kept more than a year ahead
(`advance`): the parts of the periods it newly covers are computed for every agreement, once,
when it moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import sql

from shared.periods import Period
from shared.projection import copy_array
from shared.tenancy import NATIONAL

# The shapes of the three tables below (`ksd view version N`): bump one to rebuild them beside
# the live ones, with the agreements (services.reporting.views.AgreementsView).
PARTS_VERSION, TOTALS_VERSION, DONE_VERSION = 1, 1, 1

# `{t}`: `agreement_periods`, or `agreement_periods_next` while a new shape is built beside it.
PARTS_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {s}.{t} (
        agreement_id uuid NOT NULL,
        period text NOT NULL,
        stage text NOT NULL,               -- on the period's last day
        form text NOT NULL,
        urusan text[] NOT NULL,
        value numeric(20, 0) NOT NULL,
        provinces text[] NOT NULL,
        PRIMARY KEY (agreement_id, period)
    )
    """,
    f"COMMENT ON TABLE {{s}}.{{t}} IS 'ksd view version {PARTS_VERSION}'",
]

# A province's totals are its consolidator's (and the ministry's); the national ones the
# ministry's.
TOTALS_POLICY = ("scope = current_setting('ksd.tenant', true)"
                 f" OR current_setting('ksd.tenant', true) = '{NATIONAL}'")

# `{t}`: `period_totals`, or `period_totals_next`.
TOTALS_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {s}.{t} (
        period text NOT NULL,
        scope text NOT NULL,               -- `national` or a province's code
        dim text NOT NULL,                 -- all, form, stage, urusan
        code text NOT NULL,                -- '' for all
        n bigint NOT NULL,
        value numeric NOT NULL,
        PRIMARY KEY (period, scope, dim, code)
    )
    """,
    f"COMMENT ON TABLE {{s}}.{{t}} IS 'ksd view version {TOTALS_VERSION}'",
]

# `{t}`: `periods_done`, or `periods_done_next`: one row, the last day periods may begin on
# to have their parts kept (the end of next year when the table is made).
DONE_TABLES = [
    # `stale`: periods whose totals a catch-up left to be counted again (`recount`).
    "CREATE TABLE IF NOT EXISTS {s}.{t} (upto date NOT NULL, stale text[] NOT NULL DEFAULT '{{}}')",
    f"COMMENT ON TABLE {{s}}.{{t}} IS 'ksd view version {DONE_VERSION}'",
    "INSERT INTO {s}.{t} (upto) SELECT make_date(extract(year FROM current_date)::int + 1, 12, 31)"
    " WHERE NOT EXISTS (SELECT 1 FROM {s}.{t})",
]

# Parts (`parts`: a CTE of period, stage, form, urusan, value, provinces) counted into the
# totals `{totals}` with the sign `{sign}`, summed per key first (one update per key).
_COUNT = """
    INSERT INTO {totals} AS t (period, scope, dim, code, n, value)
    SELECT period, scope, dim, code, sum({sign}), sum({sign} * value) FROM (
        SELECT p.period, sc.scope, d.dim, d.code, p.value FROM parts p
        CROSS JOIN LATERAL unnest(p.provinces || {national}::text) AS sc(scope)
        CROSS JOIN LATERAL (SELECT 'all', '' UNION ALL SELECT 'form', p.form UNION ALL SELECT 'stage', p.stage
                            UNION ALL SELECT 'urusan', u FROM unnest(p.urusan) AS u) AS d(dim, code)
    ) x GROUP BY period, scope, dim, code
    ON CONFLICT (period, scope, dim, code) DO UPDATE SET n = t.n + excluded.n, value = t.value + excluded.value
"""


def target_upto(today: date) -> date:
    """How far ahead the parts are kept: to the end of next year."""
    return date(today.year + 1, 12, 31)


class Facts(NamedTuple):
    """What an agreement's parts are made of: its row's columns (services.reporting.views)."""

    began_on: date
    ended_on: date | None
    stage: str  # today's: the stage of an agreement without a stage history
    form: str
    urusan: tuple[str, ...]
    value: int
    provinces: tuple[str, ...]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Facts:
        """From an agreement's row: as the view renders it, or as the table holds it."""
        ended = row["ended_on"]
        return cls(row["began_on"], date.fromisoformat(ended) if isinstance(ended, str) else ended, row["stage"],
                   row["form"], tuple(row["urusan"]), int(row["value_idr"] or 0), tuple(row["provinces"]))


class _Part(NamedTuple):
    stage: str
    form: str
    urusan: tuple[str, ...]
    value: int
    provinces: tuple[str, ...]


def _part(stage: str, form: str, urusan: Any, value: Any, provinces: Any) -> _Part:
    return _Part(stage, form, tuple(urusan), int(value), tuple(provinces))


def stage_at(stages: list[tuple[int, str, date]], day: date, today: str) -> str:
    """`rules.STAGE_ON` in Python, over (version, stage, since) rows: the latest change (by
    version) that had happened by `day`; before any, the first; without a history, `today`."""
    happened = [s for s in stages if s[2] <= day]
    if happened:
        return max(happened)[1]
    return min(stages)[1] if stages else today


def parts_of(facts: Facts, stages: list[tuple[int, str, date]], upto: date) -> dict[str, _Part]:
    """An agreement's part in every period (semester and year) it was alive in (`rules.ALIVE`)
    that began by `upto`: its stage on the period's last day, and its counted facts."""
    last = min(facts.ended_on, upto) if facts.ended_on is not None else upto
    parts = {}
    for period in (Period.semester_of(facts.began_on), Period(facts.began_on.year)):
        while period.start <= last:
            parts[str(period)] = _Part(stage_at(stages, period.end, facts.stage), facts.form, facts.urusan,
                                       facts.value, facts.provinces)
            period = period.next()
    return parts


def _keys(period: str, part: _Part) -> list[tuple[str, str, str, str]]:
    """The totals a part counts in: each scope's all, form, stage and each urusan."""
    dims = [("all", ""), ("form", part.form), ("stage", part.stage), *(("urusan", u) for u in part.urusan)]
    return [(period, scope, dim, code) for scope in (*part.provinces, NATIONAL) for dim, code in dims]


class PeriodTotals:
    """The statements on one set of tables (live or `_next`): `schema`, and the names of the
    agreements, their stage history and the three tables above."""

    def __init__(self, schema: sql.Identifier, agreements: str, stages: str, parts: str, totals: str,
                 done: str) -> None:
        def table(name: str) -> sql.Composed:
            return sql.SQL("{}.{}").format(schema, sql.Identifier(name))

        self._done = table(done)
        the = {"parts": table(parts), "totals": table(totals), "national": sql.Literal(NATIONAL)}
        self._select_rows = sql.SQL(
            "SELECT id, began_on, ended_on, stage, form, urusan, value_idr, provinces FROM {}"
            " WHERE id > %s ORDER BY id LIMIT %s").format(table(agreements))
        self._select_stages = sql.SQL(
            "SELECT agreement_id, version, stage, since FROM {} WHERE agreement_id = ANY(%s)").format(table(stages))
        self._select_parts = sql.SQL(
            "SELECT agreement_id, period, stage, form, urusan, value, provinces FROM {} WHERE agreement_id = ANY(%s)"
        ).format(table(parts))
        self._delete_parts = sql.SQL(
            "DELETE FROM {} p USING unnest(%s::uuid[], %s::text[]) AS d(id, period)"
            " WHERE p.agreement_id = d.id AND p.period = d.period").format(table(parts))
        self._copy_parts = sql.SQL(
            "COPY {} (agreement_id, period, stage, form, urusan, value, provinces) FROM STDIN").format(table(parts))
        self._add_totals = sql.SQL(
            "INSERT INTO {totals} AS t (period, scope, dim, code, n, value)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::numeric[])"
            " ON CONFLICT (period, scope, dim, code)"
            " DO UPDATE SET n = t.n + excluded.n, value = t.value + excluded.value").format(totals=table(totals))
        self._drop_totals = sql.SQL("DELETE FROM {} WHERE period = ANY(%(periods)s)").format(table(totals))
        self._count_periods = sql.SQL(
            "WITH parts AS (SELECT period, stage, form, urusan, value, provinces FROM {parts}"  # noqa: S608 - names
            " WHERE period = ANY(%(periods)s))" + _COUNT).format(**the, sign=sql.SQL("1"))
        self._upto: date | None = None
        self._stale: set[str] = set()

    def upto(self, curs: Any) -> date:
        if self._upto is None:
            self._read_done(curs)
        return self._upto  # type: ignore[return-value]  # read just now

    def stale(self, curs: Any) -> set[str]:
        if self._upto is None:
            self._read_done(curs)
        return self._stale

    def _read_done(self, curs: Any) -> None:
        # Locked to the transaction's end: the feed's batch and the idle recount (`count_stale`)
        # change the sums one after the other, each from what the other committed.
        curs.execute(sql.SQL("SELECT upto, stale FROM {} FOR UPDATE").format(self._done))
        row = curs.fetchone()
        if row is None:
            raise LookupError("periods_done has no row")
        self._upto, self._stale = row["upto"], set(row["stale"])

    def recount(self, curs: Any, facts: dict[UUID, Facts], *, defer: bool = False) -> None:
        """The agreements' parts again, from their facts (`Facts.of` their rows) and their stage
        history as this transaction has it; the parts that changed (most do not: an event
        moves the stage of the periods from its day on) are written, and their difference
        counted into the totals; with `defer` (a catch-up), their periods marked stale instead.
        Without `defer`, stale periods are counted again first."""
        stale = self.stale(curs)
        if stale and not defer:
            curs.execute(self._drop_totals, {"periods": sorted(stale)})
            curs.execute(self._count_periods, {"periods": sorted(stale)})
            curs.execute(sql.SQL("UPDATE {} SET stale = '{{}}'").format(self._done))
            self._stale = stale = set()
        if not facts:
            return
        ids = list(facts)
        curs.execute(self._select_stages, (ids,))
        stages: dict[UUID, list[tuple[int, str, date]]] = {}
        for row in curs.fetchall():
            stages.setdefault(row["agreement_id"], []).append((row["version"], row["stage"], row["since"]))
        curs.execute(self._select_parts, (ids,))
        old = {(r["agreement_id"], r["period"]): _part(r["stage"], r["form"], r["urusan"], r["value"], r["provinces"])
               for r in curs.fetchall()}
        upto = self.upto(curs)
        new = {(agreement_id, period): part for agreement_id, f in facts.items()
               for period, part in parts_of(f, stages.get(agreement_id, []), upto).items()}
        gone = [key for key, part in old.items() if new.get(key) != part]
        came = [(key, part) for key, part in new.items() if old.get(key) != part]
        if not gone and not came:
            return
        if defer:
            periods = {key[1] for key in gone} | {key[1] for key, _ in came}
            if not periods <= stale:
                curs.execute(sql.SQL("UPDATE {} SET stale = %s").format(self._done), (sorted(stale | periods),))
                self._stale = stale | periods
        delta: dict[tuple[str, str, str, str], list[int]] = {}
        for sign, changes in ((-1, [(key, old[key]) for key in gone]), (1, came)):
            for (_, period), part in changes:
                if period in self._stale:  # counted again when the catch-up ends
                    continue
                for key in _keys(period, part):
                    counted = delta.setdefault(key, [0, 0])
                    counted[0] += sign
                    counted[1] += sign * part.value
        if gone:
            curs.execute(self._delete_parts, ([k[0] for k in gone], [k[1] for k in gone]))
        if came:
            with curs.copy(self._copy_parts) as copy:
                for (agreement_id, period), part in came:
                    copy.write_row((agreement_id, period, part.stage, part.form, copy_array(part.urusan), part.value,
                                    copy_array(part.provinces)))
        changed = [(k, v) for k, v in delta.items() if v != [0, 0]]
        if changed:
            columns = list(zip(*[(*k, *v) for k, v in changed], strict=True))
            curs.execute(self._add_totals, [list(c) for c in columns])

    def advance(self, curs: Any, today: date) -> bool:
        """Keep the parts to `target_upto(today)`: the periods newly covered, for every agreement.
        True when it moved."""
        target = target_upto(today)
        if target <= self.upto(curs):
            return False
        curs.execute(sql.SQL("UPDATE {} SET upto = %s").format(self._done), (target,))
        self._upto = target
        self._recount_all(curs)
        return True

    def count_stale(self, curs: Any, ready: Callable[[], bool]) -> bool:
        """The stale periods' sums counted again, when there are any and `ready()` says the feed
        has caught up (a catch-up that ended with a large batch, no live batch after it): the
        worker calls this between rounds. True when it counted."""
        curs.execute(sql.SQL("SELECT stale <> '{{}}' AS stale FROM {}").format(self._done))
        row = curs.fetchone()
        if row is None or not row["stale"] or not ready():
            return False
        self.recount(curs, {})
        return True

    def count_all(self, curs: Any) -> None:
        """Every agreement's parts and their sums (rows copied in behind the feed's back: a
        benchmark's data set)."""
        self._recount_all(curs)

    def _recount_all(self, curs: Any, chunk: int = 5_000) -> None:
        """`recount` of every agreement, from its row, `chunk` at a time."""
        last = UUID(int=0)
        while True:
            curs.execute(self._select_rows, (last, chunk))
            rows = curs.fetchall()
            if not rows:
                return
            self.recount(curs, {r["id"]: Facts.of(r) for r in rows})
            last = rows[-1]["id"]

    def forget(self) -> None:
        """After each batch (it may have rolled back): read `upto` and `stale` again."""
        self._upto, self._stale = None, set()
