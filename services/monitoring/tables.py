"""The monitoring read model's tables: their DDL and row-level security policies (created by
`ksd migrate` through the views, `services.monitoring.views`)."""

from __future__ import annotations

from services.monitoring.notify import NOTIFICATION_TABLES
from shared.db import AUDIENCE_POLICY, gin_index, payload_columns, reader_policy

SCHEMA = "monitoring"

# Bump when `agreements` changes shape or meaning: `ksd migrate` then creates the new shape
# beside the live one (with the stage history), which the worker fills from the registry's
# events while readers keep the live one, and then puts in its place
# (shared.projection.BesideView; `AgreementsView.version` holds both numbers).
AGREEMENTS_VERSION = 1

# `{t}`: `agreements`, or `agreements_next` while a new shape is built beside it.
AGREEMENT_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {schema}.{t} (
        id uuid PRIMARY KEY,
        version integer NOT NULL,
        form text NOT NULL,
        title text NOT NULL,
        stage text NOT NULL,
        party_regions text[] NOT NULL,
        provinces text[] NOT NULL,
        visible_to text[] NOT NULL,
        evaluator text NOT NULL,
        framework_signed_on date,
        first_pks_signed_on date,
        state jsonb NOT NULL,
        updated_at timestamptz NOT NULL,
        -- set by the feeds when something changed; the worker then re-evaluates the alerts
        alerts_due boolean NOT NULL DEFAULT true
    )
    """,
    "COMMENT ON TABLE {schema}.{t} IS 'ksd view version " + str(AGREEMENTS_VERSION) + "'",
    "CREATE INDEX IF NOT EXISTS {t}_alerts_due ON {schema}.{t} (id) WHERE alerts_due",
    *gin_index("{t}_visible_to", "{t}", "visible_to"),
    *gin_index("{t}_party_regions", "{t}", "party_regions"),
    payload_columns("{t}", "state"),
    *reader_policy("{t}", AUDIENCE_POLICY),
]

TABLES = [
    "CREATE TABLE IF NOT EXISTS {schema}.regions_due (region text PRIMARY KEY)",
    """
    CREATE TABLE IF NOT EXISTS {schema}.progress_reports (
        id uuid PRIMARY KEY,
        agreement_id uuid NOT NULL,
        region text NOT NULL,
        period text NOT NULL,
        version integer NOT NULL,
        content jsonb NOT NULL,
        filed_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        filed_by jsonb NOT NULL,
        visible_to text[] NOT NULL,
        UNIQUE (agreement_id, region, period)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS {schema}.evaluations (
        id uuid PRIMARY KEY,
        agreement_id uuid NOT NULL,
        period text NOT NULL,
        evaluator text NOT NULL,
        version integer NOT NULL,
        content jsonb NOT NULL,
        recorded_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        visible_to text[] NOT NULL,
        UNIQUE (agreement_id, period)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS {schema}.alerts (
        id uuid PRIMARY KEY,
        seq bigserial UNIQUE,
        key text NOT NULL,
        kind text NOT NULL,
        subject text NOT NULL,
        agreement_id uuid,
        region text,
        severity text NOT NULL,
        level integer NOT NULL,
        since date NOT NULL,
        regions text[] NOT NULL,
        provinces text[] NOT NULL,
        visible_to text[] NOT NULL,
        message text NOT NULL,
        details jsonb NOT NULL,
        opened_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        cleared_at timestamptz
    )
    """,
    # One open alert per cause; a cause that returns after clearing opens a new alert.
    "CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_key ON {schema}.alerts (key) WHERE cleared_at IS NULL",
    "CREATE INDEX IF NOT EXISTS alerts_agreement ON {schema}.alerts (agreement_id) WHERE cleared_at IS NULL",
    "CREATE INDEX IF NOT EXISTS alerts_region ON {schema}.alerts (region) WHERE cleared_at IS NULL",
    *gin_index("alerts_visible_to", "alerts", "visible_to"),
    "CREATE TABLE IF NOT EXISTS {schema}.alert_refresh"
    " (id integer PRIMARY KEY, day date NOT NULL, at timestamptz NOT NULL)",
    # The day an alert's cause first began (its `since` when it opened; `since` moves when it
    # escalates): with `cleared_at`, whether it was open on a day (`on`). Absent on alerts
    # opened before the column existed: their `since` stands for it.
    "ALTER TABLE {schema}.alerts ADD COLUMN IF NOT EXISTS began_on date",
    *NOTIFICATION_TABLES,
]

# Bump when `agreement_stages` changes shape or meaning: as AGREEMENTS_VERSION, both tables
# are built beside the live ones.
STAGES_VERSION = 1

# A stage history is visible to whoever sees its agreement (whose own policy applies inside).
# It reads the live agreements: a switch-over drops it with them and makes it again
# (`AgreementsView.switched`).
STAGES_POLICY = ("EXISTS (SELECT 1 FROM {schema}.agreements a WHERE a.id = agreement_id"
                 " AND a.visible_to @> ARRAY[current_setting('ksd.tenant', true)])")

# `{t}`: `agreement_stages`, or `agreement_stages_next` while a new shape is built beside it.
STAGE_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {schema}.{t} (
        agreement_id uuid NOT NULL,
        version integer NOT NULL,          -- the event that moved the agreement into this stage
        stage text NOT NULL,
        since date NOT NULL,               -- the day it legally did (the registry's legal dates)
        recorded_at timestamptz NOT NULL,  -- when that event was recorded
        PRIMARY KEY (agreement_id, version)
    )
    """,
    "COMMENT ON TABLE {schema}.{t} IS 'ksd view version " + str(STAGES_VERSION) + "'",
    *reader_policy("{t}", STAGES_POLICY),
]

# Readers switch to the SELECT-only role with their tenant set; these policies are the
# second wall behind each query's own tenant filter.
RLS = {
    "progress_reports": AUDIENCE_POLICY,
    "evaluations": AUDIENCE_POLICY,
    "alerts": AUDIENCE_POLICY,
    "notifications": "tenant = current_setting('ksd.tenant', true)",
    "deliveries": "EXISTS (SELECT 1 FROM {schema}.notifications n WHERE n.id = notification_id"
                  " AND n.tenant = current_setting('ksd.tenant', true))",
}
for _table, _using in RLS.items():
    TABLES += reader_policy(_table, _using)
