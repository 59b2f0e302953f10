"""`ksd`: the platform's command line (run it all, migrate, tokens, workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from shared.settings import Settings, SettingsError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sinergi KSD platform commands.")

SERVICES = ("registry", "monitoring", "reporting")
# The web application: a client of the three services' APIs, with no database connection.
WEB = "web"
WORKERS = ("registry", "monitoring", "reporting")
JWT_SECRET_FILE = "jwt-secret"  # noqa: S105 - shared.auth.dev_secret's file under the data dir

# Sample tenants for development tokens printed by `ksd run`.
SAMPLE_TOKENS = (
    ("32.73", ("operator",), "Operator Kota Bandung"),
    ("32.04", ("operator",), "Operator Kabupaten Bandung"),
    ("32", ("operator", "consolidator", "monitor"), "Biro Pemerintahan Jawa Barat"),
    ("35.78", ("operator",), "Operator Kota Surabaya"),
    ("national", ("monitor", "auditor", "approver"), "Ditjen Bina Adwil Kemendagri"),
)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        typer.echo(f"Konfigurasi tidak valid / invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None


def _database(settings: Settings):  # noqa: ANN202 - (url, server or None)
    """The configured DATABASE_URL, or the embedded private cluster under the data dir."""
    if settings.database_url:
        return settings.database_url, None
    from shared.pgembed import EmbeddedPostgresError, ensure_server

    try:
        server = ensure_server(settings.data_path, binaries=settings.pg_binaries)
    except EmbeddedPostgresError as exc:
        typer.echo(f"PostgreSQL bawaan tidak dapat dimulai / embedded PostgreSQL cannot start: {exc}", err=True)
        raise typer.Exit(3) from None
    return server.url, server


@contextlib.contextmanager
def _database_errors(server=None) -> Iterator[None]:  # noqa: ANN001 - an EmbeddedServer or None
    """An unreachable or unprepared database is an expected failure: one line, exit 3, no
    traceback. Stops the embedded server if this command started it, whatever happens."""
    import psycopg
    from eventsourcing.persistence import ProgrammingError

    from shared.db import TRANSIENT_ERRORS

    try:
        yield
    except KeyboardInterrupt:
        typer.echo("dibatalkan / interrupted", err=True)
        raise typer.Exit(130) from None
    except TRANSIENT_ERRORS as exc:
        typer.echo(f"PostgreSQL tidak dapat dihubungi / cannot reach PostgreSQL: {_first_line(exc)}", err=True)
        raise typer.Exit(3) from None
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName, ProgrammingError) as exc:
        typer.echo(f"Basis data belum disiapkan, jalankan `ksd migrate` / the database is not migrated, "
                   f"run `ksd migrate`: {_first_line(exc)}", err=True)
        raise typer.Exit(3) from None
    finally:
        if server is not None and server.started_here:
            with contextlib.suppress(Exception):
                server.stop()


def _probe(url: str) -> None:
    """Connect once (raises psycopg.OperationalError within seconds when nothing answers)."""
    import psycopg

    psycopg.connect(url, connect_timeout=10).close()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def migrate_all(database_url: str) -> dict[str, int]:
    """Create or update every schema and load reference data (idempotent)."""
    import psycopg

    from services.monitoring.setup import install as install_monitoring
    from services.registry.setup import install as install_registry
    from services.reporting.setup import install as install_reporting
    from shared.reference import install_reference_data

    with psycopg.connect(database_url) as conn:
        counts = install_reference_data(conn)
        conn.commit()
    install_registry(database_url)
    install_monitoring(database_url)  # after the registry: it follows the registry's events
    install_reporting(database_url)  # after both: it follows their events
    return counts


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="region code (32.73) or 'national'")],
    role: Annotated[list[str], typer.Option(
        help="operator, consolidator, monitor, auditor, admin, approver"
             " (national only: records the central approval)")],
    sub: Annotated[str | None, typer.Option(help="subject (user id)")] = None,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    ttl_hours: Annotated[int | None, typer.Option(help="validity in hours")] = None,
) -> None:
    """Print a signed development token."""
    from shared.auth import TokenService

    settings = _settings()
    secret = settings.data_path / JWT_SECRET_FILE
    if settings.jwt_algorithm == "HS256" and not settings.jwt_secret and not secret.exists():
        # Creating one here would sign with a secret no running service knows.
        typer.echo(
            f"Belum ada rahasia token di {secret}: jalankan `make run` (ksd run) sekali, atau set KSD_JWT_SECRET / "
            f"no token secret at {secret} yet: run `make run` (ksd run) once, or set KSD_JWT_SECRET "
            "(KSD_DATA_DIR must be the one the services use)",
            err=True,
        )
        raise typer.Exit(2)
    try:
        jwt = TokenService(settings).issue(
            tenant=tenant, roles=role, sub=sub, name=name,
            ttl_seconds=ttl_hours * 3600 if ttl_hours else None,
        )
    except (ValueError, RuntimeError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(jwt)


audit_app = typer.Typer(no_args_is_help=True, help="Audit: verify bundles and the transparency log offline, mirror "
                                                  "the log, sign a tree head now.")
app.add_typer(audit_app, name="audit")


# The key an auditor trusts, for every command that checks signatures offline.
PublicKeyOption = Annotated[
    str | None,
    typer.Option(help="the trusted Ed25519 public key: base64 of its 32 bytes, or a PEM file",
                 envvar="KSD_AUDIT_PUBLIC_KEY"),
]


@audit_app.command("verify")
def audit_verify(
    bundle: Annotated[str, typer.Argument(help="the file from GET /agreements/{id}/export")],
    public_key: PublicKeyOption = None,
) -> None:
    """Check an audit bundle offline (no network, no database). Exit 0: intact, signed by
    the trusted key; 1: not intact or not provable; 2: the file or key cannot be read;
    3: intact if the bundle's own key is genuine (no trusted key given)."""
    import json
    from pathlib import Path

    from shared.audit.bundle import verify_bundle

    try:
        data = json.loads(Path(bundle).read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        typer.echo(f"Berkas tidak dapat dibaca / cannot read the file: {exc}", err=True)
        raise typer.Exit(2) from None
    verdict = verify_bundle(data, trusted_public_key=_trusted_key(public_key))
    typer.echo("\n".join(verdict.lines()))
    if verdict.reason == "format":
        raise typer.Exit(2)
    raise typer.Exit((0 if verdict.key_trusted else 3) if verdict.valid else 1)


@audit_app.command("mirror")
def audit_mirror(
    url: Annotated[str, typer.Argument(help="the registry's base URL, e.g. https://ksd.example.go.id/registry")],
    directory: Annotated[str, typer.Argument(help="the mirror's directory (created; later runs add to it)")],
    public_key: PublicKeyOption = None,
) -> None:
    """Fetch the transparency log's new signed tree heads and leaves into DIRECTORY, checking
    each head's signature, its consistency with the heads already mirrored and that the
    leaves rebuild its root. Exit 0: mirrored; 1: the log served is not consistent with the
    mirror or not signed by its key (nothing written); 2: the server or the key cannot be read."""
    from pathlib import Path

    import httpx

    from shared.audit.mirror import MirrorError, mirror

    trusted = _trusted_key(public_key)
    try:
        with httpx.Client(timeout=60.0, follow_redirects=True) as client:
            result = mirror(client, url, Path(directory), trusted_public_key=trusted)
    except MirrorError as exc:
        typer.echo(f"Log TIDAK KONSISTEN, tidak ada yang ditulis / log INCONSISTENT, nothing written: {exc}", err=True)
        raise typer.Exit(1) from None
    except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
        typer.echo(f"Log tidak dapat diambil / cannot fetch the log: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"kepala baru / new heads: {result.new_heads}, daun baru / new leaves: {result.new_leaves}, "
               f"ukuran / size {result.size}, akar / root {result.root}")


@audit_app.command("verify-log")
def audit_verify_log(
    directory: Annotated[str, typer.Argument(help="a directory made by `ksd audit mirror`")],
    public_key: PublicKeyOption = None,
) -> None:
    """Check a mirrored log end to end, offline: every leaf, every tree head's signature and
    every consistency proof. Exit 0: intact, signed by the trusted key; 1: not intact;
    2: the directory or key cannot be read; 3: intact if the mirror's own key is genuine."""
    from pathlib import Path

    from shared.audit.mirror import verify_log

    trusted = _trusted_key(public_key)
    path = Path(directory)
    if not path.is_dir():
        typer.echo(f"Direktori tidak ada / no such directory: {directory}", err=True)
        raise typer.Exit(2)
    try:
        check = verify_log(path, trusted_public_key=trusted)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        typer.echo(f"Mirror tidak dapat dibaca / cannot read the mirror: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(check.lines()))
    raise typer.Exit((0 if check.key_trusted else 3) if check.valid else 1)


def _trusted_key(public_key: str | None) -> bytes | None:
    if not public_key:
        return None
    from shared.audit.signing import load_public_key

    try:
        return load_public_key(public_key)
    except ValueError as exc:
        typer.echo(f"Kunci publik tidak dapat dibaca / cannot read the public key: {exc}", err=True)
        raise typer.Exit(2) from None


@audit_app.command("digest")
def audit_digest(
    force: Annotated[bool, typer.Option(help="sign until the whole log is covered, however long it takes")] = False,
) -> None:
    """Sign a tree head of the transparency log now (the registry worker signs one every
    KSD_AUDIT_HEAD_INTERVAL_SECONDS; the national digests this command signed before are
    retired, those already signed stay at GET /audit/digests). Without --force, signs for at
    most a minute and says how much is left. Exit 0: signed, or nothing recorded since the
    last head; 1: refused (the stored log no longer agrees with its last signed head); 3: no
    database."""
    settings = _settings()
    url, server = _database(settings)
    from services.registry.audit import Audit
    from services.registry.setup import open_registry
    from shared.audit.log_store import LogInconsistent
    from shared.audit.signing import signing_key_from_settings

    with _database_errors(server):
        _probe(url)  # fail in seconds, not after the event store's pool timeout
        registry = open_registry(url)
        try:
            audit = Audit(registry, signing_key=signing_key_from_settings(settings))
            try:
                heads = audit.sign_heads(budget_seconds=float("inf") if force else 60.0)
            except LogInconsistent as exc:
                typer.echo(f"Kepala pohon ditolak: log transparansi diubah di luar platform / tree head refused: {exc}",
                           err=True)
                raise typer.Exit(1) from None
            latest, size = audit.log.latest(), audit.log.size()
        finally:
            registry.close()
    if latest is None:
        typer.echo("log transparansi masih kosong / the transparency log is empty")
        return
    described = f"ukuran / size {latest.size}, akar / root {latest.root.hex()}, kunci / key {latest.key_id}"
    if heads:
        typer.echo(f"kepala pohon ditandatangani / tree heads signed: {len(heads)}; terakhir / latest: {described}")
    else:
        typer.echo(f"tidak ada peristiwa baru sejak kepala pohon terakhir / nothing recorded since the last tree "
                   f"head: {described}")
    if size > latest.size:
        typer.echo(f"{size - latest.size} daun belum tercakup; jalankan lagi atau pakai --force / "
                   f"{size - latest.size} leaves not yet covered; run again or use --force")


@app.command("sweep-blobs")
def sweep_blobs(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only report what would be deleted")] = False,
    grace_seconds: Annotated[
        int | None, typer.Option(min=1, help="age before deletion (default KSD_BLOB_SWEEP_GRACE_SECONDS)")
    ] = None,
) -> None:
    """Delete stored documents no event references and abandoned uploads, older than the grace
    period (the registry worker does it periodically). Exit 1 when an event names a document
    that is not stored."""
    settings = _settings()
    url, server = _database(settings)
    from services.registry.application import sweep_orphan_blobs
    from services.registry.setup import open_registry
    from shared.blobs import make_blob_store

    registry = open_registry(url, pool_size=1)
    try:
        summary = sweep_orphan_blobs(registry, make_blob_store(settings),
                                     grace_seconds or settings.blob_sweep_grace_seconds, dry_run=dry_run)
    finally:
        registry.close()
        if server is not None and server.started_here:
            server.stop()
    typer.echo("\n".join(summary.lines()))
    if summary.missing:
        raise typer.Exit(1)


@app.command("import")
def import_agreements(
    file: Annotated[str, typer.Argument(help="XLSX or CSV made from the template (GET /imports/template.xlsx)")],
    tenant: Annotated[str, typer.Option(help="the importing region, e.g. 32.73 (the initiator of every row)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check every row, store nothing")] = False,
    officer: Annotated[str | None, typer.Option(help="who imports (recorded on every event; default: the OS user)")]
    = None,
) -> None:
    """Import legacy agreements from a filled-in template, as `POST /imports` does; prints the
    row-by-row report. Exit 1 when a row was refused, 2 when the file is not the template."""
    import getpass
    from pathlib import Path

    from services.registry.imports import import_file
    from services.registry.setup import open_registry
    from shared.auth import Identity
    from shared.errors import KsdError

    settings = _settings()
    path = Path(file)
    if not path.is_file():
        typer.echo(f"Berkas tidak ditemukan / file not found: {file}", err=True)
        raise typer.Exit(2)
    identity = Identity(sub=officer or f"cli:{getpass.getuser()}", name="", tenant=tenant, roles=("operator",))
    url, server = _database(settings)
    with _database_errors(server):
        _probe(url)
        with path.open("rb") as source:  # (no more than the limit and a byte: beyond, refused)
            content = source.read(settings.import_max_bytes + 1)
        registry = open_registry(url, pool_size=1)
        try:
            report = import_file(registry, identity, content, path.name, dry_run=dry_run,
                                 max_bytes=settings.import_max_bytes, max_rows=settings.import_max_rows,
                                 batch_size=settings.import_batch_size)
        except KsdError as exc:
            typer.echo(f"Berkas ditolak / file refused: {exc.detail}", err=True)
            for error in exc.errors or []:
                typer.echo(f"  - {error.get('message')}", err=True)
            raise typer.Exit(2) from None
        finally:
            registry.close()
    rows = [(str(r.row), r.kind, (r.reference or "")[:30], r.status, r.message)
            for r in sorted(report.rows, key=lambda r: r.row)]
    cols = ("baris", "jenis", "nomor", "status", "keterangan")
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(cols[:-1])]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(cols, [*widths, 0], strict=True)).rstrip())
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, [*widths, 0], strict=True)).rstrip())
    typer.echo(f"{report.message} SHA-256 {report.file_sha256}")
    if any(r.status == "ditolak" for r in report.rows):
        raise typer.Exit(1)


@app.command("seed")
def seed_dataset(
    scale: Annotated[str, typer.Option(help="small (a few hundred families, a demo) or national (100,000 families)")]
    = "small",
    seed: Annotated[int, typer.Option(help="the same seed gives the same dataset")] = 1,
) -> None:
    """Build a realistic, reproducible dataset through the services' applications: every
    autonomous region active, agreements of every form through their lifecycles with legal
    dates over 2023-2026, progress reports, evaluations and region reports. Prints progress
    every few seconds and its speed at the end."""
    from services.ksd.seed import SCALES
    from services.ksd.seed import seed as run_seed

    if scale not in SCALES:
        typer.echo(f"Skala tidak dikenal / unknown scale: {scale} (pilih / choose: {', '.join(SCALES)})", err=True)
        raise typer.Exit(2)
    settings = _settings()
    url, server = _database(settings)

    def progress(report) -> None:  # noqa: ANN001 - a SeedReport
        done = (f"laporan daerah {report.reports_done:,} dari {report.reports_planned:,}"
                if report.reports_planned else f"{report.families:,} kerja sama")
        typer.echo(f"  {done}, {report.total_events:,} peristiwa, {report.rate:,.0f} peristiwa/detik")

    with _database_errors(server):
        _probe(url)
        report = run_seed(url, scale=scale, seed=seed, progress=progress)
    typer.echo("\n".join(report.lines()))
    if report.refused:
        typer.echo(f"{len(report.refused)} langkah ditolak aturan / steps refused: {report.refused[:3]}", err=True)
        raise typer.Exit(1)


def _service_setups(service: str | None) -> list[tuple[str, object]]:
    """(name, services.<name>.setup) for one service or all of them."""
    import importlib

    if service is not None and service not in SERVICES:
        typer.echo(f"unknown service {service!r}; services: {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    return [(name, importlib.import_module(f"services.{name}.setup")) for name in ([service] if service else SERVICES)]


@app.command("replay-dead-letters")
def replay_dead_letters(
    service: Annotated[str | None, typer.Option(help="registry, monitoring or reporting (default: all)")] = None,
) -> None:
    """Apply open dead letters again with the current code, in notification order; those that
    apply now are marked replayed. Exit 1 when some still fail; 3: no database."""
    settings = _settings()
    setups = _service_setups(service)
    url, server = _database(settings)
    from shared.projection import replay_dead_letters as replay

    failing = 0
    with _database_errors(server):
        for name, setup in setups:
            report = replay(name, setup.FEEDS, url, settings=settings)  # type: ignore[attr-defined]
            for o in report.outcomes:
                event = f"{o.topic.rpartition(':')[2]} {o.originator_id} v{o.originator_version}"
                what = f"{name}/{o.feed} #{o.notification_id} {event}"
                if o.applied:
                    typer.echo(f"  ✓ {what}: diterapkan / applied")
                else:
                    typer.echo(f"  ✗ {what}: masih gagal / still failing: {o.error}")
            failing += len(report.failing)
            if report.outcomes:
                typer.echo(f"{name}: {len(report.applied)} diterapkan / applied, "
                           f"{len(report.failing)} masih gagal / still failing")
            else:
                typer.echo(f"{name}: tidak ada dead letter terbuka / no open dead letters")
    raise typer.Exit(1 if failing else 0)


@app.command()
def status() -> None:
    """Per service: projection lag per feed, open dead letters, worker heartbeats and (monitoring)
    the notification backlog. Exit 1 when something needs attention: no live worker, a feed
    behind beyond KSD_READY_MAX_PROJECTION_LAG, or an open dead letter; 3: no database."""
    import psycopg

    from shared.readiness import read_health

    settings = _settings()
    url, server = _database(settings)
    problems: list[str] = []
    with _database_errors(server), psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        for name, setup in _service_setups(None):
            health = read_health(
                conn, name, schema=setup.SCHEMA, feeds=setup.FEEDS, lag_query=setup.LAG_QUERY,  # type: ignore[attr-defined]
                settings=settings, backlog_query=getattr(setup, "BACKLOG_QUERY", None),
            )
            typer.echo(name)
            typer.echo("  lag          " + ", ".join(f"{k} {v}" for k, v in health.lag.items()))
            letters = ", ".join(f"{k} {v}" for k, v in health.dead_letters.items() if v)
            typer.echo(f"  dead letter  {health.open_dead_letters} terbuka / open"
                       + (f" ({letters})" if letters else ""))
            shown = [w for w in health.workers if w["status"] != "stopped"][:3] or health.workers[:1]
            for w in shown:
                live = "hidup / live" if w in health.live_workers else "TIDAK HIDUP / not live"
                line = f"  worker       {w['instance']}  {w['status']}  detak / beat {w['age_seconds']:.0f} s  {live}"
                if w["last_error"] and w["status"] != "running":
                    line += f"  ({w['last_error']})"
                typer.echo(line)
            if not health.workers:
                typer.echo("  worker       tidak ada detak / no heartbeat")
            if "notification_backlog" in health.extra:
                backlog = health.extra["notification_backlog"]
                typer.echo(f"  notifikasi   {backlog['pending']} tertunda / pending, "
                           f"{backlog['failing']} gagal / failing")
            problems += [f"{name}: {reason}" for reason in health.problems()]
            if health.open_dead_letters:
                problems.append(f"{name}: {health.open_dead_letters} dead letter terbuka / open "
                                f"(ksd replay-dead-letters --service {name})")
    if problems:
        typer.echo("status: TIDAK SEHAT / unhealthy")
        for problem in problems:
            typer.echo(f"  - {problem}")
        raise typer.Exit(1)
    typer.echo("status: sehat / healthy")


@app.command("worker-alive")
def worker_alive(
    service: Annotated[str, typer.Argument(help="registry, monitoring or reporting")],
    any_host: Annotated[bool, typer.Option(
        "--any-host", help="a heartbeat from any machine counts (default: only this machine's, as a probe "
                           "runs beside its worker)")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="exit 3 when the database cannot be reached (default: 0, cannot tell)")] = False,
) -> None:
    """Liveness of a worker, for a probe: exit 0 when its latest heartbeat from this machine is
    fresh (younger than KSD_WORKER_STALE_AFTER_SECONDS and not `stopped`), 1 when it is stale,
    stopped or missing. When the database cannot be reached (or is not migrated) this cannot
    tell and exits 0 (3 with --strict): the worker waits for its database by itself, and a
    restart would only delay its return."""
    import importlib

    import psycopg
    from psycopg import sql

    settings = _settings()
    if service not in WORKERS:
        typer.echo(f"no worker for {service!r}; workers: {', '.join(WORKERS)}", err=True)
        raise typer.Exit(2)
    schema = importlib.import_module(f"services.{service}.setup").SCHEMA
    host = None if any_host else socket.gethostname()
    query = sql.SQL(
        "SELECT status, host, extract(epoch FROM now() - beat_at)::float8 AS age FROM {}.worker_heartbeats"
        " WHERE worker = %(worker)s AND (%(host)s::text IS NULL OR host = %(host)s) ORDER BY beat_at DESC LIMIT 1"
    ).format(sql.Identifier(schema))
    url, server = _database(settings)
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True,
                             application_name=f"ksd-{service}-worker-alive") as conn:
            row = conn.execute(query, {"worker": service, "host": host}).fetchone()
    except (psycopg.OperationalError, psycopg.InterfaceError,
            psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
        typer.echo(f"worker {service}: tidak dapat diperiksa, basis data tidak terjangkau / cannot tell, "
                   f"database unavailable: {_first_line(exc)}", err=True)
        raise typer.Exit(3 if strict else 0) from None
    finally:
        if server is not None and server.started_here:
            with contextlib.suppress(Exception):
                server.stop()
    where = "" if any_host else f" dari / from {host}"
    if row is None:
        typer.echo(f"worker {service} TIDAK HIDUP / not alive: tidak ada detak{where} / no heartbeat")
        raise typer.Exit(1)
    status, beat_host, age = row
    limit = settings.worker_stale_after_seconds
    detail = f"detak / beat {age:.0f} s lalu / ago, status {status}, host {beat_host}, batas / limit {limit:.0f} s"
    if status == "stopped" or age > limit:
        typer.echo(f"worker {service} TIDAK HIDUP / not alive: {detail}")
        raise typer.Exit(1)
    typer.echo(f"worker {service} hidup / alive: {detail}")


@app.command()
def migrate() -> None:
    """Create schemas and tables and load reference data, then exit."""
    settings = _settings()
    url, server = _database(settings)
    with _database_errors(server):
        counts = migrate_all(url)
    typer.echo(f"migrated; reference data: {counts}")


@app.command()
def worker(service: Annotated[str, typer.Argument(help="registry, monitoring or reporting")]) -> None:
    """Run a service's projection worker in the foreground."""
    settings = _settings()
    if service not in WORKERS:
        typer.echo(f"no worker for {service!r}; workers: {', '.join(WORKERS)}", err=True)
        raise typer.Exit(2)
    from shared.logs import configure_logging

    configure_logging(settings, service=f"{service}-worker")
    url, _server = _database(settings)
    run: Callable[..., None]  # each service's worker.run(settings, url)
    if service == "monitoring":
        from services.monitoring.worker import run
    elif service == "reporting":
        from services.reporting.worker import run
    else:
        from services.registry.worker import run

    run(settings, url)


def _serve_command(service: str, settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "granian",
        "--interface", "asgi",
        "--loop", "uvloop",
        "--factory",
        "--host", settings.host,
        "--port", str(settings.port_of(service)),
        "--workers", "1",
        "--no-ws",
        f"services.{service}.app:create_app",
    ]


@app.command()
def serve(service: Annotated[str, typer.Argument(help="registry, monitoring, reporting or web")]) -> None:
    """Run one service's HTTP server in the foreground (granian, uvloop)."""
    settings = _settings()
    if service not in (*SERVICES, WEB):
        typer.echo(f"unknown service {service!r}; services: {', '.join((*SERVICES, WEB))}", err=True)
        raise typer.Exit(2)
    _check_ports(settings, (service,))
    if service == WEB:  # a client of the services' APIs: no database of its own
        os.execv(sys.executable, _serve_command(service, settings))  # noqa: S606 - replaces this process with the server
    url, _server = _database(settings)
    os.environ["DATABASE_URL"] = url
    os.execv(sys.executable, _serve_command(service, settings))  # noqa: S606 - replaces this process with the server


def _check_ports(settings: Settings, services: tuple[str, ...]) -> None:
    """A port another program holds is an expected failure: one line, exit 4."""
    for service in services:
        port = settings.port_of(service)
        with socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((settings.host, port))
            except OSError as exc:
                typer.echo(
                    f"Port {port} ({service}) di / on {settings.host} tidak dapat dipakai / cannot be used: "
                    f"{exc.strerror or exc}; hentikan program lain atau ubah / stop the other program or set "
                    f"KSD_{service.upper()}_PORT",
                    err=True,
                )
                raise typer.Exit(4) from None


def _wait_ready(urls: dict[str, str], supervisor, timeout: float = 60) -> list[str]:  # noqa: ANN001
    """Wait until every service answers /ready (supervising meanwhile); the ones that do not."""
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending and time.monotonic() < deadline and not supervisor.stopping:
        for name, base in list(pending.items()):
            try:
                with urllib.request.urlopen(f"{base}/ready", timeout=2) as resp:  # noqa: S310 - our own loopback URL
                    if resp.status == 200:
                        del pending[name]
            except OSError:
                pass
        supervisor.step()
        time.sleep(0.3)
    return list(pending)


@app.command()
def run() -> None:
    """Start the whole platform: database, schemas, the three services and the workers; keep
    them running (a process that dies is restarted with backoff) until Ctrl-C."""
    from shared.supervise import Child, Supervisor

    settings = _settings()
    _check_ports(settings, (WEB, *SERVICES))
    url, server = _database(settings)
    with _database_errors(server):
        _check_connection_budget(url, settings)
        typer.echo("• menyiapkan skema dan data referensi / preparing schemas and reference data …")
        migrate_all(url)
        _ensure_dev_keys(settings)
        env = {**os.environ, "DATABASE_URL": url, "KSD_DATA_DIR": str(settings.data_path)}
        # PGAPPNAME names every connection after its process in pg_stat_activity.
        children = [
            Child(service, _serve_command(service, settings), {**env, "PGAPPNAME": f"ksd-{service}"})
            for service in SERVICES
        ] + [
            Child(WEB, _serve_command(WEB, settings), {**env, "PGAPPNAME": "ksd-web"}),
        ] + [
            Child(f"{name}-worker", [sys.executable, "-m", "services.ksd.cli", "worker", name],
                  {**env, "PGAPPNAME": f"ksd-{name}-worker"})
            for name in WORKERS
        ]
        state = {"server": server}

        def restart_server() -> None:
            from shared.pgembed import ensure_server

            state["server"] = ensure_server(settings.data_path, binaries=settings.pg_binaries)

        supervisor = Supervisor(
            children,
            echo=lambda line: typer.echo(line, err=True),
            server_alive=(lambda: state["server"].alive()) if server is not None and server.started_here else None,
            restart_server=restart_server,
        )

        def stop_all(*_: object) -> None:
            supervisor.stopping = True

        signal.signal(signal.SIGINT, stop_all)
        signal.signal(signal.SIGTERM, stop_all)
        supervisor.start_all()
        try:
            bases = {s: f"http://{settings.host}:{settings.port_of(s)}" for s in SERVICES}
            late = _wait_ready({**bases, WEB: f"http://{settings.host}:{settings.port_of(WEB)}"}, supervisor)
            if late and not supervisor.stopping:
                typer.echo(f"! belum siap / not ready yet: {', '.join(late)}", err=True)
            if not supervisor.stopping:
                _print_banner(settings, url, bases, server)
            while not supervisor.stopping:
                supervisor.step()
                time.sleep(0.25)
        finally:
            typer.echo("• menghentikan layanan / stopping services …")
            supervisor.stop()
            current = state["server"]
            if current is not None and current.started_here:
                typer.echo("• menghentikan PostgreSQL / stopping PostgreSQL …")
                with contextlib.suppress(Exception):
                    current.stop()
            typer.echo("• selesai / done")
    raise typer.Exit(0)


def _check_connection_budget(url: str, settings: Settings) -> None:
    """Refuse to start when every process's pools together, plus the headroom, could exhaust
    the server's connections (exit 5); warn when it is tight or we are a superuser."""
    import psycopg

    from shared.db import check_budget, connection_budget, server_limits

    with psycopg.connect(url, connect_timeout=10) as conn:
        limits = server_limits(conn)
    verdict = check_budget(limits, connection_budget(settings), settings.db_connection_headroom)
    if not verdict.fits:
        typer.echo(f"! {verdict.message}", err=True)
        raise typer.Exit(5)
    typer.echo(f"• {verdict.message}")
    for warning in verdict.warnings:
        typer.echo(f"! {warning}", err=True)


def _ensure_dev_keys(settings: Settings) -> None:
    """Create the development token secret and audit key before any child starts: processes
    creating them at the same moment would each sign with their own."""
    from shared.audit.signing import signing_key_from_settings
    from shared.auth import dev_secret

    if settings.jwt_algorithm == "HS256":
        dev_secret(settings)
    signing_key_from_settings(settings)


def _ksd_command() -> str:
    """How to type `ksd` here: its name when PATH finds this one, else its path (`make run`
    installs it into .venv/bin, which is not on PATH)."""
    import shutil

    here = Path(sys.executable).with_name("ksd")
    found = shutil.which("ksd")
    if found and Path(found).resolve() == here.resolve():
        return "ksd"
    relative = os.path.relpath(here)
    return str(here) if relative.startswith("..") else relative


def _print_banner(  # noqa: ANN001 - embedded: the EmbeddedServer, or None with DATABASE_URL
    settings: Settings, url: str, bases: dict[str, str], embedded
) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from shared.auth import TokenService

    tokens = TokenService(settings)
    db = conninfo_to_dict(url)
    where = "embedded, " + str(settings.data_path / "pg") if embedded else "DATABASE_URL"
    if embedded and getattr(embedded, "binaries", ""):
        where += f"; {embedded.binaries}"
    lines = [
        "",
        "Sinergi KSD berjalan / is running",
        f"  aplikasi    http://{settings.host}:{settings.port_of(WEB)}/   (buka di peramban / open in a browser;"
        " masuk sebagai pengguna contoh / sign in as a sample user)",
        f"  database    postgresql://{db.get('user', '')}@{db.get('host', '')}:{db.get('port', '')}"
        f"/{db.get('dbname', '')}  ({where})",
    ]
    if embedded and getattr(embedded, "admin_url", ""):
        lines.append(f"  admin       psql {embedded.admin_url}  (superuser; the platform connects as ksd_app)")
    for service, base in bases.items():
        lines.append(f"  {service:<11} {base}   (OpenAPI {base}/schema, GraphQL {base}/graphql)")
    lines += ["", "Token pengembangan / development tokens (berlaku / valid "
              f"{settings.dev_token_ttl_hours} jam):"]
    sample: dict[str, str] = {}
    for tenant, roles, name in SAMPLE_TOKENS:
        jwt = tokens.issue(tenant=tenant, roles=roles, name=name)
        sample[tenant] = jwt
        lines.append(f"  {tenant:<9} {'+'.join(roles):<31} {jwt}")
    reg = bases["registry"]
    lines += [
        "",
        "Coba / try:",
        f"  export TOKEN={sample['32.73']}",
        f"  curl -s -X POST {reg}/agreements -H \"Authorization: Bearer $TOKEN\""
        " -H 'Content-Type: application/json' \\",
        "    -d '{\"form\":\"KSDD\",\"category\":\"wajib\",\"title\":\"Pengelolaan sampah regional\","
        "\"object\":\"Pengolahan sampah di TPPAS Legok Nangka\",\"urusan\":[\"1.03\",\"2.11\"],"
        "\"parties\":[{\"region\":\"32.04\"}],\"value_idr\":2500000000}'",
        f"  curl -s {reg}/agreements -H \"Authorization: Bearer $TOKEN\"",
        f"  GraphiQL: {reg}/graphql#token={sample['32.73']}",
        "",
        f"Data contoh / demo data: {_ksd_command()} seed --scale small",
        "",
        "Tekan Ctrl-C untuk berhenti / press Ctrl-C to stop.",
        "",
    ]
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    app()
