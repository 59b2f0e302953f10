"""Install the reference data (regions, land adjacency, urusan) into PostgreSQL.

Schema ``reference``, readable by everyone (SELECT granted to PUBLIC):
- ``reference.regions``: provinces and kabupaten/kota (``shared.regions``);
- ``reference.adjacency``: land neighbours, both directions of every pair;
- ``reference.urusan``: the 32 urusan pemerintahan (``shared.urusan``);
- ``reference.dataset``: which source and version each table was loaded from.

Re-running is idempotent. Regions and urusan are upserted from a COPY-loaded staging
table (never truncated), so other schemas may hold foreign keys to them; a code dropped
by a new decree is deleted, which fails loudly if something still references it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from shared.regions import (
    ADJACENCY_SOURCE,
    DATASET_DECREE,
    DATASET_PACKAGE,
    DATASET_VERSION,
    load_regions,
)
from shared.urusan import URUSAN

URUSAN_SOURCE = "Permendagri 90/2019"

_DDL = (
    "CREATE SCHEMA IF NOT EXISTS reference",
    """CREATE TABLE IF NOT EXISTS reference.regions (
        code text PRIMARY KEY,
        name text NOT NULL,
        display_name text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('provinsi', 'kabupaten', 'kota')),
        province_code text NOT NULL,
        autonomous bool NOT NULL,
        lat double precision,
        lng double precision
    )""",
    """CREATE TABLE IF NOT EXISTS reference.urusan (
        code text PRIMARY KEY,
        name text NOT NULL,
        kind text NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS reference.adjacency (
        code_a text NOT NULL REFERENCES reference.regions (code),
        code_b text NOT NULL REFERENCES reference.regions (code),
        PRIMARY KEY (code_a, code_b)
    )""",
    """CREATE TABLE IF NOT EXISTS reference.dataset (
        name text PRIMARY KEY,
        version text NOT NULL,
        loaded_at timestamptz NOT NULL DEFAULT now()
    )""",
    "GRANT USAGE ON SCHEMA reference TO PUBLIC",
    "GRANT SELECT ON reference.regions, reference.urusan, reference.adjacency,"
    " reference.dataset TO PUBLIC",
)

_REGION_COLUMNS = ("code", "name", "display_name", "kind", "province_code", "autonomous", "lat", "lng")
_URUSAN_COLUMNS = ("code", "name", "kind")


def _sync(cur: psycopg.Cursor, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Make ``reference.<table>`` hold exactly ``rows`` (keyed by ``code``) via COPY + upsert."""
    stage = f"pg_temp._reference_{table}_stage"
    cols = ", ".join(columns)
    others = [c for c in columns if c != "code"]
    cur.execute(f"DROP TABLE IF EXISTS {stage}")
    cur.execute(f"CREATE TEMP TABLE {stage} (LIKE reference.{table})")
    with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(
        f"INSERT INTO reference.{table} AS t ({cols}) SELECT {cols} FROM {stage}"  # noqa: S608 - table names from this module's constants
        f" ON CONFLICT (code) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in others)}"
        f" WHERE ({', '.join(f't.{c}' for c in others)})"
        f" IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in others)})"
    )
    cur.execute(f"DELETE FROM reference.{table} t WHERE NOT EXISTS (SELECT FROM {stage} s WHERE s.code = t.code)")  # noqa: S608 - table names from this module's constants
    cur.execute(f"DROP TABLE {stage}")


def install_reference_data(conn: psycopg.Connection) -> dict[str, int]:
    """Create or refresh the ``reference`` schema; return the row count of each table.

    Atomic: runs in ``conn.transaction()`` (its own transaction, or a savepoint when the
    caller already has one open, in which case the caller commits).
    """
    catalog = load_regions()
    regions = [tuple(getattr(r, c) for c in _REGION_COLUMNS) for r in catalog.all()]
    urusan = [(u.code, u.name, u.kind) for u in URUSAN]
    adjacency = [pair for a, b in catalog.adjacent_pairs() for pair in ((a, b), (b, a))]
    datasets = [
        ("regions", f"{DATASET_PACKAGE} {DATASET_VERSION} ({DATASET_DECREE})"),
        ("adjacency", ADJACENCY_SOURCE),
        ("urusan", URUSAN_SOURCE),
    ]

    with conn.transaction(), conn.cursor() as cur:
        # Serialise concurrent installers (CREATE ... IF NOT EXISTS is not race-free).
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('ksd.reference.install'))")
        for statement in _DDL:
            cur.execute(statement)

        # Adjacency first: it references regions, and nothing references it.
        cur.execute("DELETE FROM reference.adjacency")
        _sync(cur, "regions", _REGION_COLUMNS, regions)
        with cur.copy("COPY reference.adjacency (code_a, code_b) FROM STDIN") as copy:
            for pair in adjacency:
                copy.write_row(pair)
        _sync(cur, "urusan", _URUSAN_COLUMNS, urusan)
        cur.executemany(
            "INSERT INTO reference.dataset (name, version, loaded_at) VALUES (%s, %s, now())"
            " ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version,"
            " loaded_at = EXCLUDED.loaded_at",
            datasets,
        )

        counts: dict[str, int] = {}
        for table in ("regions", "adjacency", "urusan", "dataset"):
            cur.execute(f"SELECT count(*) FROM reference.{table}")  # noqa: S608 - table names from this module's constants
            (counts[table],) = cur.fetchone() or (0,)
    return counts
