"""The reporting read model, written by the reporting worker (`ksd worker reporting`).

Three feeds, each committing its rows with its tracking position (exactly once), into
schema `reporting`:

- the registry's events -> `agreements`, by the registry's own published projection
  (`AgreementsProjection`) pointed at this schema: the same shape, one place for the rules;
  its view here (`AgreementsView`) also keeps `agreement_stages`, when each agreement
  entered each stage, in the same transaction: what reports judge a past period by;
- the monitoring service's events -> `progress_reports` and `evaluations` (`RecordsFeed`);
- this service's events -> `reports`, one row per region report or consolidation
  (`ReportsFeed`): what consolidation and the national roll-up count.

Readers switch to `ksd_reader` with their tenant set; row-level security is the second wall.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection
from psycopg import sql
from psycopg.types.json import Jsonb

from services.monitoring.domain.reports import Evaluation, ProgressReport
from services.registry.domain.agreement import Agreement
from services.registry.projections.agreements import VIEW_VERSION, PostgresAgreementsView
from services.reporting.domain.reports import Consolidation, RegionReport, Report
from services.reporting.domain.stages import legal_date, stage_dates
from shared.db import READER_ROLE, gin_index, reader_policy
from shared.periods import Period, local_date
from shared.projection import BatchedView
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

KINDS = {RegionReport: "region", Consolidation: "consolidation"}


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

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.s)


    def grant_reader(self) -> None:
        """Readers see the rows, under row-level security."""
        reader = sql.Identifier(READER_ROLE)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(self.s, reader))
            for table in self.readable:
                curs.execute(sql.SQL("GRANT SELECT ON {}.{} TO {}").format(self.s, sql.Identifier(table), reader))


class AgreementsView(PostgresAgreementsView):
    """The registry's agreements view in this schema (the same rows, by the same rules), plus
    `agreement_stages`: a row each time an agreement's stage changed, written in the
    transaction that records the event's position (exactly once, like the rows). Both are
    rebuilt beside the live ones when either's shape changes (shared.projection.BesideView)."""

    renders_api = False  # this service serves no agreement as the registry's API shapes it
    beside_tables: ClassVar[tuple[str, ...]] = ("agreements", "agreement_stages")
    # Both shapes in one number: the agreements' and the stage history's.
    version = VIEW_VERSION * 1000 + STAGES_VERSION

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.s = sql.Identifier(self.datastore.schema)
        stages = self.table("agreement_stages")
        self.sql_create_statements.extend(sql.SQL(t.replace("{t}", stages)).format(s=self.s) for t in _STAGE_TABLES)
        self._stages = sql.Identifier(stages)
        self._redate: set[UUID] = set()  # the batch's agreements a later event applied to
        self._insert_stage = sql.SQL(
            "INSERT INTO {s}.{t} (agreement_id, version, stage, since, recorded_at)"
            " VALUES (%s, %s, %s, %s, %s)").format(s=self.s, t=self._stages)
        # The facts may have been corrected since: each stage's day follows them.
        self._redate_stages = sql.SQL(
            "UPDATE {s}.{t} h SET since = v.since FROM unnest(%s::text[], %s::date[]) AS v(stage, since)"
            " WHERE h.agreement_id = %s AND h.stage = v.stage AND h.since <> v.since").format(s=self.s, t=self._stages)

    def inserted(self, curs: Any, agreement: Agreement) -> None:
        curs.execute(self._insert_stage, (agreement.id, agreement.version, agreement.stage,
                                          local_date(agreement.created_on), agreement.created_on))

    def applied(self, curs: Any, agreement: Agreement, event: Agreement.Event, stage_before: str) -> None:
        self._redate.add(agreement.id)
        if agreement.stage != stage_before:
            dates = stage_dates(agreement.to_state())
            curs.execute(self._insert_stage, (
                agreement.id, agreement.version, agreement.stage,
                dates.get(agreement.stage) or legal_date(event), event.timestamp))

    def flush(self, curs: Any) -> None:
        """Also each stage's day, as the batch's last state of each agreement dates it (a
        correction moves them): once per agreement and batch, which ends where redating after
        every event would."""
        super().flush(curs)
        redated = []
        for agreement_id in self._redate:
            dates = stage_dates(self._touched[agreement_id][0].to_state())
            if dates:
                redated.append((list(dates), list(dates.values()), agreement_id))
        if redated:
            curs.executemany(self._redate_stages, redated)

    def discard(self) -> None:
        super().discard()
        self._redate = set()

    def built_version(self, suffix: str) -> int | None:
        """Both shapes' versions in one number (`version`); a stage history missing or without
        a version counts as version 0 of it."""
        agreements = super().built_version(suffix)
        if agreements is None:
            return None
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT obj_description(to_regclass(%(t)s), 'pg_class') AS comment",
                {"t": f"{self.datastore.schema}.agreement_stages{suffix}"},
            )
            row = curs.fetchone()
        comment = ((row or {}).get("comment") or "").removeprefix("ksd view version ")
        return agreements * 1000 + (int(comment) if comment.isdigit() else 0)

    def switched(self, curs: Any) -> None:
        """The policies that read the agreements (the monitoring records' and the stage
        history's) went with the dropped table: they are made again on the new one."""
        for statement in [*_RECORD_POLICIES, *reader_policy("agreement_stages", _VIA_AGREEMENT, schema="{s}")]:
            curs.execute(sql.SQL(statement).format(s=self.s))

    def grant_reader(self) -> None:
        super().grant_reader()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT SELECT ON {s}.{t} TO {reader}").format(
                s=self.s, t=self._stages, reader=sql.Identifier(READER_ROLE)))


class RecordsView(_View):
    """Progress reports and evaluations, as the monitoring service's events recorded them."""

    tables = _RECORD_TABLES
    readable = ("progress_reports", "evaluations")

    def apply_record_event(self, event: Any, tracking: Tracking) -> None:
        with self.writing(tracking) as curs:
            if isinstance(event, ProgressReport.Filed):
                curs.execute(self._q(
                    "INSERT INTO {s}.progress_reports (id, agreement_id, region, period, version, content, filed_at,"
                    " updated_at) VALUES (%s, %s, %s, %s, 1, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
                    (event.originator_id, UUID(event.agreement_id), event.region, event.period, Jsonb(event.content),
                     event.timestamp, event.timestamp))
            elif isinstance(event, Evaluation.Recorded):
                curs.execute(self._q(
                    "INSERT INTO {s}.evaluations (id, agreement_id, period, evaluator, version, content, recorded_at,"
                    " updated_at) VALUES (%s, %s, %s, %s, 1, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
                    (event.originator_id, UUID(event.agreement_id), event.period, event.evaluator,
                     Jsonb(event.content), event.timestamp, event.timestamp))
            else:  # a correction: the record's new content and version
                table = "progress_reports" if isinstance(event, ProgressReport.Event) else "evaluations"
                curs.execute(
                    sql.SQL("UPDATE {s}.{t} SET version = %s, content = %s, updated_at = %s WHERE id = %s").format(
                        s=self.s, t=sql.Identifier(table)),
                    (event.originator_version, Jsonb(event.content), event.timestamp, event.originator_id))


class ReportsView(_View):
    """One row per region report or consolidation: its standing and latest figures."""

    tables = _REPORT_TABLES
    readable = ("reports",)

    def apply_report_event(self, event: Report.Event, tracking: Tracking, kind: str) -> None:
        with self.writing(tracking) as curs:
            at = event.timestamp
            if isinstance(event, Report.Started):
                period = Period.parse(event.period)
                curs.execute(self._q(
                    "INSERT INTO {s}.reports (id, kind, subject, province, period, period_end, version, narrative,"
                    " created_at, updated_at, visible_to) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING"),
                    (event.originator_id, kind, event.subject, province_of(event.subject), str(period), period.end,
                     event.originator_version, event.narrative, at, at, audience_of_report(kind, event.subject)))
            elif isinstance(event, Report.Submitted):
                curs.execute(self._q(
                    "UPDATE {s}.reports SET version = %(v)s, revision = %(revision)s, narrative = %(narrative)s,"
                    " first_submitted_on = coalesce(first_submitted_on, %(on)s),"
                    " first_on_time = coalesce(first_on_time, %(on_time)s),"
                    " deadline = coalesce(deadline, %(deadline)s),"
                    " last_submitted_on = %(on)s, summary = %(summary)s, updated_at = %(at)s WHERE id = %(id)s"),
                    {"v": event.originator_version, "revision": event.revision, "narrative": event.narrative,
                     "on": event.submitted_on, "on_time": event.on_time, "deadline": event.deadline,
                     "summary": Jsonb(summary_of(event.content)), "at": at, "id": event.originator_id})
            else:  # Report.Edited
                curs.execute(self._q(
                    "UPDATE {s}.reports SET version = %s, narrative = %s, updated_at = %s WHERE id = %s"),
                    (event.originator_version, event.narrative, at, event.originator_id))  # type: ignore[attr-defined]


class RecordsFeed(Projection[RecordsView]):
    """The monitoring service's events: progress reports and evaluations."""

    name = "monitoring_records"  # tracking table monitoring_records_tracking

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, ProgressReport.Event | Evaluation.Event):
            self.view.apply_record_event(domain_event, tracking)
        else:
            self.view.skip(tracking)


class ReportsFeed(Projection[ReportsView]):
    """This service's own events."""

    name = "reports"  # tracking table reports_tracking

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        for cls, kind in KINDS.items():
            if isinstance(domain_event, cls.Event):
                self.view.apply_report_event(domain_event, tracking, kind)
                return
        self.view.skip(tracking)
