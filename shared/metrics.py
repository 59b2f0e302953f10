"""Prometheus metrics beyond the HTTP ones Litestar's plugin records."""

from prometheus_client import Gauge

PROJECTION_LAG = Gauge(
    "ksd_projection_lag_events",
    "Events recorded in the event store but not yet applied by a projection",
    ["service", "projection"],
)
