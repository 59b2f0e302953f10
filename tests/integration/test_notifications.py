"""Alert notifications: outbox rows written with the alert change, delivered by webhook or
e-mail, retried with backoff, never lost and never sent twice. Real PostgreSQL, a local
webhook receiver and a minimal SMTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from services.monitoring.notify import (
    NOTIFICATION_TABLES,
    Notifier,
    channels_for,
    enqueue,
    retry_delay,
    tanggal,
)
from shared.clock import ManualClock
from shared.settings import Settings
from tests.conftest import fresh_database

SCHEMA = "monitoring"
SECRET = "rahasia-webhook"
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notify_db(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, "ksd_notify") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
            for _ in range(2):  # the DDL is idempotent
                for ddl in NOTIFICATION_TABLES:
                    conn.execute(sql.SQL(ddl).format(schema=sql.Identifier(SCHEMA)))
        yield url


@pytest.fixture()
def db(notify_db: str) -> str:
    """The module's database, emptied for each test."""
    with psycopg.connect(notify_db, autocommit=True) as conn:
        conn.execute("TRUNCATE monitoring.deliveries, monitoring.notifications RESTART IDENTITY")
    return notify_db


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(START)


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every request and fails the first N."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.fail_first = fail_first
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    status = 500 if len(receiver.requests) < receiver.fail_first else 200
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ksd"

    @property
    def succeeded(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["status"] == 200]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpStub:
    """Just enough SMTP to accept messages: no STARTTLS, no AUTH."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self._session(conn.makefile("rb"), conn)

    def _session(self, rfile: Any, conn: socket.socket) -> None:
        def reply(line: str) -> None:
            conn.sendall(line.encode() + b"\r\n")

        reply("220 stub.local ESMTP")
        envelope: dict[str, Any] = {"from": None, "to": []}
        while line := rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                reply("250 stub.local")
            elif verb == "MAIL":
                envelope = {"from": command.split(":", 1)[1].strip(" <>"), "to": []}
                reply("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(command.split(":", 1)[1].strip(" <>"))
                reply("250 OK")
            elif verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                data = bytearray()
                while (chunk := rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk  # undo dot-stuffing
                self.messages.append({**envelope, "message": BytesParser(policy=policy.default).parsebytes(data)})
                reply("250 OK queued")
            elif verb == "RSET":
                reply("250 OK")
            elif verb == "QUIT":
                reply("221 Bye")
                return
            else:
                reply("502 Command not implemented")

    def __enter__(self) -> SmtpStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def make_settings(**overrides: Any) -> Settings:
    return Settings.from_env({}, log_level="warning", **overrides)


def payload(alert_id: UUID, *, since: str = "2026-11-22", level: int | None = None) -> dict[str, Any]:
    return {
        "alert": {
            "id": str(alert_id),
            "kind": "kb_without_pks",
            "severity": "warning",
            "title": "KB tanpa PKS: Legok Nangka",
            "message": "Kesepakatan Bersama sudah ditandatangani 180 hari lalu, tetapi belum ada PKS.",
            "agreement_id": "7f1c0a52-1111-4c4c-9a9a-0123456789ab",
            "regions": ["32", "32.73"],
            "since": since,
            "level": level,
            "cleared_at": None,
        }
    }


def add(
    url: str, settings: Settings, clock: ManualClock, *, tenant: str = "32", transition: str = "opened",
    alert_id: UUID | None = None, level: int | None = None,
) -> bool:
    alert_id = alert_id or uuid4()
    with psycopg.connect(url) as conn, conn.cursor() as curs:
        return enqueue(
            curs, SCHEMA, alert_id=alert_id, tenant=tenant, transition=transition, level=level,
            payload=payload(alert_id, level=level), channels=channels_for(settings, tenant), at=clock.now(),
        )


def deliveries(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT d.*, n.tenant, n.transition FROM monitoring.deliveries d"
            " JOIN monitoring.notifications n ON n.id = d.notification_id ORDER BY notification_id, channel"
        ).fetchall()


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM monitoring.{}").format(sql.Identifier(table))).fetchone()[0]


# -- webhook -----------------------------------------------------------------------------------


def test_a_notification_is_posted_once_signed_with_its_stable_id(db: str, clock: ManualClock) -> None:
    with Receiver() as receiver:
        settings = make_settings(alert_webhook_url=receiver.url, alert_webhook_secret=SECRET)
        alert_id = uuid4()
        assert add(db, settings, clock, tenant="32.73", alert_id=alert_id) is True
        with Notifier(db, settings, clock=clock) as notifier:
            assert notifier.deliver_due() == 1
            assert notifier.deliver_due() == 0  # delivered rows are not sent again

    (request,) = receiver.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    (row,) = deliveries(db)
    assert headers["content-type"] == "application/json"
    assert headers["x-ksd-notification-id"] == str(row["notification_id"])
    assert headers["x-ksd-tenant"] == "32.73"
    expected = hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-ksd-signature"], f"sha256={expected}")
    body = json.loads(request["body"])
    assert body["notification_id"] == row["notification_id"]
    assert (body["tenant"], body["transition"]) == ("32.73", "opened")
    assert body["alert"]["id"] == str(alert_id)
    assert body["alert"]["since"] == "2026-11-22"
    assert SECRET not in request["body"].decode()
    assert row["delivered_at"] == clock.now() and row["attempts"] == 1 and row["last_error"] is None


def test_without_a_secret_no_signature_is_sent(db: str, clock: ManualClock) -> None:
    with Receiver() as receiver:
        settings = make_settings(alert_webhook_url=receiver.url)
        add(db, settings, clock)
        with Notifier(db, settings, clock=clock) as notifier:
            assert notifier.deliver_due() == 1
    assert "x-ksd-signature" not in {k.lower() for k in receiver.requests[0]["headers"]}


def test_a_failed_delivery_is_retried_with_exponential_backoff(db: str, clock: ManualClock) -> None:
    with Receiver(fail_first=2) as receiver:
        settings = make_settings(alert_webhook_url=receiver.url, notify_retry_base_seconds=30)
        add(db, settings, clock)
        with Notifier(db, settings, clock=clock) as notifier:
            first = clock.now()
            assert notifier.deliver_due() == 0
            (row,) = deliveries(db)
            assert row["attempts"] == 1 and row["delivered_at"] is None
            assert row["next_attempt_at"] == first + timedelta(seconds=30)
            assert row["last_error"] == "HTTP 500"

            clock.advance(seconds=29)
            assert notifier.deliver_due() == 0  # not due yet: nothing sent
            assert len(receiver.requests) == 1

            second = clock.advance(seconds=1)
            assert notifier.deliver_due() == 0  # retried, failed again: the wait doubles
            (row,) = deliveries(db)
            assert row["attempts"] == 2 and row["next_attempt_at"] == second + timedelta(seconds=60)

            clock.advance(seconds=59)
            assert notifier.deliver_due() == 0
            assert len(receiver.requests) == 2

            clock.advance(seconds=1)
            assert notifier.deliver_due() == 1
            assert notifier.deliver_due() == 0

    (row,) = deliveries(db)
    assert row["attempts"] == 3 and row["delivered_at"] == clock.now()
    assert row["last_error"] == "HTTP 500"  # the last failure stays on record
    assert [r["status"] for r in receiver.requests] == [500, 500, 200]
    ids = {r["headers"]["X-KSD-Notification-Id"] for r in receiver.requests}
    assert ids == {str(row["notification_id"])}  # every retry carries the same id


def test_an_unreachable_webhook_is_kept_for_later_never_dropped(db: str, clock: ManualClock) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    settings = make_settings(alert_webhook_url=f"http://127.0.0.1:{port}/", notify_retry_max_seconds=45)
    add(db, settings, clock)
    with Notifier(db, settings, clock=clock) as notifier:
        for _ in range(4):
            assert notifier.deliver_due() == 0
            clock.advance(hours=1)
    (row,) = deliveries(db)
    assert row["attempts"] == 4 and row["delivered_at"] is None
    assert row["last_error"].startswith("ConnectError")
    assert row["next_attempt_at"] == clock.now() - timedelta(hours=1) + timedelta(seconds=45)  # capped


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = make_settings(notify_retry_base_seconds=30, notify_retry_max_seconds=200)
    assert [retry_delay(settings, n).total_seconds() for n in range(5)] == [30, 60, 120, 200, 200]
    assert retry_delay(settings, 10_000) == timedelta(seconds=200)


# -- outbox ------------------------------------------------------------------------------------


def test_the_same_alert_state_is_enqueued_once(db: str, clock: ManualClock) -> None:
    settings = make_settings(
        alert_webhook_url="http://127.0.0.1:9/", smtp_host="127.0.0.1", alert_email_to="*=ksd@example.org"
    )
    alert_id = uuid4()
    assert add(db, settings, clock, alert_id=alert_id, transition="escalated", level=30) is True
    clock.advance(minutes=5)
    assert add(db, settings, clock, alert_id=alert_id, transition="escalated", level=30) is False
    assert count(db, "notifications") == 1
    assert sorted(r["channel"] for r in deliveries(db)) == ["email", "webhook"]
    # Another level, transition or tenant is another notification.
    assert add(db, settings, clock, alert_id=alert_id, transition="escalated", level=7) is True
    assert add(db, settings, clock, alert_id=alert_id, transition="cleared", level=7) is True
    assert add(db, settings, clock, alert_id=alert_id, transition="cleared", level=7, tenant="national") is True
    assert count(db, "notifications") == 4 and count(db, "deliveries") == 8


def test_enqueue_rolls_back_with_the_callers_transaction(db: str, clock: ManualClock) -> None:
    with psycopg.connect(db) as conn:
        with conn.cursor(row_factory=dict_row) as curs:  # dict rows work as well as tuples
            assert enqueue(
                curs, SCHEMA, alert_id=uuid4(), tenant="32", transition="opened", level=None,
                payload=payload(uuid4()), channels=["webhook"], at=clock.now(),
            )
        conn.rollback()
    assert count(db, "notifications") == 0 and count(db, "deliveries") == 0


def test_with_no_channel_the_notification_is_recorded_without_deliveries(db: str, clock: ManualClock) -> None:
    settings = make_settings(smtp_host="127.0.0.1", alert_email_to="32=jabar@example.org")
    assert channels_for(settings, "33") == []  # e-mail configured, but no address for 33 and no "*"
    assert channels_for(make_settings(), "32") == []
    assert add(db, make_settings(), clock, tenant="32") is True
    assert count(db, "notifications") == 1 and count(db, "deliveries") == 0
    with Notifier(db, make_settings(), clock=clock) as notifier:
        assert notifier.deliver_due() == 0


def test_channels_follow_the_settings() -> None:
    settings = make_settings(
        alert_webhook_url="https://hooks.example.org/ksd", smtp_host="smtp.example.org",
        alert_email_to="national=ksd@kemendagri.go.id;32=kerjasama@jabarprov.go.id",
    )
    assert channels_for(settings, "32") == ["webhook", "email"]
    assert channels_for(settings, "33") == ["webhook"]
    with_fallback = make_settings(smtp_host="smtp.example.org", alert_email_to="*=semua@example.org")
    assert channels_for(with_fallback, "33") == ["email"]


def test_concurrent_notifiers_send_each_notification_exactly_once(db: str, clock: ManualClock) -> None:
    with Receiver(delay=0.005) as receiver:
        settings = make_settings(alert_webhook_url=receiver.url)
        for i in range(20):
            add(db, settings, clock, tenant=f"32.{i:02d}")
        start = threading.Barrier(2)
        results: list[int] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with Notifier(db, settings, clock=clock) as notifier:
                    start.wait()
                    results.append(notifier.deliver_due(limit=50))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

    assert not errors
    assert sum(results) == 20
    ids = [r["headers"]["X-KSD-Notification-Id"] for r in receiver.requests]
    assert len(ids) == 20 and len(set(ids)) == 20
    rows = deliveries(db)
    assert all(r["delivered_at"] is not None and r["attempts"] == 1 for r in rows)


# -- e-mail ------------------------------------------------------------------------------------


def test_an_email_in_bahasa_indonesia_goes_to_the_tenants_address(db: str, clock: ManualClock) -> None:
    with SmtpStub() as smtp:
        settings = make_settings(
            smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_from="sinergi-ksd@kemendagri.go.id",
            alert_email_to="32=kerjasama@jabarprov.go.id;*=ksd@kemendagri.go.id",
        )
        add(db, settings, clock, tenant="32")
        add(db, settings, clock, tenant="35", transition="cleared")
        with Notifier(db, settings, clock=clock) as notifier:
            assert notifier.deliver_due() == 2
            assert notifier.deliver_due() == 0

    rows = deliveries(db)
    assert [r["channel"] for r in rows] == ["email", "email"]
    assert all(r["delivered_at"] is not None for r in rows)
    first, second = smtp.messages
    assert first["to"] == ["kerjasama@jabarprov.go.id"]  # the tenant's own address
    assert second["to"] == ["ksd@kemendagri.go.id"]  # the "*" fallback
    assert first["from"] == "sinergi-ksd@kemendagri.go.id"

    msg = first["message"]
    assert msg["Subject"] == "[Sinergi KSD] Peringatan baru: KB tanpa PKS: Legok Nangka"
    assert msg["To"] == "kerjasama@jabarprov.go.id"
    assert msg["X-KSD-Notification-Id"] == str(rows[0]["notification_id"])
    text = msg.get_content()
    assert "Peringatan baru" in text
    assert "belum ada PKS" in text
    assert "Sejak: 22 November 2026" in text
    assert "Tingkat: perlu perhatian" in text
    assert "kb_without_pks" in text and "32, 32.73" in text
    assert "7f1c0a52-1111-4c4c-9a9a-0123456789ab" in text
    assert f"ID notifikasi: {rows[0]['notification_id']}" in text
    assert second["message"]["Subject"].startswith("[Sinergi KSD] Peringatan selesai: ")


def test_an_unreachable_smtp_server_is_retried(db: str, clock: ManualClock) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, alert_email_to="*=a@b.id")
    add(db, settings, clock)
    with Notifier(db, settings, clock=clock) as notifier:
        assert notifier.deliver_due() == 0
    (row,) = deliveries(db)
    assert row["attempts"] == 1 and row["delivered_at"] is None and row["last_error"]
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=settings.notify_retry_base_seconds)


# -- dates -------------------------------------------------------------------------------------


def test_tanggal_writes_dates_in_indonesian() -> None:
    assert tanggal(date(2026, 11, 22)) == "22 November 2026"
    assert tanggal(date(2027, 1, 5)) == "5 Januari 2027"
    assert tanggal(date(2026, 8, 17)) == "17 Agustus 2026"
    assert tanggal(date(2026, 5, 1)) == "1 Mei 2026"
    # An aware datetime counts in WIB: 20:00 UTC on 31 December is already 1 January.
    assert tanggal(datetime(2026, 12, 31, 20, 0, tzinfo=UTC)) == "1 Januari 2027"
