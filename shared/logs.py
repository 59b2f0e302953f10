"""structlog set-up: JSON when not on a terminal, readable text on one.

Per-request context (`request_id`, `tenant`, `sub`) is bound through structlog's
contextvars by the HTTP middleware; request bodies, query strings and tokens are never
logged (see `shared.http`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from shared.settings import Settings

_SECRET_KEYS = frozenset({"authorization", "token", "password", "jwt_secret", "secret"})


def _drop_secrets(_logger: object, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Last line of defence: never emit a value under a secret-looking key."""
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(settings: Settings, *, service: str) -> None:
    json_logs = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stdout.isatty()
    )
    level = getattr(logging, settings.log_level.upper())
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries that log through the standard library (eventsourcing, psycopg, granian).
    logging.basicConfig(
        level=max(level, logging.WARNING), stream=sys.stdout, format="%(name)s %(levelname)s %(message)s"
    )
