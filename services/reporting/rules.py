"""The two SQL rules every count of agreements in a period is made with: which agreements
were alive in it (`ALIVE`) and the stage each was in on a day (`stage_on`). Reports,
consolidations, the national roll-up, the analysis and the kept period totals
(`services.reporting.totals`) all select with them, and with nothing else.
"""

from __future__ import annotations

from psycopg import sql

# An agreement is alive during a period when it began on or before the period's last day
# and had not ended before its first (`began_on`, `ended_on`: see the registry's read model).
ALIVE = sql.SQL("began_on <= %(period_end)s AND (ended_on IS NULL OR ended_on >= %(period_start)s)")

# An agreement's stage on a day (`{on}`; the agreements table aliased `a`, its stage history
# `{stages}`): the stage of the latest change (in the order they were recorded) that had
# legally happened by then; before any, the first; an agreement without a stage history (rows
# copied in by hand) its stage now. One look at the agreement's few rows (its primary key's
# prefix).
_STAGE_ON = (
    "coalesce((SELECT h.stage FROM {stages} h WHERE h.agreement_id = a.id"
    " ORDER BY h.since <= {on} DESC, CASE WHEN h.since <= {on} THEN h.version ELSE -h.version END DESC"
    " LIMIT 1), a.stage)"
)


def stage_on(on: sql.Composable, stages: sql.Composable) -> sql.Composed:
    """The rule for the day `on` (an SQL expression) and the stage history table `stages`."""
    return sql.SQL(_STAGE_ON).format(on=on, stages=stages)


# The rule for the day `%(on)s`, the schema's stage history given as `{s}` (formatted later).
STAGE_ON = sql.SQL(_STAGE_ON.replace("{stages}", "{s}.agreement_stages").replace("{on}", "%(on)s"))
