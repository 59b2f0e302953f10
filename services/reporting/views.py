"""The reporting read model, written by the reporting worker (`ksd worker reporting`).

Three feeds, each committing its rows with its tracking position (exactly once), into
schema `reporting`:

- the registry's events, read through its published contract (`services.registry.contract`)
  -> `agreements`, each agreement's record folded from the events' fields (`RegistryFeed`,
  `AgreementsView`), and `agreement_stages`, when each agreement entered each stage, in the
  same transaction: what reports judge a past period by;
- the monitoring service's events -> `progress_reports` and `evaluations` (`RecordsFeed`);
- this service's events, read through its own published contract
  (`services.reporting.contract`, as any other reader does) -> `reports`, one row per region
  report or consolidation (`ReportsFeed`): what consolidation and the national roll-up count.

Readers switch to `ksd_reader` with their tenant set; row-level security is the second wall.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection
from psycopg import sql
from psycopg.types.json import Jsonb

from services.monitoring import contract as monitoring
from services.registry import contract as registry
from services.reporting import contract as reporting
from services.reporting.domain.stages import stage_dates
from services.reporting.totals import (
    DONE_TABLES,
    DONE_VERSION,
    PARTS_TABLES,
    PARTS_VERSION,
    TOTALS_POLICY,
    TOTALS_TABLES,
    TOTALS_VERSION,
    Facts,
    PeriodTotals,
)
from shared.answers import COUNT_CHANGE, counted
from shared.db import READER_ROLE, gin_index, payload_columns, reader_policy
from shared.periods import Period, local_date
from shared.projection import BatchedView, BesideView, FoldedRows, FoldingProjection, composite_version
from shared.regions import province_of
from shared.tenancy import NATIONAL, audience_of

SCHEMA = "reporting"

# A monitoring record is visible to whoever sees its agreement (the agreements table has
# its own policy, which applies inside this one too).
_VIA_AGREEMENT = (
    "EXISTS (SELECT 1 FROM {s}.agreements a WHERE a.id = agreement_id"
    " AND a.visible_to @> ARRAY[current_setting('ksd.tenant', true)])"
)

_RECORD_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {s}.progress_reports (
        id uuid PRIMARY KEY,
        agreement_id uuid NOT NULL,
        region text NOT NULL,
        period text NOT NULL,
        version integer NOT NULL,
        content jsonb NOT NULL,
        filed_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS progress_reports_agreement ON {s}.progress_reports (agreement_id)",
    """
    CREATE TABLE IF NOT EXISTS {s}.evaluations (
        id uuid PRIMARY KEY,
        agreement_id uuid NOT NULL,
        period text NOT NULL,
        evaluator text NOT NULL,
        version integer NOT NULL,
        content jsonb NOT NULL,
        recorded_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS evaluations_agreement ON {s}.evaluations (agreement_id)",
]
_RECORD_POLICIES = [statement for table in ("progress_reports", "evaluations")
                    for statement in reader_policy(table, _VIA_AGREEMENT, schema="{s}")]
_RECORD_TABLES += _RECORD_POLICIES

_REPORT_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {s}.reports (
        id uuid PRIMARY KEY,
        seq bigserial UNIQUE,              -- creation order, for cursor pagination
        kind text NOT NULL,                -- region | consolidation
        subject text NOT NULL,             -- the reporting region, or the consolidating province
        province text NOT NULL,
        period text NOT NULL,
        period_end date NOT NULL,
        version integer NOT NULL,
        revision integer NOT NULL DEFAULT 0,
        narrative text NOT NULL,
        first_submitted_on date,
        first_on_time boolean,
        last_submitted_on date,
        deadline date,
        summary jsonb,                     -- the figures of the latest submission
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        visible_to text[] NOT NULL,
        UNIQUE (kind, subject, period)
    )
    """,
    "CREATE INDEX IF NOT EXISTS reports_province_period ON {s}.reports (period, province)",
    *gin_index("reports_visible_to", "reports", "visible_to", schema="{s}"),
    *reader_policy("reports", schema="{s}"),
]

# Bump when `agreement_stages` changes shape or meaning: `ksd migrate` then drops it with
# the agreements view and their positions, and the worker rebuilds both from the events.
STAGES_VERSION = 1

# `{t}`: `agreement_stages`, or `agreement_stages_next` while a new shape is built beside it.
_STAGE_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {s}.{t} (
        agreement_id uuid NOT NULL,
        version integer NOT NULL,          -- the event that moved the agreement into this stage
        stage text NOT NULL,
        since date NOT NULL,               -- the day it legally did (services/reporting/domain/stages.py)
        recorded_at timestamptz NOT NULL,  -- when that event was recorded
        PRIMARY KEY (agreement_id, version)
    )
    """,
    "COMMENT ON TABLE {s}.{t} IS 'ksd view version " + str(STAGES_VERSION) + "'",
    *reader_policy("{t}", _VIA_AGREEMENT, schema="{s}"),
]

def summary_of(content: dict[str, Any]) -> dict[str, Any]:
    """The figures a listing shows of a submitted content: a report's summary, a
    consolidation's completeness."""
    return content.get("summary") or content.get("completeness") or {}


def audience_of_report(kind: str, subject: str) -> list[str]:
    """A region's report: the region, its province and the ministry; a consolidation: the
    province and the ministry."""
    return sorted(audience_of([subject]) if kind == "region" else {subject, NATIONAL})


class _View(BatchedView):
    tables: list[str] = []  # noqa: RUF012 - per subclass
    readable: tuple[str, ...] = ()

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.s = sql.Identifier(self.datastore.schema)
        self.sql_create_statements.extend(sql.SQL(t).format(s=self.s) for t in self.tables)
        # Every write of the rows a reader reads, and of the positions a compile's sources
        # show, counts as a change of the read model (shared.answers).
        self.sql_create_statements.extend(
            sql.SQL(t).format(s=self.s) for table in (*self.readable, self.tracking_table_name)
            for t in counted(table))

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.s)


    def grant_reader(self) -> None:
        """Readers see the rows, under row-level security."""
        reader = sql.Identifier(READER_ROLE)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(self.s, reader))
            for table in self.readable:
                curs.execute(sql.SQL("GRANT SELECT ON {}.{} TO {}").format(self.s, sql.Identifier(table), reader))


# Bump when `agreements` changes shape or meaning (`ksd migrate` then builds the new shape
# beside the live one: shared.projection.BesideView). 6: this service's own table, folded from
# the registry's published events (versions up to 5 were the registry's view, copied here).
AGREEMENTS_VERSION = 6

# `{t}`: `agreements`, or `agreements_next` while a new shape is built beside it.
_AGREEMENT_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {s}.{t} (
        id uuid PRIMARY KEY,
        position bigint NOT NULL UNIQUE,   -- of the creating event in the registry's log
        version integer NOT NULL,
        form text NOT NULL,
        category text,
        title text NOT NULL,
        stage text NOT NULL,               -- today's; `agreement_stages` for a past day
        parties jsonb NOT NULL,
        party_regions text[] NOT NULL,
        provinces text[] NOT NULL,
        urusan text[] NOT NULL,
        value_idr numeric(20, 0),
        framework_signed_on date,
        -- the first day the family existed (recorded, offered or signed, whichever came first)
        -- and the day it ended, if it has: which periods it was alive in
        began_on date NOT NULL,
        ended_on date,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        visible_to text[] NOT NULL,
        -- the agreement's record (services.registry.contract.fold): what later events apply
        -- to, and what reports are compiled from
        state jsonb NOT NULL
    )
    """,
    "COMMENT ON TABLE {s}.{t} IS 'ksd view version " + str(AGREEMENTS_VERSION) + "'",
    *gin_index("{t}_visible_to", "{t}", "visible_to", schema="{s}"),
    *gin_index("{t}_party_regions", "{t}", "party_regions", schema="{s}"),
    *gin_index("{t}_urusan", "{t}", "urusan", schema="{s}"),
    payload_columns("{t}", "parties", "state", schema="{s}"),
    "ALTER TABLE {s}.{t} NO FORCE ROW LEVEL SECURITY",
    *reader_policy("{t}", schema="{s}"),
]

AGREEMENT_COLUMNS = (
    "id", "position", "version", "form", "category", "title", "stage", "parties", "party_regions", "provinces",
    "urusan", "value_idr", "framework_signed_on", "began_on", "ended_on", "created_at", "updated_at",
    "visible_to", "state",
)


def row_of(record: dict[str, Any]) -> dict[str, Any]:
    """An agreement's columns (all but `position`) from its record (`registry.fold`)."""
    regions = registry.party_regions(record)
    framework = record.get("framework") or {}
    return {
        "id": UUID(record["_id"]),
        "version": record["_version"],
        "form": record["form"],
        "category": record["category"],
        "title": record["title"],
        "stage": record["stage"],
        "parties": msgspec.json.encode(record["parties"]).decode(),
        "party_regions": regions,
        "provinces": sorted({province_of(r) for r in regions}),
        "urusan": list(record["urusan"]),
        "value_idr": record["value_idr"],
        "framework_signed_on": framework.get("signed_on"),
        "began_on": registry.began_on(record),
        "ended_on": record.get("ended_on"),
        "created_at": datetime.fromisoformat(record["_created_on"]),
        "updated_at": datetime.fromisoformat(record["_modified_on"]),
        "visible_to": sorted(audience_of(regions)),
        # JSON text for the jsonb column: msgspec writes it several times faster than Jsonb's json module.
        "state": msgspec.json.encode(record).decode(),
    }


class AgreementsView(FoldedRows, BesideView):
    """`agreements`, one row per cooperation family, folded from the registry's published
    events (`services.registry.contract`); and `agreement_stages`, a row each time an
    agreement's stage changed, written in the same transaction as the rows and their position
    (exactly once): what reports judge a past period by. Both are rebuilt beside the live
    ones when either's shape changes (shared.projection.BesideView); within a batch each
    agreement is read once and written once (shared.projection.FoldedRows)."""

    beside_tables: ClassVar[tuple[str, ...]] = (
        "agreements", "agreement_stages", "agreement_periods", "period_totals", "periods_done")
    # Every table's shape in one number (shared.projection.BesideView.built_version).
    version = composite_version(AGREEMENTS_VERSION, STAGES_VERSION, PARTS_VERSION, TOTALS_VERSION, DONE_VERSION)
    fold = staticmethod(registry.fold)
    event_base = registry.Event
    creating_event = registry.Started

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.s = sql.Identifier(self.datastore.schema)
        agreements, stages = self.table("agreements"), self.table("agreement_stages")
        parts, totals, done = self.table("agreement_periods"), self.table("period_totals"), self.table("periods_done")
        for statements, table in ((_AGREEMENT_TABLES, agreements), (_STAGE_TABLES, stages), (PARTS_TABLES, parts),
                                  (TOTALS_TABLES, totals), (DONE_TABLES, done)):
            self.sql_create_statements.extend(sql.SQL(t.replace("{t}", table)).format(s=self.s) for t in statements)
        self.sql_create_statements.extend(
            sql.SQL(t).format(s=self.s) for t in reader_policy(totals, TOTALS_POLICY, schema="{s}"))
        if not self.suffix:  # tables built beside are counted once they take the live ones' place
            self.sql_create_statements.extend(sql.SQL(t).format(s=self.s) for t in self._counted())
        # The period totals consolidations and the national roll-up read (services.reporting.totals).
        self.totals = PeriodTotals(self.s, agreements, stages, parts, totals, done)
        self._agreements = sql.SQL("{}.{}").format(self.s, sql.Identifier(agreements))
        self._stages = sql.Identifier(stages)
        self.fold_into(self._agreements, AGREEMENT_COLUMNS)
        self._copy_stages = sql.SQL(
            "COPY {s}.{t} (agreement_id, version, stage, since, recorded_at) FROM STDIN"
        ).format(s=self.s, t=self._stages)
        # The facts may have been corrected since: each stage's day follows them.
        self._redate_stages = sql.SQL(
            "UPDATE {s}.{t} h SET since = v.since"
            " FROM unnest(%s::uuid[], %s::text[], %s::date[]) AS v(agreement_id, stage, since)"
            " WHERE h.agreement_id = v.agreement_id AND h.stage = v.stage AND h.since <> v.since"
        ).format(s=self.s, t=self._stages)
        self._redate: set[UUID] = set()  # the batch's agreements a later event applied to
        # The batch's rows of the stage history, written at its end by one COPY (a statement and
        # a round trip each was two thirds of this feed's rebuild).
        self._new_stages: list[tuple[UUID, int, str, date, datetime]] = []

    def row(self, record: dict[str, Any]) -> dict[str, Any]:
        return row_of(record)

    def created(self, curs: Any, record: dict[str, Any], event: Any) -> None:
        created = datetime.fromisoformat(record["_created_on"])
        self._new_stages.append((event.originator_id, record["_version"], record["stage"], local_date(created),
                                 created))

    def changed(self, curs: Any, record: dict[str, Any], event: Any, stage_before: Any) -> None:
        self._redate.add(event.originator_id)
        if record["stage"] != stage_before:
            since = stage_dates(record).get(record["stage"]) or registry.legal_date(event)
            self._new_stages.append((event.originator_id, record["_version"], record["stage"], since,
                                     event.timestamp))

    def flush(self, curs: Any) -> None:
        """The rows and the batch's new rows of the stage history; then each stage's day, as the
        batch's last record of each agreement dates it (a correction moves them): once per
        agreement and batch, which ends where redating after every event would."""
        super().flush(curs)
        # Each redated agreement's days: set on its new rows before they are written (all its
        # rows, for one the batch started: a rebuild's usual case; `_touched` holds its position
        # only then), by one UPDATE on the rest.
        redated: dict[UUID, dict[str, date]] = {}
        for agreement_id in self._redate:
            dates = stage_dates(self._touched[agreement_id][0])
            if dates:
                redated[agreement_id] = dates
        if self._new_stages:
            with curs.copy(self._copy_stages) as copy:
                for agreement_id, version, stage, since, recorded_at in self._new_stages:
                    redate = redated.get(agreement_id)
                    copy.write_row((agreement_id, version, stage, redate.get(stage, since) if redate else since,
                                    recorded_at))
        older = [(agreement_id, stage, since) for agreement_id, dates in redated.items()
                 if self._touched[agreement_id][1] is None for stage, since in dates.items()]
        if older:
            curs.execute(self._redate_stages, [list(column) for column in zip(*older, strict=True)])
        self.totals.advance(curs, local_date(datetime.now(UTC)))
        self.totals.recount(curs, {id_: Facts.of(row) for id_, row in self.rendered.items()}, defer=self.catching_up)

    def discard(self) -> None:
        super().discard()
        self._redate = set()
        self._new_stages = []
        self.totals.forget()

    def count_stale(self, ready: Callable[[], bool]) -> bool:
        """`PeriodTotals.count_stale` in a transaction of its own (from the worker's thread, not
        the feed's: a `PeriodTotals` of its own). True when it counted."""
        totals = PeriodTotals(self.s, *(self.table(base) for base in self.beside_tables))
        with self.datastore.transaction(commit=True) as curs:
            return totals.count_stale(curs, ready)

    def _counted(self) -> list[str]:
        """The live tables' and their positions' writes count as changes (shared.answers)."""
        return [t for table in (*self.beside_tables, f"{self.base_name}_tracking") for t in counted(table)]

    def switched(self, curs: Any) -> None:
        """The policies that read the agreements (the monitoring records' and the stage
        history's) went with the dropped table: they are made again on the new one. The new
        tables' writes count from now on, and the switch itself is a change: the same names
        hold other rows."""
        for statement in [*_RECORD_POLICIES, *reader_policy("agreement_stages", _VIA_AGREEMENT, schema="{s}"),
                          *self._counted(), COUNT_CHANGE]:
            curs.execute(sql.SQL(statement).format(s=self.s))

    def grant_reader(self) -> None:
        reader = sql.Identifier(READER_ROLE)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(self.s, reader))
            curs.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(self._agreements, reader))
            for base in ("agreement_stages", "period_totals", "periods_done"):
                curs.execute(sql.SQL("GRANT SELECT ON {s}.{t} TO {reader}").format(
                    s=self.s, t=sql.Identifier(self.table(base)), reader=reader))


class RegistryFeed(FoldingProjection):
    """The registry's events, read through its published contract (`registry.Log`)."""

    name = "agreements"  # tracking table agreements_tracking (and agreements_next_tracking beside)


class RecordsView(_View):
    """Progress reports and evaluations, as the monitoring service's events recorded them."""

    tables = _RECORD_TABLES
    readable = ("progress_reports", "evaluations")

    def apply_record_event(self, event: Any, tracking: Tracking) -> None:
        with self.writing(tracking) as curs:
            if isinstance(event, monitoring.ProgressReportFiled):
                curs.execute(self._q(
                    "INSERT INTO {s}.progress_reports (id, agreement_id, region, period, version, content, filed_at,"
                    " updated_at) VALUES (%s, %s, %s, %s, 1, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
                    (event.originator_id, UUID(event.agreement_id), event.region, event.period, Jsonb(event.content),
                     event.timestamp, event.timestamp))
            elif isinstance(event, monitoring.EvaluationRecorded):
                curs.execute(self._q(
                    "INSERT INTO {s}.evaluations (id, agreement_id, period, evaluator, version, content, recorded_at,"
                    " updated_at) VALUES (%s, %s, %s, %s, 1, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
                    (event.originator_id, UUID(event.agreement_id), event.period, event.evaluator,
                     Jsonb(event.content), event.timestamp, event.timestamp))
            else:  # a correction: the record's new content and version
                table = "progress_reports" if isinstance(event, monitoring.ProgressReportCorrected) else "evaluations"
                curs.execute(
                    sql.SQL("UPDATE {s}.{t} SET version = %s, content = %s, updated_at = %s WHERE id = %s").format(
                        s=self.s, t=sql.Identifier(table)),
                    (event.originator_version, Jsonb(event.content), event.timestamp, event.originator_id))


class ReportsView(_View):
    """One row per region report or consolidation: its standing and latest figures."""

    tables = _REPORT_TABLES
    readable = ("reports",)

    def apply_report_event(self, event: reporting.ReportEvent, tracking: Tracking) -> None:
        """`event.kind`: a region's report or a province's consolidation (the class says which)."""
        kind = event.kind
        with self.writing(tracking) as curs:
            at = event.timestamp
            if isinstance(event, reporting.ReportStarted):
                period = Period.parse(event.period)
                curs.execute(self._q(
                    "INSERT INTO {s}.reports (id, kind, subject, province, period, period_end, version, narrative,"
                    " created_at, updated_at, visible_to) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING"),
                    (event.originator_id, kind, event.subject, province_of(event.subject), str(period), period.end,
                     event.originator_version, event.narrative, at, at, audience_of_report(kind, event.subject)))
            elif isinstance(event, reporting.ReportSubmitted):
                curs.execute(self._q(
                    "UPDATE {s}.reports SET version = %(v)s, revision = %(revision)s, narrative = %(narrative)s,"
                    " first_submitted_on = coalesce(first_submitted_on, %(on)s),"
                    " first_on_time = coalesce(first_on_time, %(on_time)s),"
                    " deadline = coalesce(deadline, %(deadline)s),"
                    " last_submitted_on = %(on)s, summary = %(summary)s, updated_at = %(at)s WHERE id = %(id)s"),
                    {"v": event.originator_version, "revision": event.revision, "narrative": event.narrative,
                     "on": event.submitted_on, "on_time": event.on_time, "deadline": event.deadline,
                     "summary": Jsonb(summary_of(event.content)), "at": at, "id": event.originator_id})
            elif isinstance(event, reporting.ReportEdited):
                curs.execute(self._q(
                    "UPDATE {s}.reports SET version = %s, narrative = %s, updated_at = %s WHERE id = %s"),
                    (event.originator_version, event.narrative, at, event.originator_id))
            else:
                raise TypeError(f"no row change for {type(event).__name__}")


_RECORD_EVENTS = (monitoring.ProgressReportFiled, monitoring.ProgressReportCorrected, monitoring.EvaluationRecorded,
                  monitoring.EvaluationCorrected)


class RecordsFeed(Projection[RecordsView]):
    """The monitoring service's events, read through its published contract (`monitoring.Log`):
    progress reports and evaluations."""

    name = "monitoring_records"  # tracking table monitoring_records_tracking

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, _RECORD_EVENTS):
            self.view.apply_record_event(domain_event, tracking)
        else:
            self.view.skip(tracking)


class ReportsFeed(Projection[ReportsView]):
    """This service's own events, read through its published contract (`reporting.Log`), as
    any other reader would: region reports and consolidations (letter profiles are skipped)."""

    name = "reports"  # tracking table reports_tracking

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, reporting.ReportEvent):
            self.view.apply_report_event(domain_event, tracking)
        else:
            self.view.skip(tracking)
