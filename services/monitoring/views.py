"""The monitoring read model's projections, run by the monitoring worker.

Two projections feed one set of tables in schema `monitoring`, each with its own tracking
table, each row change committed with its tracking position (exactly once):

- `RegistryFeed` follows the registry's events (its notification log, never its tables, read
  through the registry's published contract: `services.registry.contract`) and keeps
  `agreements`: every agreement's record, folded from the events' fields by the contract;
  and `agreement_stages`: a row each time an agreement's stage changed, dated by the event's
  legal date (the registry's valid time), what `on` reads;
- `MonitoringFeed` follows this service's events and keeps `progress_reports` and
  `evaluations`.

Each change marks, in its transaction, the agreement (and its regions) whose alerts need a
review; the alerts themselves are the alert store's (`services.monitoring.alert_store`), the
tables `services.monitoring.tables`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec
import structlog
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection
from psycopg import sql
from psycopg.types.json import Jsonb

from services.monitoring.alert_store import AlertStore
from services.monitoring.application import evaluator_of
from services.monitoring.domain.reports import Evaluation, ProgressReport
from services.monitoring.domain.valid_time import corrected_step_date
from services.monitoring.tables import RLS, SCHEMA, STAGES_VERSION, TABLES
from services.registry import contract as registry
from shared.clock import Clock, SystemClock
from shared.db import READER_ROLE
from shared.projection import FoldedRows, FoldingProjection
from shared.regions import province_of
from shared.tenancy import audience_of

__all__ = ["SCHEMA", "MonitoringFeed", "MonitoringView", "RegistryFeed", "agreement_row"]

log = structlog.get_logger("ksd.monitoring")

# A report's audience is its agreement's; until the registry feed has that agreement (a
# rebuild, where this feed may run ahead), none: it becomes visible when the agreement arrives.
_AUDIENCE = "coalesce((SELECT a.visible_to FROM {s}.agreements a WHERE a.id = %(agreement)s), '{{}}')"

_AGREEMENT_COLUMNS = (
    "id", "version", "form", "title", "stage", "party_regions", "provinces", "visible_to", "evaluator",
    "framework_signed_on", "first_pks_signed_on", "state", "updated_at",
)


def agreement_row(record: dict[str, Any]) -> dict[str, Any]:
    """The columns of an agreement's row, from its record (`registry.fold`)."""
    regions = registry.party_regions(record)
    framework = record.get("framework") or {}
    pks_signed = sorted(p["signed_on"] for p in record["pks"] if p.get("signed_on"))
    return {
        "id": UUID(record["_id"]),
        "version": record["_version"],
        "form": record["form"],
        "title": record["title"],
        "stage": record["stage"],
        "party_regions": regions,
        "provinces": sorted({province_of(r) for r in regions}),
        "visible_to": sorted(audience_of(regions)),
        "evaluator": evaluator_of(regions),
        "framework_signed_on": framework.get("signed_on"),
        "first_pks_signed_on": pks_signed[0] if pks_signed else None,
        "state": msgspec.json.encode(record).decode(),  # JSON text: msgspec, not Jsonb's json module
        "updated_at": datetime.fromisoformat(record["_modified_on"]),
    }


class MonitoringView(FoldedRows):
    """The read model's writer, with the alert store on the same datastore (`alerts`).
    `configured` gives it the settings and clock before the projection runner builds it.
    Within a batch each agreement is read once, its events folded in memory, and its row
    written once, with its alerts marked once (shared.projection.FoldedRows); the stage
    history is written as each event applies."""

    fold = staticmethod(registry.fold)
    event_base = registry.Event
    creating_event = registry.Started

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.schema = sql.Identifier(self.datastore.schema)
        self.sql_create_statements.extend(sql.SQL(s).format(schema=self.schema) for s in TABLES)
        settings, clock = self.configuration
        if settings is None:
            raise RuntimeError("use MonitoringView.configured(settings, clock) as the view class")
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.alerts = AlertStore(self.datastore, settings, self.clock)
        self.fold_into(sql.SQL("{}.agreements").format(self.schema), _AGREEMENT_COLUMNS)
        self._insert_row = sql.SQL(
            "INSERT INTO {s}.agreements ({cols}) VALUES ({vals}) ON CONFLICT (id) DO NOTHING").format(
            s=self.schema, cols=sql.SQL(", ").join(map(sql.Identifier, _AGREEMENT_COLUMNS)),
            vals=sql.SQL(", ").join(map(sql.Placeholder, _AGREEMENT_COLUMNS)))

    # The projection runner builds the view and starts its thread at once, so the settings
    # travel with the class: nothing can run with a half-configured view.
    configuration: tuple[Any, Clock | None] = (None, None)

    @classmethod
    def configured(cls, settings: Any, clock: Clock | None = None) -> type[MonitoringView]:
        return type(cls.__name__, (cls,), {"configuration": (settings, clock)})

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.schema)

    # -- registry events ---------------------------------------------------------------------

    def row(self, record: dict[str, Any]) -> dict[str, Any]:
        return agreement_row(record)

    def created(self, curs: Any, record: dict[str, Any], event: Any) -> None:
        """The first row of its stage history: the day it legally began (its Started event's
        legal date)."""
        self._insert_stage(curs, record, registry.legal_date(event), event.timestamp)

    def changed(self, curs: Any, record: dict[str, Any], event: Any, stage_before: Any) -> None:
        if isinstance(event, registry.Corrected):
            # A corrected legal date moves the stage change its step made.
            day = corrected_step_date(event.step, event.changes)
            if day is not None:
                curs.execute(self._q("UPDATE {s}.agreement_stages SET since = %s WHERE agreement_id = %s"
                                     " AND version = %s"), (day, event.originator_id, event.step_version))
        if record["stage"] != stage_before:
            self._insert_stage(curs, record, registry.legal_date(event), event.timestamp)

    def write_new(self, curs: Any, rows: list[dict[str, Any]]) -> None:
        curs.executemany(self._insert_row, rows)
        # Reports or evaluations that arrived first (a rebuild) become visible now.
        for table in ("progress_reports", "evaluations"):
            curs.execute(sql.SQL(
                "UPDATE {s}.{t} t SET visible_to = a.visible_to FROM {s}.agreements a"
                " WHERE a.id = ANY(%s) AND t.agreement_id = a.id").format(s=self.schema, t=sql.Identifier(table)),
                ([r["id"] for r in rows],))

    def flush(self, curs: Any) -> None:
        """The rows, and every agreement of the batch (and its regions) marked for an alert review."""
        super().flush(curs)
        if self._touched:
            regions = {r for record, _ in self._touched.values() for r in registry.party_regions(record)}
            self.alerts.mark_many(curs, list(self._touched), sorted(regions))

    def _insert_stage(self, curs: Any, record: dict[str, Any], since: date, recorded_at: datetime) -> None:
        curs.execute(
            self._q("INSERT INTO {s}.agreement_stages (agreement_id, version, stage, since, recorded_at)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
            (UUID(record["_id"]), record["_version"], record["stage"], since, recorded_at),
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
        if row is None:  # not reached: a SELECT without FROM answers one row
            raise LookupError("to_regclass answered no row")
        if not row["present"]:
            return None
        comment = (row["comment"] or "").removeprefix("ksd view version ")
        return int(comment) if comment.isdigit() else 0

    def stages_outdated(self) -> bool:
        """Agreements held, but no stage history of this version (built by older code)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (f"{self.datastore.schema}.agreements",))
            found = curs.fetchone()
            if found is None:  # not reached: a SELECT without FROM answers one row
                raise LookupError("to_regclass answered no row")
            if not found["present"]:
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
        with self.writing(tracking) as curs:
            if isinstance(event, ProgressReport.Filed):
                curs.execute(
                    self._q(
                        "INSERT INTO {s}.progress_reports"  # noqa: S608 - _AUDIENCE is a constant; values are bound
                        " (id, agreement_id, region, period, version, content, filed_at, updated_at, filed_by,"
                        " visible_to) VALUES (%(id)s, %(agreement)s, %(region)s, %(period)s, 1,"
                        " %(content)s, %(at)s, %(at)s, %(by)s, " + _AUDIENCE + ") ON CONFLICT (id) DO NOTHING"
                    ),
                    {"id": event.originator_id, "agreement": UUID(event.agreement_id), "region": event.region,
                     "period": event.period, "content": Jsonb(event.content), "at": event.timestamp,
                     "by": Jsonb(event.actor)},
                )
            elif isinstance(event, Evaluation.Recorded):
                curs.execute(
                    self._q(
                        "INSERT INTO {s}.evaluations"  # noqa: S608 - _AUDIENCE is a constant; values are bound
                        " (id, agreement_id, period, evaluator, version, content, recorded_at, updated_at, visible_to)"
                        " VALUES (%(id)s, %(agreement)s, %(period)s, %(evaluator)s, 1, %(content)s,"
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
                report = curs.fetchone()
                if report is None:  # not reached: its row is written when it is filed, before any correction
                    raise LookupError(f"progress report {event.originator_id} is not in the monitoring read model")
                self.alerts.mark(curs, report["agreement_id"], ())


    def grant_reader(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(self.schema, sql.Identifier(READER_ROLE)))
            for table in RLS:
                curs.execute(sql.SQL("GRANT SELECT ON {}.{} TO {}").format(
                    self.schema, sql.Identifier(table), sql.Identifier(READER_ROLE)))


class RegistryFeed(FoldingProjection):
    """The registry's events (its contract's classes: `registry.Log` reads them), as the
    monitoring service needs them."""

    name = "registry_feed"  # tracking table registry_feed_tracking


class MonitoringFeed(Projection[MonitoringView]):
    """This service's own events: progress reports and evaluations."""

    name = "monitoring_feed"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, ProgressReport.Event | Evaluation.Event):
            self.view.apply_record_event(domain_event, tracking)
        else:
            self.view.skip(tracking)
