"""The two SQL rules every count of agreements in a period is made with: which agreements
were alive in it (`ALIVE`) and the stage each was in on a day (`STAGE_ON`). Reports,
consolidations, the national roll-up and the analysis select with them. The kept period totals
apply the same two rules in Python (`services.reporting.totals.parts_of`, `stage_at`), for
speed; tests hold the kept totals equal to counting with these.
"""

from __future__ import annotations

from psycopg import sql

# An agreement is alive during a period when it began on or before the period's last day
# and had not ended before its first (`began_on`, `ended_on`: see the registry's read model).
ALIVE = sql.SQL("began_on <= %(period_end)s AND (ended_on IS NULL OR ended_on >= %(period_start)s)")

# An agreement's stage on a day (`%(on)s`; the agreements table aliased `a`, the schema `{s}`,
# formatted later): the stage of the latest change (in the order they were recorded) that had
# legally happened by then; before any, the first; an agreement without a stage history (rows
# copied in by hand) its stage now. One look at the agreement's few rows (its primary key's
# prefix).
STAGE_ON = sql.SQL(
    "coalesce((SELECT h.stage FROM {s}.agreement_stages h WHERE h.agreement_id = a.id"
    " ORDER BY h.since <= %(on)s DESC, CASE WHEN h.since <= %(on)s THEN h.version ELSE -h.version END DESC"
    " LIMIT 1), a.stage)"
)
