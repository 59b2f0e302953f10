"""The monitoring read model's projections, run by the monitoring worker.

Two projections, each into its view of tables in schema `monitoring` with its own tracking
table, each row change committed with its tracking position (exactly once):

- `RegistryFeed` (view `AgreementsView`, rebuilt beside the live tables when its shape
  changes) follows the registry's events (its notification log, never its tables, read
  through the registry's published contract: `services.registry.contract`) and keeps
  `agreements`: every agreement's record, folded from the events' fields by the contract;
  and `agreement_stages`: a row each time an agreement's stage changed, dated by the event's
  legal date (the registry's valid time), what `on` reads;
- `MonitoringFeed` (view `RecordsView`) follows this service's events and keeps
  `progress_reports` and `evaluations`.

Each change marks, in its transaction, the agreement (and its regions) whose alerts need a
review; the alerts themselves are the alert store's (`services.monitoring.alert_store`), the
tables `services.monitoring.tables`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, ClassVar
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
from services.monitoring.tables import (
    AGREEMENT_TABLES,
    AGREEMENTS_VERSION,
    RLS,
    SCHEMA,
    STAGE_TABLES,
    STAGES_POLICY,
    STAGES_VERSION,
    TABLES,
)
from services.registry import contract as registry
from shared.clock import Clock, SystemClock
from shared.db import READER_ROLE, reader_policy
from shared.projection import BatchedView, BesideView, FoldedRows, FoldingProjection, composite_version
from shared.regions import province_of
from shared.tenancy import audience_of

__all__ = ["SCHEMA", "AgreementsView", "MonitoringFeed", "RecordsView", "RegistryFeed", "agreement_row"]

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


class _Configured(BatchedView):
    """A view of this schema with the alert store on its datastore (`alerts`). `configured`
    gives it the settings and clock before the projection runner builds it."""

    # The projection runner builds the view and starts its thread at once, so the settings
    # travel with the class: nothing can run with a half-configured view.
    configuration: tuple[Any, Clock | None] = (None, None)

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.schema = sql.Identifier(self.datastore.schema)
        settings, clock = self.configuration
        if settings is None:
            raise RuntimeError(f"use {type(self).__name__}.configured(settings, clock) as the view class")
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.alerts = AlertStore(self.datastore, settings, self.clock)

    @classmethod
    def configured(cls, settings: Any, clock: Clock | None = None) -> type[Any]:
        return type(cls.__name__, (cls,), {"configuration": (settings, clock), "__module__": cls.__module__})

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.schema)

    def _grant(self, tables: Iterable[str]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(self.schema, sql.Identifier(READER_ROLE)))
            for table in tables:
                curs.execute(sql.SQL("GRANT SELECT ON {}.{} TO {}").format(
                    self.schema, sql.Identifier(table), sql.Identifier(READER_ROLE)))


class AgreementsView(FoldedRows, BesideView, _Configured):
    """The registry feed's tables: `agreements` and their stage history. Within a batch each
    agreement is read once, its events folded in memory, and its row written once, with its
    alerts marked once (shared.projection.FoldedRows); the stage history's new rows are written
    with them. Both tables are rebuilt beside the live ones when either's shape changes
    (shared.projection.BesideView): readers and the alert review keep the live tables until
    the switch-over."""

    beside_tables: ClassVar[tuple[str, ...]] = ("agreements", "agreement_stages")
    # Both shapes in one number: the agreements' and the stage history's.
    version = composite_version(AGREEMENTS_VERSION, STAGES_VERSION)
    fold = staticmethod(registry.fold)
    event_base = registry.Event
    creating_event = registry.Started

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        agreements, stages = self.table("agreements"), self.table("agreement_stages")
        for statements, table in ((AGREEMENT_TABLES, agreements), (STAGE_TABLES, stages)):
            self.sql_create_statements.extend(
                sql.SQL(t.replace("{t}", table)).format(schema=self.schema) for t in statements)
        self._agreements = sql.Identifier(agreements)
        self.fold_into(sql.SQL("{}.{}").format(self.schema, self._agreements), _AGREEMENT_COLUMNS)
        self._insert_row = sql.SQL(
            "INSERT INTO {s}.{t} ({cols}) VALUES ({vals}) ON CONFLICT (id) DO NOTHING").format(
            s=self.schema, t=self._agreements, cols=sql.SQL(", ").join(map(sql.Identifier, _AGREEMENT_COLUMNS)),
            vals=sql.SQL(", ").join(map(sql.Placeholder, _AGREEMENT_COLUMNS)))
        self._insert_stage = sql.SQL(
            "INSERT INTO {s}.{t} (agreement_id, version, stage, since, recorded_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING").format(s=self.schema, t=sql.Identifier(stages))
        self._redate_stage = sql.SQL(
            "UPDATE {s}.{t} SET since = %s WHERE agreement_id = %s AND version = %s").format(
            s=self.schema, t=sql.Identifier(stages))
        # The batch's rows of the stage history, inserted at its end in one pipeline (a statement
        # and a round trip each was two thirds of this feed's rebuild); by (agreement, version),
        # for a correction later in the same batch.
        self._new_stages: dict[tuple[UUID, int], list[Any]] = {}

    def row(self, record: dict[str, Any]) -> dict[str, Any]:
        return agreement_row(record)

    def created(self, curs: Any, record: dict[str, Any], event: Any) -> None:
        """The first row of its stage history: the day it legally began (its Started event's
        legal date)."""
        self._stage(record, registry.legal_date(event), event.timestamp)

    def changed(self, curs: Any, record: dict[str, Any], event: Any, stage_before: Any) -> None:
        if isinstance(event, registry.Corrected):
            # A corrected legal date moves the stage change its step made: stored already, or
            # still to be inserted at the batch's end.
            day = corrected_step_date(event.step, event.changes)
            if day is not None:
                curs.execute(self._redate_stage, (day, event.originator_id, event.step_version))
                pending = self._new_stages.get((event.originator_id, event.step_version))
                if pending is not None:
                    pending[3] = day
        if record["stage"] != stage_before:
            self._stage(record, registry.legal_date(event), event.timestamp)

    def write_new(self, curs: Any, rows: list[dict[str, Any]]) -> None:
        curs.executemany(self._insert_row, rows)
        # Reports or evaluations that arrived first (a rebuild) become visible now.
        for table in ("progress_reports", "evaluations"):
            curs.execute(sql.SQL(
                "UPDATE {s}.{t} t SET visible_to = a.visible_to FROM {s}.{a} a"
                " WHERE a.id = ANY(%s) AND t.agreement_id = a.id AND t.visible_to <> a.visible_to").format(
                s=self.schema, t=sql.Identifier(table), a=self._agreements),
                ([r["id"] for r in rows],))

    def flush(self, curs: Any) -> None:
        """The rows and the batch's new rows of the stage history, and every agreement of the
        batch (and its regions) marked for an alert review (a new shape built beside: its rows
        are all due once it is switched in)."""
        super().flush(curs)
        if self._new_stages:
            curs.executemany(self._insert_stage, list(self._new_stages.values()))
        if self._touched and not self.suffix:
            regions = {r for record, _ in self._touched.values() for r in registry.party_regions(record)}
            self.alerts.mark_many(curs, list(self._touched), sorted(regions))

    def _stage(self, record: dict[str, Any], since: date, recorded_at: datetime) -> None:
        """A new row of the stage history, kept until the batch's end (`flush`)."""
        agreement_id = UUID(record["_id"])
        self._new_stages[agreement_id, record["_version"]] = [agreement_id, record["_version"], record["stage"], since,
                                                             recorded_at]

    def discard(self) -> None:
        super().discard()
        self._new_stages = {}

    def switched(self, curs: Any) -> None:
        """The stage history's policy reads the agreements: it went with the dropped table and
        is made again. Every region is due for a review of its alerts (each agreement is: its
        new row says so)."""
        for statement in reader_policy("agreement_stages", STAGES_POLICY):
            curs.execute(sql.SQL(statement).format(schema=self.schema))
        curs.execute(self._q("INSERT INTO {s}.regions_due (region) SELECT DISTINCT unnest(party_regions)"
                             " FROM {s}.agreements ON CONFLICT DO NOTHING"))

    def grant_reader(self) -> None:
        self._grant((self.table("agreements"), self.table("agreement_stages")))


class RecordsView(_Configured):
    """The monitoring feed's tables: progress reports and evaluations; and the alerts, the
    notification outbox and what the alert review keeps (created here)."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(sql.SQL(s).format(schema=self.schema) for s in TABLES)

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
        self._grant(RLS)


class RegistryFeed(FoldingProjection):
    """The registry's events (its contract's classes: `registry.Log` reads them), as the
    monitoring service needs them."""

    name = "registry_feed"  # tracking table registry_feed_tracking


class MonitoringFeed(Projection[RecordsView]):
    """This service's own events: progress reports and evaluations."""

    name = "monitoring_feed"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, ProgressReport.Event | Evaluation.Event):
            self.view.apply_record_event(domain_event, tracking)
        else:
            self.view.skip(tracking)
