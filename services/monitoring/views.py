"""The monitoring read model and the alert engine, written by the monitoring worker.

Two projections feed one set of tables in schema `monitoring`, each with its own tracking
table, each row change committed with its tracking position (exactly once):

- `RegistryFeed` follows the registry's events (its notification log, never its tables) and
  keeps `agreements`: every agreement's state, folded with the registry domain's own `apply`;
  and `agreement_stages`: a row each time an agreement's stage changed, dated by the event's
  legal date (the registry's valid time), what `on` reads;
- `MonitoringFeed` follows this service's events and keeps `progress_reports` and
  `evaluations`.

After each change, the affected agreement's alerts (and its regions' neighbour alerts) are
re-evaluated in the same transaction; `refresh_all` does so for everything as time passes.
Each alert opened, escalated or cleared writes its notifications to the outbox in that
same transaction, so none is lost and none is written twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID, uuid4

import structlog
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection
from psycopg import sql
from psycopg.types.json import Jsonb

from services.monitoring.application import evaluator_of
from services.monitoring.domain.alerts import (
    ACTIVE_STAGES,
    KIND_TITLES,
    Finding,
    Kind,
    Thresholds,
    agreement_findings,
    region_finding,
)
from services.monitoring.domain.reports import Evaluation, ProgressReport
from services.monitoring.domain.valid_time import corrected_step_date
from services.monitoring.notify import NOTIFICATION_TABLES, channels_for, enqueue
from services.registry.domain.agreement import Agreement
from services.registry.domain.valid_time import legal_date
from shared.clock import Clock, SystemClock
from shared.db import AUDIENCE_POLICY, READER_ROLE, reader_policy
from shared.periods import local_date
from shared.regions import RegionCatalog, load_regions, province_of
from shared.tenancy import audience_of

SCHEMA = "monitoring"
log = structlog.get_logger("ksd.monitoring")

_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {schema}.agreements (
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
    "CREATE INDEX IF NOT EXISTS agreements_alerts_due ON {schema}.agreements (id) WHERE alerts_due",
    "CREATE TABLE IF NOT EXISTS {schema}.regions_due (region text PRIMARY KEY)",
    "CREATE INDEX IF NOT EXISTS agreements_visible_to ON {schema}.agreements USING gin (visible_to)",
    "CREATE INDEX IF NOT EXISTS agreements_party_regions ON {schema}.agreements USING gin (party_regions)",
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
    "CREATE INDEX IF NOT EXISTS alerts_visible_to ON {schema}.alerts USING gin (visible_to)",
    "CREATE TABLE IF NOT EXISTS {schema}.alert_refresh (id integer PRIMARY KEY, day date NOT NULL, at timestamptz NOT NULL)",
    # The day an alert's cause first began (its `since` when it opened; `since` moves when it
    # escalates): with `cleared_at`, whether it was open on a day (`on`). Absent on alerts
    # opened before the column existed: their `since` stands for it.
    "ALTER TABLE {schema}.alerts ADD COLUMN IF NOT EXISTS began_on date",
    *NOTIFICATION_TABLES,
]

# Bump when `agreement_stages` changes shape or meaning: `ksd migrate` then drops it with the
# agreements and the registry feed's position, and the worker replays the registry's events
# into both (`MonitoringView.stages_outdated`, setup.install).
STAGES_VERSION = 1

_STAGE_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {schema}.agreement_stages (
        agreement_id uuid NOT NULL,
        version integer NOT NULL,          -- the event that moved the agreement into this stage
        stage text NOT NULL,
        since date NOT NULL,               -- the day it legally did (the registry's legal dates)
        recorded_at timestamptz NOT NULL,  -- when that event was recorded
        PRIMARY KEY (agreement_id, version)
    )
    """,
    "COMMENT ON TABLE {schema}.agreement_stages IS 'ksd view version " + str(STAGES_VERSION) + "'",
]
_TABLES += _STAGE_TABLES

# Readers switch to the SELECT-only role with their tenant set; these policies are the
# second wall behind each query's own tenant filter.
_RLS = {
    "agreements": AUDIENCE_POLICY,
    "progress_reports": AUDIENCE_POLICY,
    "evaluations": AUDIENCE_POLICY,
    "alerts": AUDIENCE_POLICY,
    "notifications": "tenant = current_setting('ksd.tenant', true)",
    "deliveries": "EXISTS (SELECT 1 FROM {schema}.notifications n WHERE n.id = notification_id"
                  " AND n.tenant = current_setting('ksd.tenant', true))",
    # A stage history is visible to whoever sees its agreement (whose own policy applies inside).
    "agreement_stages": "EXISTS (SELECT 1 FROM {schema}.agreements a WHERE a.id = agreement_id"
                        " AND a.visible_to @> ARRAY[current_setting('ksd.tenant', true)])",
}
for _table, _using in _RLS.items():
    _TABLES += reader_policy(_table, _using)

# A report's audience is its agreement's; until the registry feed has that agreement (a
# rebuild, where this feed may run ahead), none: it becomes visible when the agreement arrives.
_AUDIENCE = "coalesce((SELECT a.visible_to FROM {s}.agreements a WHERE a.id = %(agreement)s), '{{}}')"

_AGREEMENT_COLUMNS = (
    "id", "version", "form", "title", "stage", "party_regions", "provinces", "visible_to", "evaluator",
    "framework_signed_on", "first_pks_signed_on", "state", "updated_at",
)


def agreement_row(agreement: Agreement) -> dict[str, Any]:
    regions = agreement.party_regions
    framework = agreement.framework or {}
    pks_signed = sorted(p["signed_on"] for p in agreement.pks if p.get("signed_on"))
    return {
        "id": agreement.id,
        "version": agreement.version,
        "form": agreement.form,
        "title": agreement.title,
        "stage": agreement.stage,
        "party_regions": regions,
        "provinces": sorted({province_of(r) for r in regions}),
        "visible_to": sorted(audience_of(regions)),
        "evaluator": evaluator_of(regions),
        "framework_signed_on": framework.get("signed_on"),
        "first_pks_signed_on": pks_signed[0] if pks_signed else None,
        "state": Jsonb(agreement.to_state()),
        "updated_at": agreement.modified_on,
    }


class MonitoringView(PostgresTrackingRecorder):
    """The read model's writer and the alert engine. `configure` gives it the settings,
    clock and regions after the projection runner has built it."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.schema = sql.Identifier(self.datastore.schema)
        self.sql_create_statements.extend(sql.SQL(s).format(schema=self.schema) for s in _TABLES)
        settings, clock = self.configuration
        if settings is None:
            raise RuntimeError("use MonitoringView.configured(settings, clock) as the view class")
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.regions: RegionCatalog = load_regions()
        self.thresholds = Thresholds.from_settings(settings)
        self.no_neighbour_scope = settings.alert_no_neighbour_scope
        self._refreshed_on: date | None = None  # the day of the last full re-evaluation

    # The projection runner builds the view and starts its thread at once, so the settings
    # travel with the class: nothing can run with a half-configured view.
    configuration: tuple[Any, Clock | None] = (None, None)

    @classmethod
    def configured(cls, settings: Any, clock: Clock | None = None) -> type[MonitoringView]:
        return type(cls.__name__, (cls,), {"configuration": (settings, clock)})

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.schema)

    # -- registry events ---------------------------------------------------------------------

    def insert_agreement(self, agreement: Agreement, tracking: Tracking, began_on: date | None = None) -> None:
        """A new agreement; `began_on`: the day it legally began (its Started event's legal
        date), the first row of its stage history."""
        row = agreement_row(agreement)
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            self._insert_stage(curs, agreement, began_on or local_date(agreement.created_on), agreement.created_on)
            curs.execute(
                sql.SQL("INSERT INTO {s}.agreements ({cols}) VALUES ({vals}) ON CONFLICT (id) DO NOTHING").format(
                    s=self.schema,
                    cols=sql.SQL(", ").join(map(sql.Identifier, _AGREEMENT_COLUMNS)),
                    vals=sql.SQL(", ").join(map(sql.Placeholder, _AGREEMENT_COLUMNS)),
                ),
                row,
            )
            # Reports or evaluations that arrived first (a rebuild) become visible now.
            for table in ("progress_reports", "evaluations"):
                curs.execute(sql.SQL("UPDATE {s}.{t} SET visible_to = %s WHERE agreement_id = %s").format(
                    s=self.schema, t=sql.Identifier(table)), (row["visible_to"], agreement.id))
            self._mark(curs, agreement.id, row["party_regions"])

    def apply_agreement_event(self, event: Agreement.Event, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            curs.execute(self._q("SELECT state FROM {s}.agreements WHERE id = %s FOR UPDATE"), (event.originator_id,))
            found = curs.fetchone()
            if found is None:
                raise LookupError(f"agreement {event.originator_id} is not in the monitoring read model")
            agreement = Agreement.from_state(found["state"])
            stage_before = agreement.stage
            event.mutate(agreement)  # checks the version sequence: no gap, no repeat
            if type(event).__name__ == "Corrected":
                # A corrected legal date moves the stage change its step made.
                day = corrected_step_date(event.step, event.changes)
                if day is not None:
                    curs.execute(self._q("UPDATE {s}.agreement_stages SET since = %s WHERE agreement_id = %s"
                                         " AND version = %s"), (day, agreement.id, event.step_version))
            if agreement.stage != stage_before:
                self._insert_stage(curs, agreement, legal_date(event), event.timestamp)
            row = agreement_row(agreement)
            updated = [c for c in _AGREEMENT_COLUMNS if c != "id"]
            curs.execute(
                sql.SQL("UPDATE {s}.agreements SET {sets} WHERE id = %(id)s").format(
                    s=self.schema,
                    sets=sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in updated
                    ),
                ),
                row,
            )
            self._mark(curs, agreement.id, row["party_regions"])

    def _insert_stage(self, curs: Any, agreement: Agreement, since: date, recorded_at: datetime) -> None:
        curs.execute(
            self._q("INSERT INTO {s}.agreement_stages (agreement_id, version, stage, since, recorded_at)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
            (agreement.id, agreement.version, agreement.stage, since, recorded_at),
        )

    def stages_version(self) -> int | None:
        """The shape version of `agreement_stages`: None without the table."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT to_regclass(%(t)s) IS NOT NULL AS present,"
                " obj_description(to_regclass(%(t)s), 'pg_class') AS comment",
                {"t": f"{self.datastore.schema}.agreement_stages"},
            )
            row = curs.fetchone()
        if not row["present"]:
            return None
        comment = (row["comment"] or "").removeprefix("ksd view version ")
        return int(comment) if comment.isdigit() else 0

    def stages_outdated(self) -> bool:
        """Agreements held, but no stage history of this version (built by older code)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (f"{self.datastore.schema}.agreements",))
            if not curs.fetchone()["present"]:
                return False
        return self.stages_version() != STAGES_VERSION

    def drop_agreements_for_rebuild(self) -> None:
        """Forget the agreements, their stage history and the registry feed's position: the
        worker replays the registry's events into them (reports and evaluations get their
        audience back as their agreements arrive; every agreement's alerts are reviewed)."""
        with self.datastore.transaction(commit=True) as curs:
            for table in ("agreement_stages", "agreements", f"{RegistryFeed.name}_tracking"):
                curs.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(self.schema, sql.Identifier(table)))

    # -- monitoring events -------------------------------------------------------------------

    def apply_record_event(self, event: Any, tracking: Tracking) -> None:
        """A progress report or an evaluation filed (a new row) or corrected (its row's new
        content and version). A report's agreement is marked for an alert review."""
        table = "progress_reports" if isinstance(event, ProgressReport.Event) else "evaluations"
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            if isinstance(event, ProgressReport.Filed):
                curs.execute(
                    self._q(
                        "INSERT INTO {s}.progress_reports (id, agreement_id, region, period, version, content, filed_at,"
                        " updated_at, filed_by, visible_to) VALUES (%(id)s, %(agreement)s, %(region)s, %(period)s, 1,"
                        " %(content)s, %(at)s, %(at)s, %(by)s, " + _AUDIENCE + ") ON CONFLICT (id) DO NOTHING"
                    ),
                    {"id": event.originator_id, "agreement": UUID(event.agreement_id), "region": event.region,
                     "period": event.period, "content": Jsonb(event.content), "at": event.timestamp,
                     "by": Jsonb(event.actor)},
                )
            elif isinstance(event, Evaluation.Recorded):
                curs.execute(
                    self._q(
                        "INSERT INTO {s}.evaluations (id, agreement_id, period, evaluator, version, content, recorded_at,"
                        " updated_at, visible_to) VALUES (%(id)s, %(agreement)s, %(period)s, %(evaluator)s, 1, %(content)s,"
                        " %(at)s, %(at)s, " + _AUDIENCE + ") ON CONFLICT (id) DO NOTHING"
                    ),
                    {"id": event.originator_id, "agreement": UUID(event.agreement_id), "period": event.period,
                     "evaluator": event.evaluator, "content": Jsonb(event.content), "at": event.timestamp},
                )
            else:
                curs.execute(
                    sql.SQL("UPDATE {s}.{t} SET version = %s, content = %s, updated_at = %s WHERE id = %s").format(
                        s=self.schema, t=sql.Identifier(table)),
                    (event.originator_version, Jsonb(event.content), event.timestamp, event.originator_id),
                )
            if table == "progress_reports":
                curs.execute(self._q("SELECT agreement_id FROM {s}.progress_reports WHERE id = %s"),
                             (event.originator_id,))
                self._mark(curs, curs.fetchone()["agreement_id"], ())

    def skip(self, tracking: Tracking) -> None:
        self.insert_tracking(tracking)

    # -- the alert engine --------------------------------------------------------------------

    def today(self) -> date:
        return local_date(self.clock.now())

    def _mark(self, curs: Any, agreement_id: UUID, regions: Iterable[str]) -> None:
        """Note, in the feed's transaction, what needs its alerts re-evaluated. The worker
        reviews it when the feeds have caught up: a replay of old events (a rebuild, a
        restart after downtime) then evaluates each agreement once, in its state today,
        instead of alerting on every intermediate state of its past."""
        curs.execute(self._q("UPDATE {s}.agreements SET alerts_due = true WHERE id = %s AND NOT alerts_due"),
                     (agreement_id,))
        for region in sorted(set(regions)):
            curs.execute(self._q("INSERT INTO {s}.regions_due (region) VALUES (%s) ON CONFLICT DO NOTHING"), (region,))

    def review_due(self, batch: int = 500) -> int:
        """Re-evaluate what the feeds marked, one transaction per agreement or region.
        Returns how many were reviewed."""
        today, now, done = self.today(), self.clock.now(), 0
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._q("SELECT id FROM {s}.agreements WHERE alerts_due LIMIT %s"), (batch,))
            agreements = [r["id"] for r in curs.fetchall()]
            curs.execute(self._q("SELECT region FROM {s}.regions_due ORDER BY region LIMIT %s"), (batch,))
            regions = [r["region"] for r in curs.fetchall()]
        for agreement_id in agreements:
            done += self._guarded(self._review_agreement, agreement_id, today, now)
        for region in regions:
            done += self._guarded(self._review_region, region, today, now)
        return done

    def _review_agreement(self, agreement_id: UUID, today: date, now: datetime) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._refresh(curs, agreement_id, today, now)
            curs.execute(self._q("UPDATE {s}.agreements SET alerts_due = false WHERE id = %s"), (agreement_id,))

    def _review_region(self, region: str, today: date, now: datetime) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._q("DELETE FROM {s}.regions_due WHERE region = %s"), (region,))
            self._refresh_region(curs, region, today, now)

    @staticmethod
    def _guarded(review: Any, key: Any, today: date, now: datetime) -> int:
        """One bad agreement must not stop every other one's alerts: log it, go on (it stays
        marked and is tried again on the next round)."""
        try:
            review(key, today, now)
        except Exception:  # noqa: BLE001
            log.exception("alert_review_failed", key=str(key))
            return 0
        return 1

    def _refresh(self, curs: Any, agreement_id: UUID, today: date, now: datetime) -> None:
        """Re-evaluate one agreement's alerts (its row locked: the one lock order every
        transaction follows is agreement row, then region locks)."""
        curs.execute(
            self._q("SELECT state, visible_to FROM {s}.agreements WHERE id = %s FOR UPDATE"), (agreement_id,)
        )
        row = curs.fetchone()
        findings: list[Finding] = []
        visible_to: list[str] = []
        if row is not None:
            curs.execute(self._q("SELECT period, region FROM {s}.progress_reports WHERE agreement_id = %s"), (agreement_id,))
            reports = {(r["period"], r["region"]) for r in curs.fetchall()}
            findings = agreement_findings(row["state"], reports, today, self.thresholds)
            visible_to = row["visible_to"]
        self._sync(curs, findings, agreement_id=agreement_id, region=None, visible_to=visible_to, now=now)

    def _refresh_region(self, curs: Any, region: str, today: date, now: datetime) -> None:
        curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ksd-monitoring-region:{region}",))
        finding = None
        info = self.regions.get(region)
        neighbours = self.regions.neighbours(region)
        if info is not None and info.autonomous and neighbours:
            curs.execute(
                self._q(
                    "SELECT count(DISTINCT id) FILTER (WHERE stage <> 'dibatalkan') AS agreements,"
                    " coalesce(array_agg(DISTINCT p) FILTER (WHERE stage = ANY(%s)), '{{}}') AS partners"
                    " FROM {s}.agreements LEFT JOIN LATERAL unnest(party_regions) AS p ON true"
                    " WHERE party_regions @> ARRAY[%s]"
                ),
                (list(ACTIVE_STAGES), region),
            )
            stats = curs.fetchone()
            if self.no_neighbour_scope == "all" or stats["agreements"] > 0:
                curs.execute(
                    self._q("SELECT since FROM {s}.alerts WHERE key = %s AND cleared_at IS NULL"),
                    (_key(Kind.NO_NEIGHBOUR_COOPERATION, region, "region"),),
                )
                open_since = curs.fetchone()
                finding = region_finding(
                    region, info.display_name, neighbours, set(stats["partners"]) - {region}, today,
                    since=open_since["since"] if open_since else None,
                )
        self._sync(curs, [finding] if finding else [], agreement_id=None, region=region,
                   visible_to=sorted(audience_of([region])), now=now)

    def _sync(
        self, curs: Any, findings: list[Finding], *, agreement_id: UUID | None, region: str | None,
        visible_to: list[str], now: datetime,
    ) -> None:
        """Make the stored open alerts of one agreement (or region) equal `findings`."""
        owner = str(agreement_id) if agreement_id else region
        if agreement_id is not None:
            curs.execute(self._q("SELECT * FROM {s}.alerts WHERE agreement_id = %s AND cleared_at IS NULL FOR UPDATE"),
                         (agreement_id,))
        else:
            curs.execute(self._q("SELECT * FROM {s}.alerts WHERE region = %s AND agreement_id IS NULL"
                                 " AND cleared_at IS NULL FOR UPDATE"), (region,))
        open_alerts = {r["key"]: r for r in curs.fetchall()}
        wanted = {_key(f.kind, owner, f.subject): f for f in findings}
        for key, alert in open_alerts.items():
            if key not in wanted:
                curs.execute(self._q("UPDATE {s}.alerts SET cleared_at = %s, updated_at = %s WHERE id = %s RETURNING *"),
                             (now, now, alert["id"]))
                self._notify(curs, curs.fetchone(), "cleared", now)
        for key, f in wanted.items():
            values = {
                "severity": f.severity.value, "level": f.level, "since": f.since, "regions": list(f.regions),
                "provinces": sorted({province_of(r) for r in f.regions}), "visible_to": visible_to,
                "message": f.message, "details": Jsonb(f.details), "now": now,
            }
            alert = open_alerts.get(key)
            if alert is None:
                curs.execute(
                    self._q(
                        "INSERT INTO {s}.alerts (id, key, kind, subject, agreement_id, region, severity, level, since,"
                        " began_on, regions, provinces, visible_to, message, details, opened_at, updated_at) VALUES"
                        " (%(id)s, %(key)s, %(kind)s, %(subject)s, %(agreement_id)s, %(region)s, %(severity)s,"
                        " %(level)s, %(since)s, %(since)s, %(regions)s, %(provinces)s, %(visible_to)s, %(message)s,"
                        " %(details)s, %(now)s, %(now)s) RETURNING *"
                    ),
                    {**values, "id": uuid4(), "key": key, "kind": f.kind.value, "subject": f.subject,
                     "agreement_id": agreement_id, "region": region},
                )
                self._notify(curs, curs.fetchone(), "opened", now)
                continue
            # A new state worth telling: another severity or level, or a cause that began anew
            # (an expiring document extended, then expiring again).
            moved = (alert["level"], alert["severity"], alert["since"]) != (f.level, f.severity.value, f.since)
            if moved or any(alert[k] != values[k] for k in ("regions", "message", "visible_to")) \
                    or alert["details"] != f.details:
                curs.execute(
                    self._q(
                        "UPDATE {s}.alerts SET severity = %(severity)s, level = %(level)s, since = %(since)s,"
                        " regions = %(regions)s, provinces = %(provinces)s, visible_to = %(visible_to)s,"
                        " message = %(message)s, details = %(details)s, updated_at = %(now)s WHERE id = %(id)s"
                        " RETURNING *"
                    ),
                    {**values, "id": alert["id"]},
                )
                updated = curs.fetchone()
                if moved:
                    worse = _rank(f.severity.value) > _rank(alert["severity"]) or (
                        f.severity.value == alert["severity"] and 0 < f.level < (alert["level"] or f.level + 1))
                    self._notify(curs, updated, "escalated" if worse else "changed", now)

    def _notify(self, curs: Any, alert: dict[str, Any], transition: str, now: datetime) -> None:
        payload = {"alert": alert_payload(alert)}
        # One notification per alert state: the same state is never written (or sent) twice.
        state = f"{alert['level']}:{alert['severity']}:{alert['since']}"
        for tenant in alert["visible_to"]:
            enqueue(curs, self.datastore.schema, alert_id=alert["id"], tenant=tenant, transition=transition,
                    level=state, payload=payload, channels=channels_for(self.settings, tenant), at=now)

    def refresh_all(self, *, force: bool = False) -> int | None:
        """Re-evaluate every agreement and region as of today (time passes: thresholds are
        crossed without any event); once per day unless forced. Several workers may call it:
        one does the work (a session lock held for the pass), the others return None."""
        today, now = self.today(), self.clock.now()
        if today == self._refreshed_on and not force:
            return 0  # the common case, every round of the worker: no query at all
        with self.datastore.get_connection() as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(hashtext('ksd-monitoring-refresh-all')) AS got").fetchone()
            conn.commit()
            if not got["got"]:
                return None
            try:
                last = conn.execute(self._q("SELECT day FROM {s}.alert_refresh WHERE id = 1")).fetchone()
                conn.commit()
                if last is not None and last["day"] == today and not force:
                    self._refreshed_on = today  # another worker did today's pass
                    return 0
                done = self._refresh_everything(today, now)
                self._refreshed_on = today
                return done
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('ksd-monitoring-refresh-all'))")
                conn.commit()

    def _refresh_everything(self, today: date, now: datetime) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._q(
                "SELECT id FROM {s}.agreements WHERE stage NOT IN ('berakhir', 'dibatalkan')"
                " UNION SELECT agreement_id FROM {s}.alerts WHERE cleared_at IS NULL AND agreement_id IS NOT NULL"
            ))
            agreements = [r["id"] for r in curs.fetchall()]
            curs.execute(self._q(
                "SELECT DISTINCT unnest(party_regions) AS region FROM {s}.agreements"
                " UNION SELECT region FROM {s}.alerts WHERE cleared_at IS NULL AND agreement_id IS NULL"
            ))
            regions = {r["region"] for r in curs.fetchall()}
        if self.no_neighbour_scope == "all":
            regions |= {r.code for r in self.regions.all() if r.autonomous and self.regions.neighbours(r.code)}
        done = sum(self._guarded(self._review_agreement, a, today, now) for a in agreements)
        done += sum(self._guarded(self._review_region, r, today, now) for r in sorted(regions))
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._q(
                "INSERT INTO {s}.alert_refresh (id, day, at) VALUES (1, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET day = excluded.day, at = excluded.at"
            ), (today, now))
        return done

    def grant_reader(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(self.schema, sql.Identifier(READER_ROLE)))
            for table in _RLS:
                curs.execute(sql.SQL("GRANT SELECT ON {}.{} TO {}").format(
                    self.schema, sql.Identifier(table), sql.Identifier(READER_ROLE)))


def _rank(severity: str) -> int:
    return ("info", "warning", "critical").index(severity)


def _key(kind: Kind, owner: str | None, subject: str) -> str:
    return f"{kind.value}:{owner}:{subject}"


def alert_payload(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as the API and notifications show it."""
    kind = Kind(alert["kind"])
    return {
        "id": str(alert["id"]),
        "kind": kind.value,
        "title": KIND_TITLES[kind],
        "severity": alert["severity"],
        "level": alert["level"] or None,
        "agreement_id": str(alert["agreement_id"]) if alert["agreement_id"] else None,
        "region": alert["region"],
        "regions": list(alert["regions"]),
        "since": alert["since"].isoformat(),
        "message": alert["message"],
        "details": alert["details"],
        "opened_at": alert["opened_at"].isoformat(),
        "cleared_at": alert["cleared_at"].isoformat() if alert["cleared_at"] else None,
    }


class RegistryFeed(Projection[MonitoringView]):
    """The registry's events, as the monitoring service needs them."""

    name = "registry_feed"  # tracking table registry_feed_tracking

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, Agreement.Event):
            self.view.apply_agreement_event(domain_event, tracking)
        else:
            self.view.skip(tracking)

    @process_event.register
    def _(self, domain_event: Agreement.Started, tracking: Tracking) -> None:
        self.view.insert_agreement(domain_event.mutate(None), tracking, began_on=legal_date(domain_event))


class MonitoringFeed(Projection[MonitoringView]):
    """This service's own events: progress reports and evaluations."""

    name = "monitoring_feed"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, ProgressReport.Event | Evaluation.Event):
            self.view.apply_record_event(domain_event, tracking)
        else:
            self.view.skip(tracking)
