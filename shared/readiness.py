"""Readiness of a service (`GET /ready`) and its health as `ksd status` shows it.

A service is ready when the database answers, at least one of its workers is alive (a
`running` heartbeat younger than `KSD_WORKER_STALE_AFTER_SECONDS`) and every feed of its read
model is within `KSD_READY_MAX_PROJECTION_LAG` events of its source. Open dead letters are
reported (and exported as `ksd_dead_letters_open`) but do not make a service unready: the
rest of the read model is current and serving it is the point; `ksd status` fails on them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar.datastructures import State
from psycopg.rows import dict_row

from shared.metrics import DEAD_LETTERS_OPEN, PROJECTION_LAG, WORKER_HEARTBEAT_AGE
from shared.projection import Feed, dead_letters_by_feed, open_dead_letters_query

ReadinessCheck = Callable[[State], Awaitable[dict[str, Any]]]


def heartbeats_query(schema: str) -> str:
    """The service's worker instances seen in the last day, freshest first (`schema` is the
    code's own constant)."""
    return (
        "SELECT instance, status, last_error, last_error_at,"  # noqa: S608
        " extract(epoch FROM now() - beat_at)::float8 AS age_seconds"
        f" FROM {schema}.worker_heartbeats WHERE beat_at > now() - interval '1 day'"
        " ORDER BY beat_at DESC LIMIT 20"
    )


@dataclass
class Health:
    """What the database says about one service's workers and read model."""

    service: str
    lag: dict[str, int]
    workers: list[dict[str, Any]]
    dead_letters: dict[str, int]
    stale_after: float
    max_lag: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def live_workers(self) -> list[dict[str, Any]]:
        return [w for w in self.workers if w["status"] == "running" and w["age_seconds"] <= self.stale_after]

    @property
    def open_dead_letters(self) -> int:
        return sum(self.dead_letters.values())

    def problems(self) -> list[str]:
        """Why the service is not ready (Bahasa Indonesia), empty when it is."""
        reasons = []
        if not self.live_workers:
            if self.workers:
                w = self.workers[0]
                reasons.append(
                    f"worker {self.service} tidak hidup: detak terakhir {w['age_seconds']:.0f} detik lalu"
                    f" (status {w['status']}), batas {self.stale_after:.0f} detik"
                )
            else:
                reasons.append(f"worker {self.service} belum pernah berjalan (tidak ada detak)")
        behind = {k: v for k, v in self.lag.items() if v > self.max_lag}
        if behind:
            reasons.append(
                "proyeksi tertinggal melebihi batas " + str(self.max_lag) + ": "
                + ", ".join(f"{k} {v}" for k, v in behind.items())
            )
        return reasons

    def export(self) -> None:
        """Set this process's gauges from what was read."""
        for label, value in self.lag.items():
            PROJECTION_LAG.labels(service=self.service, projection=label).set(value)
        for label, value in self.dead_letters.items():
            DEAD_LETTERS_OPEN.labels(service=self.service, projection=label).set(value)
        live = self.live_workers
        ages = [w["age_seconds"] for w in live] or [w["age_seconds"] for w in self.workers]
        if ages:
            WORKER_HEARTBEAT_AGE.labels(service=self.service).set(min(ages))

    def report(self) -> dict[str, Any]:
        """The body of /ready (with `ok`, which the handler turns into 200 or 503)."""
        reasons = self.problems()
        live = self.live_workers
        body: dict[str, Any] = {
            "ok": not reasons,
            "projection_lag": self.lag,
            "workers": {
                "live": len(live),
                "heartbeat_age_seconds": round(min(w["age_seconds"] for w in live), 1) if live else None,
                "stale_after_seconds": self.stale_after,
                # The probe is public: states and ages only (hosts and errors: `ksd status`).
                "latest": {"status": latest["status"], "age_seconds": round(latest["age_seconds"], 1)}
                if (latest := self.workers[0] if self.workers else None) else None,
            },
            "dead_letters": {"open": self.open_dead_letters, "feeds": self.dead_letters},
            **self.extra,
        }
        if reasons:
            body["reasons"] = reasons
        return body


def worker_readiness(
    service: str, *, schema: str, feeds: Sequence[Feed], lag_query: str, settings: Any, pool: Callable[[State], Any],
) -> ReadinessCheck:
    """The `/ready` check of a service whose read model its workers keep. On the app's own
    pool: a probe every few seconds should not open connections."""
    heartbeats, dead = heartbeats_query(schema), open_dead_letters_query(schema)

    async def check(state: State) -> dict[str, Any]:
        async with pool(state).connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            lag = {k: int(v) for k, v in (await (await cur.execute(lag_query)).fetchone()).items()}
            workers = await (await cur.execute(heartbeats)).fetchall()
            letters = dead_letters_by_feed(await (await cur.execute(dead)).fetchall(), feeds)
        health = Health(service, lag, workers, letters, settings.worker_stale_after_seconds,
                        settings.ready_max_projection_lag)
        health.export()
        return health.report()

    return check


def read_health(conn: Any, service: str, *, schema: str, feeds: Sequence[Feed], lag_query: str, settings: Any,
                backlog_query: str | None = None) -> Health:
    """The same, synchronously (`ksd status`), on a psycopg connection."""
    with conn.cursor(row_factory=dict_row) as cur:
        lag = {k: int(v) for k, v in cur.execute(lag_query).fetchone().items()}
        workers = cur.execute(heartbeats_query(schema)).fetchall()
        letters = dead_letters_by_feed(cur.execute(open_dead_letters_query(schema)).fetchall(), feeds)
        extra = {}
        if backlog_query:
            extra["notification_backlog"] = {k: int(v) for k, v in cur.execute(backlog_query).fetchone().items()}
    return Health(service, lag, workers, letters, settings.worker_stale_after_seconds,
                  settings.ready_max_projection_lag, extra)
