"""`ksd`: the platform's command line (run it all, migrate, tokens, workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Annotated

import typer

from shared.settings import Settings, SettingsError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sinergi KSD platform commands.")

SERVICES = ("registry", "monitoring", "reporting")
WORKERS = ("registry", "monitoring", "reporting")

# Sample tenants for development tokens printed by `ksd run`.
SAMPLE_TOKENS = (
    ("32.73", ("operator",), "Operator Kota Bandung"),
    ("32.04", ("operator",), "Operator Kabupaten Bandung"),
    ("32", ("operator", "consolidator", "monitor"), "Biro Pemerintahan Jawa Barat"),
    ("35.78", ("operator",), "Operator Kota Surabaya"),
    ("national", ("monitor", "auditor"), "Ditjen Bina Adwil Kemendagri"),
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
    from shared.pgembed import EmbeddedPostgresUnavailable, ensure_server

    try:
        server = ensure_server(settings.data_path)
    except EmbeddedPostgresUnavailable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None
    return server.url, server


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
    role: Annotated[list[str], typer.Option(help="operator, consolidator, monitor, auditor, admin")],
    sub: Annotated[str | None, typer.Option(help="subject (user id)")] = None,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    ttl_hours: Annotated[int | None, typer.Option(help="validity in hours")] = None,
) -> None:
    """Print a signed development token."""
    from shared.auth import TokenService

    settings = _settings()
    try:
        jwt = TokenService(settings).issue(
            tenant=tenant, roles=role, sub=sub, name=name,
            ttl_seconds=ttl_hours * 3600 if ttl_hours else None,
        )
    except (ValueError, RuntimeError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(jwt)


audit_app = typer.Typer(no_args_is_help=True, help="Audit: verify bundles offline, sign national digests.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    bundle: Annotated[str, typer.Argument(help="the file from GET /agreements/{id}/export")],
    public_key: Annotated[
        str | None,
        typer.Option(help="the trusted Ed25519 public key: base64 of its 32 bytes, or a PEM file",
                     envvar="KSD_AUDIT_PUBLIC_KEY"),
    ] = None,
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
    trusted = None
    if public_key:
        from shared.audit.signing import load_public_key

        try:
            trusted = load_public_key(public_key)
        except ValueError as exc:
            typer.echo(f"Kunci publik tidak dapat dibaca / cannot read the public key: {exc}", err=True)
            raise typer.Exit(2) from None
    verdict = verify_bundle(data, trusted_public_key=trusted)
    typer.echo("\n".join(verdict.lines()))
    if verdict.reason == "format":
        raise typer.Exit(2)
    raise typer.Exit((0 if verdict.key_trusted else 3) if verdict.valid else 1)


@audit_app.command("digest")
def audit_digest(force: Annotated[bool, typer.Option(help="sign even if nothing was recorded since")] = False) -> None:
    """Sign a national digest now (the registry worker does it periodically)."""
    settings = _settings()
    url, server = _database(settings)
    from services.registry.audit import Audit
    from services.registry.setup import open_registry
    from shared.audit.signing import signing_key_from_settings

    registry = open_registry(url)
    try:
        digest = Audit(registry, signing_key=signing_key_from_settings(settings)).issue_digest(force=force)
    finally:
        registry.close()
        if server is not None and server.started_here:
            server.stop()
    if digest is None:
        typer.echo("tidak ada peristiwa baru sejak digest terakhir / nothing recorded since the last digest")
    else:
        typer.echo(f"digest #{digest.sequence}: {digest.tree_size} kerja sama / agreements, root {digest.root}, "
                   f"key {digest.key_id}")


@app.command()
def migrate() -> None:
    """Create schemas and tables and load reference data, then exit."""
    settings = _settings()
    url, server = _database(settings)
    counts = migrate_all(url)
    typer.echo(f"migrated; reference data: {counts}")
    if server is not None and server.started_here:
        server.stop()


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
def serve(service: Annotated[str, typer.Argument(help="registry, monitoring or reporting")]) -> None:
    """Run one service's HTTP server in the foreground (granian, uvloop)."""
    settings = _settings()
    if service not in SERVICES:
        typer.echo(f"unknown service {service!r}; services: {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    url, _server = _database(settings)
    os.environ["DATABASE_URL"] = url
    os.execv(sys.executable, _serve_command(service, settings))


def _wait_ready(urls: dict[str, str], procs: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending and time.monotonic() < deadline:
        for name, base in list(pending.items()):
            try:
                with urllib.request.urlopen(f"{base}/ready", timeout=2) as resp:  # noqa: S310 - our own loopback URL
                    if resp.status == 200:
                        del pending[name]
            except OSError:
                pass
        if any(p.poll() is not None for p in procs):
            return
        time.sleep(0.3)


@app.command()
def run() -> None:
    """Start the whole platform: database, schemas, the three services and the workers."""
    settings = _settings()
    url, server = _database(settings)
    typer.echo("• menyiapkan skema dan data referensi / preparing schemas and reference data …")
    migrate_all(url)
    env = {**os.environ, "DATABASE_URL": url, "KSD_DATA_DIR": str(settings.data_path)}
    procs: list[subprocess.Popen] = []
    names: list[str] = []
    for service in SERVICES:
        procs.append(subprocess.Popen(_serve_command(service, settings), env=env, start_new_session=True))
        names.append(service)
    for name in WORKERS:
        procs.append(subprocess.Popen([sys.executable, "-m", "shared.cli", "worker", name], env=env, start_new_session=True))
        names.append(f"{name}-worker")

    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    bases = {s: f"http://{settings.host}:{settings.port_of(s)}" for s in SERVICES}
    _wait_ready(bases, procs)
    _print_banner(settings, url, bases, server is not None)
    exit_code = 0
    try:
        while not stopping:
            for name, proc in zip(names, procs, strict=True):
                if proc.poll() is not None:
                    typer.echo(f"! {name} berhenti / stopped (exit {proc.returncode}); menghentikan semua", err=True)
                    stopping, exit_code = True, 1
                    break
            time.sleep(0.5)
    finally:
        typer.echo("• menghentikan layanan / stopping services …")
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if server is not None and server.started_here:
            typer.echo("• menghentikan PostgreSQL / stopping PostgreSQL …")
            server.stop()
        typer.echo("• selesai / done")
    raise typer.Exit(exit_code)


def _print_banner(settings: Settings, url: str, bases: dict[str, str], embedded: bool) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from shared.auth import TokenService

    tokens = TokenService(settings)
    db = conninfo_to_dict(url)
    where = "embedded, " + str(settings.data_path / "pg") if embedded else "DATABASE_URL"
    lines = [
        "",
        "Sinergi KSD berjalan / is running",
        f"  database    postgresql://{db.get('user', '')}@{db.get('host', '')}:{db.get('port', '')}/{db.get('dbname', '')}  ({where})",
    ]
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
        f"  curl -s -X POST {reg}/agreements -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        "    -d '{\"form\":\"KSDD\",\"category\":\"wajib\",\"title\":\"Pengelolaan sampah regional\","
        "\"object\":\"Pengolahan sampah di TPPAS Legok Nangka\",\"urusan\":[\"1.03\",\"2.11\"],"
        "\"parties\":[{\"region\":\"32.04\"}],\"value_idr\":2500000000}'",
        f"  curl -s {reg}/agreements -H \"Authorization: Bearer $TOKEN\"",
        f"  GraphiQL: {reg}/graphql#token={sample['32.73']}",
        "",
        "Tekan Ctrl-C untuk berhenti / press Ctrl-C to stop.",
        "",
    ]
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    app()
