"""The alerts' store: what the pure alert engine (`services.monitoring.domain.alerts`) finds
for an agreement or a region, kept equal to the open alerts in schema `monitoring`, each
opened, escalated, changed or cleared alert's notifications written to the outbox in the same
transaction (none lost, none written twice). The feeds mark what changed (`mark`); the worker
reviews the marks when the feeds are live (`review_due`) and everything once a day as time
passes (`refresh_all`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import structlog
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg.types.json import Jsonb

from services.monitoring.domain.alerts import (
    ACTIVE_STAGES,
    KIND_TITLES,
    Finding,
    Kind,
    Thresholds,
    agreement_findings,
    region_finding,
)
from services.monitoring.notify import channels_for, enqueue
from shared.clock import Clock, SystemClock
from shared.periods import local_date
from shared.regions import RegionCatalog, load_regions, province_of
from shared.tenancy import audience_of

log = structlog.get_logger("ksd.monitoring")


class AlertStore:
    """The open alerts of one monitoring schema, on the view's datastore."""

    def __init__(self, datastore: PostgresDatastore, settings: Any, clock: Clock | None = None,
                 regions: RegionCatalog | None = None) -> None:
        self.datastore = datastore
        self.schema = sql.Identifier(datastore.schema)
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.regions: RegionCatalog = regions or load_regions()
        self.thresholds = Thresholds.from_settings(settings)
        self.no_neighbour_scope = settings.alert_no_neighbour_scope
        self._refreshed_on: date | None = None  # the day of the last full re-evaluation

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.schema)


    def today(self) -> date:
        return local_date(self.clock.now())

    def mark(self, curs: Any, agreement_id: UUID, regions: Iterable[str]) -> None:
        """Note, in the feed's transaction, what needs its alerts re-evaluated. The worker
        reviews it when the feeds have caught up: a replay of old events (a rebuild, a
        restart after downtime) then evaluates each agreement once, in its state today,
        instead of alerting on every intermediate state of its past."""
        curs.execute(self._q("UPDATE {s}.agreements SET alerts_due = true WHERE id = %s AND NOT alerts_due"),
                     (agreement_id,))
        for region in sorted(set(regions)):
            curs.execute(self._q("INSERT INTO {s}.regions_due (region) VALUES (%s) ON CONFLICT DO NOTHING"), (region,))

    def mark_many(self, curs: Any, agreement_ids: list[UUID], regions: list[str]) -> None:
        """`mark` for a batch's agreements and regions, in two statements."""
        curs.execute(self._q("UPDATE {s}.agreements SET alerts_due = true WHERE id = ANY(%s) AND NOT alerts_due"),
                     (agreement_ids,))
        curs.execute(self._q("INSERT INTO {s}.regions_due (region) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING"),
                     (regions,))

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
        except Exception:
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
            curs.execute(
                self._q("SELECT period, region FROM {s}.progress_reports WHERE agreement_id = %s"), (agreement_id,)
            )
            reports = {(r["period"], r["region"]) for r in curs.fetchall()}
            findings = agreement_findings(row["state"], reports, today, self.thresholds, self.regions.name_of)
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
                curs.execute(
                    self._q("UPDATE {s}.alerts SET cleared_at = %s, updated_at = %s WHERE id = %s RETURNING *"),
                    (now, now, alert["id"]),
                )
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
            if got is None:  # not reached: a SELECT without FROM answers one row
                raise LookupError("pg_try_advisory_lock answered no row")
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
