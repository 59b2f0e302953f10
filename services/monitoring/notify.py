"""Alert notifications: a transactional outbox and the worker that delivers it.

Every alert state change (opened / escalated / cleared) is written, in the same transaction
as the alert change, as one notification per recipient tenant and one delivery row per
configured channel (`enqueue`). `Notifier.deliver_due` sends due deliveries to a webhook or
by e-mail and records the outcome in the transaction that claimed the row; failures are
retried with exponential backoff, forever. The dedupe key makes a repeated enqueue of the
same alert state a no-op; a send repeated after a crash between sending and recording
carries the same `X-KSD-Notification-Id`, so receivers can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import msgspec
import psycopg
import structlog
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.clock import Clock, SystemClock
from shared.periods import tanggal
from shared.settings import Settings

log = structlog.get_logger("ksd.notify")

CHANNELS = ("webhook", "email")
TRANSITIONS = ("opened", "escalated", "changed", "cleared")

NOTIFICATION_TABLES: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS {schema}.notifications (
      id bigserial PRIMARY KEY,
      dedupe_key text NOT NULL UNIQUE,
      alert_id uuid NOT NULL,
      tenant text NOT NULL,
      transition text NOT NULL,
      payload jsonb NOT NULL,
      created_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS notifications_tenant ON {schema}.notifications (tenant, id)",
    """
    CREATE TABLE IF NOT EXISTS {schema}.deliveries (
      notification_id bigint NOT NULL REFERENCES {schema}.notifications(id),
      channel text NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL,
      delivered_at timestamptz,
      last_error text,
      PRIMARY KEY (notification_id, channel)
    )
    """,
    "CREATE INDEX IF NOT EXISTS deliveries_due ON {schema}.deliveries (next_attempt_at) WHERE delivered_at IS NULL",
]

# -- enqueueing (inside the caller's transaction) --------------------------------------------


def recipient_for(settings: Settings, tenant: str) -> str | None:
    """The e-mail address for `tenant`: its own, else the `*` fallback, else None."""
    recipients = settings.email_recipients
    return recipients.get(tenant) or recipients.get("*") or None


def channels_for(settings: Settings, tenant: str) -> list[str]:
    """The channels a notification for `tenant` goes out on, as configured now."""
    channels: list[str] = []
    if settings.alert_webhook_url:
        channels.append("webhook")
    if settings.smtp_host and recipient_for(settings, tenant):
        channels.append("email")
    return channels


def dedupe_key(alert_id: Any, transition: str, level: int | str | None, tenant: str) -> str:
    return f"{alert_id}:{transition}:{level}:{tenant}"


def _json_dumps(obj: Any) -> str:
    # msgspec also handles dates, datetimes and UUIDs the caller may leave in the payload.
    return msgspec.json.encode(obj).decode()


def _first(row: Any) -> Any:
    return row["id"] if isinstance(row, Mapping) else row[0]


def enqueue(
    curs: psycopg.Cursor[Any],
    schema: str,
    *,
    alert_id: Any,
    tenant: str,
    transition: str,
    level: int | str | None,
    payload: dict[str, Any],
    channels: list[str],
    at: datetime,
) -> bool:
    """Record a notification and its deliveries; False if this alert state was already
    recorded for `tenant` (nothing is written then)."""
    if transition not in TRANSITIONS:
        raise ValueError(f"unknown transition {transition!r}")
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise ValueError(f"unknown channel(s) {sorted(unknown)}")
    ident = sql.Identifier(schema)
    curs.execute(
        sql.SQL(
            "INSERT INTO {schema}.notifications (dedupe_key, alert_id, tenant, transition, payload, created_at)"
            " VALUES (%(key)s, %(alert_id)s, %(tenant)s, %(transition)s, %(payload)s, %(at)s)"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
        ).format(schema=ident),
        {
            "key": dedupe_key(alert_id, transition, level, tenant),
            "alert_id": alert_id,
            "tenant": tenant,
            "transition": transition,
            "payload": Jsonb(payload, dumps=_json_dumps),
            "at": at,
        },
    )
    row = curs.fetchone()
    if row is None:
        return False
    notification_id = _first(row)
    for channel in dict.fromkeys(channels):
        curs.execute(
            sql.SQL(
                "INSERT INTO {schema}.deliveries (notification_id, channel, next_attempt_at)"
                " VALUES (%(id)s, %(channel)s, %(at)s)"
            ).format(schema=ident),
            {"id": notification_id, "channel": channel, "at": at},
        )
    return True


# -- messages ----------------------------------------------------------------------------------

SEVERITY_LABELS: dict[Any, str] = {"info": "informasi", "warning": "perlu perhatian", "critical": "kritis"}
SUBJECTS = {
    "opened": "Peringatan baru",
    "escalated": "Peringatan meningkat",
    "changed": "Peringatan berubah",
    "cleared": "Peringatan selesai",
}


def _tanggal_iso(value: Any) -> str:
    """`tanggal` of an ISO date or datetime string; the text itself if it is neither."""
    if not value:
        return "-"
    text = str(value)
    try:
        return tanggal(datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text))
    except ValueError:
        return text


def webhook_body(notification_id: int, tenant: str, transition: str, payload: Mapping[str, Any]) -> bytes:
    """The JSON sent to the webhook: canonical (sorted keys) so the signature is reproducible."""
    body = {**payload, "notification_id": notification_id, "tenant": tenant, "transition": transition}
    return msgspec.json.encode(body, order="sorted")


def sign(secret: str, body: bytes) -> str:
    """`X-KSD-Signature` value: `sha256=<hex HMAC-SHA256 of body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def email_message(
    settings: Settings, *, notification_id: int, tenant: str, transition: str, payload: Mapping[str, Any], to: str
) -> EmailMessage:
    """The e-mail for one notification, in Bahasa Indonesia."""
    alert = payload.get("alert") or {}
    title = alert.get("title") or alert.get("kind") or "peringatan"
    severity = alert.get("severity")
    regions = alert.get("regions") or []
    lines = [
        f"{SUBJECTS.get(transition, 'Peringatan')} dari Sinergi KSD untuk {tenant}.",
        "",
        str(alert.get("message") or title),
        "",
        f"Jenis peringatan: {alert.get('kind') or '-'}",
        f"Tingkat: {SEVERITY_LABELS.get(severity, severity or '-')}",
        f"Sejak: {_tanggal_iso(alert.get('since'))}",
    ]
    if alert.get("level") is not None:
        lines.append(f"Tahap: {alert['level']}")
    lines.append(f"Daerah: {', '.join(str(r) for r in regions) if regions else '-'}")
    lines.append(f"Kerja sama: {alert.get('agreement_id') or '-'}")
    if transition == "cleared" or alert.get("cleared_at"):
        lines.append(f"Selesai pada: {_tanggal_iso(alert.get('cleared_at'))}")
    lines += [
        "",
        f"ID notifikasi: {notification_id} (sama pada setiap pengiriman ulang)",
        "",
        "Pesan ini dikirim otomatis oleh Sinergi KSD; mohon tidak dibalas.",
    ]
    msg = EmailMessage()
    msg["Subject"] = f"[Sinergi KSD] {SUBJECTS.get(transition, 'Peringatan')}: {title}"
    msg["From"] = settings.smtp_from
    msg["To"] = to
    domain = settings.smtp_from.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<ksd-notification-{notification_id}@{domain}>"
    msg["X-KSD-Notification-Id"] = str(notification_id)
    msg["X-KSD-Tenant"] = tenant
    msg.set_content("\n".join(lines) + "\n")
    return msg


# -- delivery --------------------------------------------------------------------------------


class DeliveryError(Exception):
    """A send that did not succeed; the message is short and safe to store and log."""


def retry_delay(settings: Settings, attempts_before: int) -> timedelta:
    """Wait after a failure when `attempts_before` attempts had failed already:
    base, 2*base, 4*base, ... capped at notify_retry_max_seconds."""
    base, cap = settings.notify_retry_base_seconds, settings.notify_retry_max_seconds
    exponent = min(max(attempts_before, 0), 62)  # avoid huge integers; the cap wins long before
    return timedelta(seconds=min(base * 2**exponent, cap))


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text[:300]


class Notifier:
    """Delivers due notifications. Several notifiers (threads or processes) may run at once:
    each delivery row is claimed with FOR UPDATE SKIP LOCKED, so none is sent twice."""

    def __init__(
        self, database_url: str, settings: Settings, *, schema: str = "monitoring", clock: Clock | None = None
    ) -> None:
        self.database_url = database_url
        self.settings = settings
        self.schema = schema
        self.clock: Clock = clock or SystemClock()
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        ident = sql.Identifier(schema)
        self._claim = sql.SQL(
            "SELECT d.notification_id, d.channel, d.attempts, n.tenant, n.transition, n.payload"
            " FROM {schema}.deliveries d JOIN {schema}.notifications n ON n.id = d.notification_id"
            " WHERE d.delivered_at IS NULL AND d.next_attempt_at <= %(now)s"
            " ORDER BY d.next_attempt_at, d.notification_id, d.channel LIMIT 1"
            " FOR UPDATE OF d SKIP LOCKED"
        ).format(schema=ident)
        self._delivered = sql.SQL(
            "UPDATE {schema}.deliveries SET delivered_at = %(now)s, attempts = attempts + 1"
            " WHERE notification_id = %(id)s AND channel = %(channel)s"
        ).format(schema=ident)
        self._failed = sql.SQL(
            "UPDATE {schema}.deliveries SET attempts = attempts + 1, last_error = %(error)s,"
            " next_attempt_at = %(retry_at)s WHERE notification_id = %(id)s AND channel = %(channel)s"
        ).format(schema=ident)

    # connection

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # work

    def deliver_due(self, limit: int = 50) -> int:
        """Send up to `limit` due deliveries, one claimed row per transaction; the number
        delivered. A failed delivery is rescheduled later, so one call tries each at most once."""
        delivered = 0
        for _ in range(limit):
            outcome = self._deliver_one()
            if outcome is None:
                break
            delivered += outcome
        return delivered

    def _deliver_one(self) -> bool | None:
        """Claim, send and record one due delivery: True if sent, False if it failed,
        None if nothing is due."""
        conn = self._connection()
        try:
            with conn.transaction():
                row = conn.execute(self._claim, {"now": self.clock.now()}).fetchone()
                if row is None:
                    return None
                key = {"id": row["notification_id"], "channel": row["channel"]}
                attempt = row["attempts"] + 1
                try:
                    self._send(row)
                except Exception as exc:  # noqa: BLE001 - any failure is retried, never lost
                    error = exc.args[0] if isinstance(exc, DeliveryError) else _short(exc)
                    now = self.clock.now()
                    retry_at = now + retry_delay(self.settings, row["attempts"])
                    conn.execute(self._failed, {**key, "error": error, "retry_at": retry_at})
                    log.warning(
                        "notification_failed", notification_id=key["id"], channel=key["channel"],
                        attempt=attempt, error=error, retry_at=retry_at.isoformat(),
                    )
                    return False
                conn.execute(self._delivered, {**key, "now": self.clock.now()})
                log.info("notification_delivered", notification_id=key["id"], channel=key["channel"], attempt=attempt)
                return True
        except psycopg.Error:
            # A broken connection is reopened on the next call; the claim was rolled back.
            if conn.broken:
                self.close()
            raise

    def _send(self, row: Mapping[str, Any]) -> None:
        notification_id, tenant, transition = row["notification_id"], row["tenant"], row["transition"]
        payload = row["payload"] or {}
        if row["channel"] == "webhook":
            self._send_webhook(notification_id, tenant, transition, payload)
        elif row["channel"] == "email":
            self._send_email(notification_id, tenant, transition, payload)
        else:
            raise DeliveryError(f"unknown channel {row['channel']!r}")

    def _send_webhook(self, notification_id: int, tenant: str, transition: str, payload: Mapping[str, Any]) -> None:
        s = self.settings
        if not s.alert_webhook_url:
            raise DeliveryError("webhook not configured (KSD_ALERT_WEBHOOK_URL)")
        body = webhook_body(notification_id, tenant, transition, payload)
        headers = {
            "Content-Type": "application/json",
            "X-KSD-Notification-Id": str(notification_id),
            "X-KSD-Tenant": tenant,
        }
        if s.alert_webhook_secret:
            headers["X-KSD-Signature"] = sign(s.alert_webhook_secret, body)
        response = httpx.post(s.alert_webhook_url, content=body, headers=headers, timeout=s.notify_timeout_seconds)
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}")

    def _send_email(self, notification_id: int, tenant: str, transition: str, payload: Mapping[str, Any]) -> None:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryError("SMTP not configured (KSD_SMTP_HOST)")
        to = recipient_for(s, tenant)
        if not to:
            raise DeliveryError(f"no e-mail address for tenant {tenant} (KSD_ALERT_EMAIL_TO)")
        msg = email_message(
            s, notification_id=notification_id, tenant=tenant, transition=transition, payload=payload, to=to
        )
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notify_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            smtp.send_message(msg)
