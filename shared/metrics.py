"""Prometheus metrics beyond the HTTP ones Litestar's plugin records.

The services set the gauges below when `/ready` is probed (from the database: lag, open dead
letters, worker heartbeats); the workers export all of them on their own port
(`KSD_WORKER_METRICS_PORT`), refreshed at every heartbeat, and count what they process.
The `projection` label is the feed's name as `/ready` shows it (`agreements`,
`registry_feed`, ...).
"""

from prometheus_client import Counter, Gauge

PROJECTION_LAG = Gauge(
    "ksd_projection_lag_events",
    "Events recorded in the event store but not yet applied by a projection",
    ["service", "projection"],
)

PROJECTION_EVENTS = Counter(
    "ksd_projection_events",
    "Events a worker's projection applied (or passed as not its concern)",
    ["service", "projection"],
)

WORKER_BATCHES = Counter(
    "ksd_worker_batches",
    "Rounds of a worker in which its projections applied at least one event",
    ["service"],
)

WORKER_ERRORS = Counter(
    "ksd_worker_errors",
    "Failures a worker recovered from by retrying (kind: database, unexpected)",
    ["service", "kind"],
)

DEAD_LETTERS = Counter(
    "ksd_dead_letters",
    "Events a projection could not apply, recorded as dead letters and skipped",
    ["service", "projection"],
)

DEAD_LETTERS_OPEN = Gauge(
    "ksd_dead_letters_open",
    "Dead letters not yet replayed (ksd replay-dead-letters)",
    ["service", "projection"],
)

WORKER_HEARTBEAT_AGE = Gauge(
    "ksd_worker_heartbeat_age_seconds",
    "Seconds since the freshest heartbeat of a running worker of the service",
    ["service"],
)

NOTIFICATION_BACKLOG = Gauge(
    "ksd_notification_backlog",
    "Notification deliveries not yet made (state: pending, failing = retried after a failure)",
    ["service", "state"],
)

AUDIT_HEAD_REFUSED = Counter(
    "ksd_audit_head_refused",
    "Tree heads the signer refused because the stored transparency log no longer agrees with the last signed head",
)
