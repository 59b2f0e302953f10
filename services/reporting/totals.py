"""Period totals kept by the reporting worker: what consolidations and the national roll-up
count for a period that has ended, without counting 100,000 agreements on every request.

A period's totals are the agreements alive in it (`rules.ALIVE`), each by its stage on the
period's last day (`rules.stage_on`): in all, by form, by stage and by urusan, with their
value; for the whole country (scope `national`) and for each province (the agreements with a
party in it). The same numbers `Snapshot.period_totals` counts from the rows; a test holds
the two equal.

Two tables, rebuilt with the agreements (`AgreementsView`, built beside the live ones):

- `agreement_periods`: each agreement's part in each period (its stage on the period's last
  day, form, urusan, value, provinces), for every period (semester and year) that began by
  `periods_done.upto`;
- `period_totals`: their sums per (period, scope, dimension, code).

In the batch that changes agreements (and in its transaction), their old parts are taken out
of the sums and their new parts, computed by the same SQL rules from the rows just written,
put in. `upto` is kept more than a year ahead (`advance`): the parts of the periods it
newly covers are computed for every agreement, once, when it moves.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from psycopg import sql

from services.reporting.rules import stage_on
from shared.tenancy import NATIONAL

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
    "COMMENT ON TABLE {s}.{t} IS 'ksd view version 1'",
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
    "COMMENT ON TABLE {s}.{t} IS 'ksd view version 1'",
]

# `{t}`: `periods_done`, or `periods_done_next`: one row, the last day periods may begin on
# to have their parts kept (the end of next year when the table is made).
DONE_TABLES = [
    "CREATE TABLE IF NOT EXISTS {s}.{t} (upto date NOT NULL)",
    "COMMENT ON TABLE {s}.{t} IS 'ksd view version 1'",
    "INSERT INTO {s}.{t} (upto) SELECT make_date(extract(year FROM current_date)::int + 1, 12, 31)"
    " WHERE NOT EXISTS (SELECT 1 FROM {s}.{t})",
]

# The periods of agreement `a` (semesters and years) that began after `%(after)s` and by
# `%(upto)s`, from the one it began in to the one it ended in.
_PERIODS = """
    SELECT to_char(d, 'YYYY') || CASE WHEN extract(month FROM d) < 7 THEN '-S1' ELSE '-S2' END AS period,
           (d + interval '6 months' - interval '1 day')::date AS period_end, d::date AS period_start
    FROM generate_series(date_trunc('year', a.began_on)
                         + CASE WHEN extract(month FROM a.began_on) > 6 THEN interval '6 months' ELSE interval '0' END,
                         least(coalesce(a.ended_on, %(upto)s::date), %(upto)s::date), interval '6 months') AS d
    UNION ALL
    SELECT to_char(d, 'YYYY'), (d + interval '1 year' - interval '1 day')::date, d::date
    FROM generate_series(date_trunc('year', a.began_on), least(coalesce(a.ended_on, %(upto)s::date), %(upto)s::date),
                         interval '1 year') AS d
"""

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


class PeriodTotals:
    """The statements on one set of tables (live or `_next`): `schema`, and the names of the
    agreements, their stage history and the three tables above."""

    def __init__(self, schema: sql.Identifier, agreements: str, stages: str, parts: str, totals: str,
                 done: str) -> None:
        def table(name: str) -> sql.Composed:
            return sql.SQL("{}.{}").format(schema, sql.Identifier(name))

        self._done = table(done)
        the = {"parts": table(parts), "totals": table(totals), "agreements": table(agreements),
               "stage_on": stage_on(sql.SQL("p.period_end"), table(stages)), "periods": sql.SQL(_PERIODS),
               "national": sql.Literal(NATIONAL)}
        self._take_out = sql.SQL(
            "WITH parts AS (DELETE FROM {parts} WHERE agreement_id = ANY(%(ids)s)"  # noqa: S608 - names, not values
            " RETURNING period, stage, form, urusan, value, provinces)" + _COUNT).format(**the, sign=sql.SQL("-1"))
        self._put_in = sql.SQL(
            "WITH parts AS (INSERT INTO {parts} (agreement_id, period, stage, form, urusan, value, provinces)"  # noqa: S608
            " SELECT a.id, p.period, {stage_on}, a.form, a.urusan, coalesce(a.value_idr, 0), a.provinces"
            " FROM {agreements} a CROSS JOIN LATERAL ({periods}) p"
            " WHERE (%(ids)s::uuid[] IS NULL OR a.id = ANY(%(ids)s)) AND p.period_start > %(after)s::date"
            " RETURNING period, stage, form, urusan, value, provinces)" + _COUNT).format(**the, sign=sql.SQL("1"))
        self._upto: date | None = None

    def upto(self, curs: Any) -> date:
        if self._upto is None:
            curs.execute(sql.SQL("SELECT upto FROM {}").format(self._done))
            row = curs.fetchone()
            if row is None:
                raise LookupError("periods_done has no row")
            self._upto = row["upto"]
        return self._upto

    def recount(self, curs: Any, agreement_ids: list[Any]) -> None:
        """Take the agreements' old parts out of the totals and put their new ones in (their
        rows and stage history as this transaction has them)."""
        if not agreement_ids:
            return
        upto = self.upto(curs)
        curs.execute(self._take_out, {"ids": agreement_ids})
        curs.execute(self._put_in, {"ids": agreement_ids, "after": date.min, "upto": upto})

    def advance(self, curs: Any, today: date) -> bool:
        """Keep the parts to `target_upto(today)`: the periods newly covered, for every agreement.
        True when it moved."""
        upto, target = self.upto(curs), target_upto(today)
        if target <= upto:
            return False
        curs.execute(self._put_in, {"ids": None, "after": upto, "upto": target})
        curs.execute(sql.SQL("UPDATE {} SET upto = %s").format(self._done), (target,))
        self._upto = target
        return True

    def count_all(self, curs: Any) -> None:
        """Every agreement's parts, into empty tables (rows copied in behind the feed's back:
        a benchmark's data set)."""
        curs.execute(self._put_in, {"ids": None, "after": date.min, "upto": self.upto(curs)})

    def forget(self) -> None:
        """After a rolled-back transaction: read `upto` again."""
        self._upto = None
