"""The agreements read model: one row per cooperation family, for lists, filters and
GraphQL. Written by `AgreementsProjection` in the worker (exactly once: each row change
commits in the same transaction as the tracking position), read by `AgreementsReadModel`
in the HTTP apps inside tenant-scoped transactions that row-level security checks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, cast
from uuid import UUID

import msgspec
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from services.registry import contract
from services.registry.domain.agreement import Agreement, FrameworkStage, PksStage
from shared.cursors import decode_cursor, encode_cursor
from shared.db import READER_ROLE, TENANT_SETTING, gin_index, payload_columns, tenant_transaction
from shared.projection import BesideView, FoldedRows, FoldingProjection
from shared.regions import province_of
from shared.tenancy import audience_of

# Bump when the table's shape changes: `ksd migrate` then creates `agreements_next` of the new
# shape beside the live table, the worker fills it from the event store (events are the truth)
# while the live one is served, and switches them over once it has caught up
# (shared.projection: built beside).
VIEW_VERSION = 5

# `{t}`: the table's name, `agreements` or, while a new shape is built beside it, `agreements_next`
# (every index and policy is named after its table, so that a switch-over renames them all).
_CREATE = [
    """
    CREATE TABLE IF NOT EXISTS {schema}.{t} (
        id uuid PRIMARY KEY,
        -- position of the creating event in the event store: a strict creation order
        position bigint NOT NULL UNIQUE,
        version integer NOT NULL,
        form text NOT NULL,
        category text,
        title text NOT NULL,
        object text NOT NULL,
        stage text NOT NULL,
        initiator text NOT NULL,
        parties jsonb NOT NULL,
        party_regions text[] NOT NULL,
        provinces text[] NOT NULL,
        urusan text[] NOT NULL,
        value_idr numeric(20, 0),
        burdens_community boolean NOT NULL,
        budgeted_in_apbd boolean NOT NULL,
        dprd_approval_required boolean NOT NULL,
        framework_signed_on date,
        framework_valid_until date,
        pks_count integer NOT NULL,
        pks_in_force integer NOT NULL,
        -- end dates of the documents in force (framework and PKS), for "expiring between"
        in_force_until date[] NOT NULL,
        -- the first day the family existed (recorded, offered or signed, whichever came first:
        -- one entered after the fact has its real dates) and the day it ended, if it has
        began_on date NOT NULL,
        ended_on date,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        created_by jsonb NOT NULL,
        visible_to text[] NOT NULL,
        -- the aggregate's whole state (Agreement.to_state): what later events apply to
        state jsonb NOT NULL,
        -- the API's JSON of the agreement (AgreementRead), rendered once per change: REST
        -- lists serve it as stored, GraphQL decodes it once. Text, not jsonb: byte for byte
        -- what the API answers, key order included. (Nullable: the reporting service once
        -- kept a copy of this table without it; changing that is a new view version.)
        api text,
        search tsvector GENERATED ALWAYS AS (
            to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(object, ''))
        ) STORED
    )
    """,
    "COMMENT ON TABLE {schema}.{t} IS 'ksd view version " + str(VIEW_VERSION) + "'",
    *gin_index("{t}_visible_to", "{t}", "visible_to"),
    *gin_index("{t}_party_regions", "{t}", "party_regions"),
    *gin_index("{t}_urusan", "{t}", "urusan"),
    *gin_index("{t}_search", "{t}", "search"),
    "CREATE INDEX IF NOT EXISTS {t}_signed_on ON {schema}.{t} (framework_signed_on)",
    payload_columns("{t}", "parties", "created_by", "state", "api"),
    # Row-level security: the second wall behind the application's own tenant filter.
    # Read transactions switch to role ksd_reader (SELECT only) with their tenant in
    # ksd.tenant, and see only rows whose audience holds it. The owner (the projection)
    # is not subject to RLS, so no write policy exists that a reader could unlock.
    "ALTER TABLE {schema}.{t} ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE {schema}.{t} NO FORCE ROW LEVEL SECURITY",
    "DROP POLICY IF EXISTS {t}_projection_write ON {schema}.{t}",
    "DROP POLICY IF EXISTS {t}_tenant_read ON {schema}.{t}",
    """
    CREATE POLICY {t}_tenant_read ON {schema}.{t} FOR SELECT TO ksd_reader
    USING (visible_to @> ARRAY[current_setting('ksd.tenant', true)])
    """,
]

ROW_COLUMNS = (
    "id", "position", "version", "form", "category", "title", "object", "stage", "initiator", "parties",
    "party_regions", "provinces", "urusan", "value_idr", "burdens_community", "budgeted_in_apbd",
    "dprd_approval_required", "framework_signed_on", "framework_valid_until", "pks_count", "pks_in_force",
    "in_force_until", "began_on", "ended_on", "created_at", "updated_at", "created_by", "visible_to", "state",
)
# ... and the API's rendering.
VIEW_COLUMNS = (*ROW_COLUMNS, "api")
JSON_COLUMNS = frozenset({"parties", "created_by", "state"})


def json_text(value: Any) -> str:
    """`value` as JSON text, for a jsonb column (PostgreSQL parses it; msgspec writes it
    several times faster than the json module psycopg's Jsonb calls)."""
    return msgspec.json.encode(value).decode()


def row_of(agreement: Agreement, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The read-model columns of an agreement (everything but `position`); `state`: its
    `to_state()`, when the caller holds it already."""
    if state is None:
        state = agreement.to_state()
    regions = agreement.party_regions
    framework = agreement.framework or {}
    in_force = [p for p in agreement.pks if p["stage"] == PksStage.DITANDATANGANI]
    ends = [p["end_on"] for p in in_force]
    if framework.get("stage") == FrameworkStage.DITANDATANGANI:
        ends.append(framework["valid_until"])
    return {
        "id": agreement.id,
        "version": agreement.version,
        "form": agreement.form,
        "category": agreement.category,
        "title": agreement.title,
        "object": agreement.object,
        "stage": agreement.stage,
        "initiator": agreement.initiator,
        "parties": json_text(agreement.parties),
        "party_regions": regions,
        "provinces": sorted({province_of(r) for r in regions}),
        "urusan": list(agreement.urusan),
        "value_idr": agreement.value_idr,
        "burdens_community": agreement.burdens_community,
        "budgeted_in_apbd": agreement.budgeted_in_apbd,
        "dprd_approval_required": agreement.dprd_approval_required,
        "framework_signed_on": framework.get("signed_on"),
        "framework_valid_until": framework.get("valid_until"),
        "pks_count": len(agreement.pks),
        "pks_in_force": len(in_force),
        "in_force_until": sorted(ends),
        "began_on": contract.began_on(state),
        "ended_on": getattr(agreement, "ended_on", None),
        "created_at": agreement.created_on,
        "updated_at": agreement.modified_on,
        "created_by": json_text(agreement.created_by),
        "visible_to": sorted(audience_of(regions)),
        "state": json_text(state),
    }


def api_json(agreement: Agreement, state: dict[str, Any] | None = None) -> str:
    """The agreement as the API answers it (`AgreementRead`, encoded as the HTTP app encodes
    it: msgspec JSON); `state` as `row_of`'s."""
    # Imported here: the API's schemas import the application, which imports this module.
    from services.registry.api.schemas import AgreementRead

    return msgspec.json.encode(AgreementRead.from_aggregate(agreement, state)).decode()


class PostgresAgreementsView(FoldedRows, BesideView):
    """Writes the read model; every write carries its tracking record. Each agreement's record
    folds from the registry's published events (`contract.fold`, the functions the aggregate
    applies its events with), once read per batch, and is rendered and written once per batch
    with the API's JSON (shared.projection.FoldedRows)."""

    beside_tables: ClassVar[tuple[str, ...]] = ("agreements",)
    version = VIEW_VERSION
    fold = staticmethod(contract.fold)
    event_base = contract.Event
    creating_event = contract.Started

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = sql.Identifier(self.datastore.schema)
        table = self.table("agreements")
        self.sql_create_statements.extend(sql.SQL(s.replace("{t}", table)).format(schema=schema) for s in _CREATE)
        self._table = sql.SQL("{}.{}").format(schema, sql.Identifier(table))
        self._insert = sql.SQL("INSERT INTO {table} ({cols}) VALUES ({values})").format(
            table=self._table,
            cols=sql.SQL(", ").join(map(sql.Identifier, VIEW_COLUMNS)),
            values=sql.SQL(", ").join(map(sql.Placeholder, VIEW_COLUMNS)),
        )
        self.fold_into(self._table, VIEW_COLUMNS)

    def write_new(self, curs: Any, rows: list[dict[str, Any]]) -> None:
        if len(rows) == 1:  # (one INSERT: a COPY's round trips cost more for one row)
            curs.execute(self._insert, rows[0])
        else:
            super().write_new(curs, rows)

    def row(self, record: dict[str, Any]) -> dict[str, Any]:
        # To render: the aggregate's reading of its record. The record is its `to_state()` (the
        # same dict: from_state and to_state are each other's inverse), so it is not made again.
        agreement = Agreement.from_state(record)
        return {**row_of(agreement, record), "api": api_json(agreement, record)}

    def grant_reader(self) -> None:
        schema = sql.Identifier(self.datastore.schema)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, sql.Identifier(READER_ROLE)))
            curs.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(self._table, sql.Identifier(READER_ROLE)))


class AgreementsProjection(FoldingProjection):
    """The registry's events, read as its published contract's classes (`contract.Log`'s
    mapper: typed decoding, no aggregate per event)."""

    name = "agreements"  # tracking table agreements_tracking; env prefix AGREEMENTS_


# -- reads -----------------------------------------------------------------------------

# Readers serve the stored API JSON (`api`); `position` orders and pages.
COLUMNS = "id, position, api"


@dataclass(frozen=True)
class AgreementFilter:
    stage: Sequence[str] = ()
    form: Sequence[str] = ()
    category: str | None = None
    region: str | None = None
    province: str | None = None
    urusan: str | None = None
    q: str | None = None
    signed_from: date | None = None  # framework signed on or after
    signed_to: date | None = None  # framework signed on or before
    expiring_from: date | None = None  # a document in force ends on or after
    expiring_to: date | None = None  # a document in force ends on or before


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def _prefix_query(text: str) -> str | None:
    """`legok nang` -> `legok:* & nang:*` (prefix match on every word)."""
    words = re.findall(r"\w+", text.lower())
    return " & ".join(f"{w}:*" for w in words) or None


class AgreementsReadModel:
    """Async, tenant-scoped reads (HTTP and GraphQL)."""

    def __init__(self, pool: AsyncConnectionPool, schema: str = "registry") -> None:
        self.pool = pool
        self.table = sql.SQL("{}.agreements").format(sql.Identifier(schema))
        # The registry's own event store: the latest version of an agreement.
        self._head = sql.SQL("SELECT max(originator_version) AS version FROM {}.registry_events"
                             " WHERE originator_id = %s").format(sql.Identifier(schema))
        self._current = sql.SQL("SELECT version, api FROM {} WHERE id = %s AND visible_to @> ARRAY[%s]").format(
            self.table)

    async def current(self, tenant: str, agreement_id: UUID) -> dict[str, Any] | None:
        """The agreement's stored rendering (`version`, `api`) when the read model holds the
        event store's latest version of it (read-your-writes: the head is read in the same
        transaction) and `tenant` may see it; else None (the caller replays the events, which
        also tells "not found" from "not yours" the way it always has)."""
        async with self.pool.connection() as conn, conn.transaction():
            found = cast("dict[str, Any] | None", await (await conn.execute(  # the pool's rows are dicts
                self._head, (agreement_id,), prepare=True)).fetchone())
            head = found["version"] if found is not None else None
            if head is None:
                return None
            await conn.execute(
                "SELECT set_config('role', %s, true), set_config(%s, %s, true)",
                (READER_ROLE, TENANT_SETTING, tenant), prepare=True,
            )
            row = await (await conn.execute(self._current, (agreement_id, tenant), prepare=True)).fetchone()
        stored = cast("dict[str, Any] | None", row)
        return stored if stored is not None and stored["version"] == head else None

    async def get(self, tenant: str, agreement_id: UUID) -> dict[str, Any] | None:
        query = sql.SQL("SELECT {cols} FROM {table} WHERE id = %s AND visible_to @> ARRAY[%s]").format(
            cols=sql.SQL(COLUMNS), table=self.table
        )
        async with tenant_transaction(self.pool, tenant) as conn:
            cur = await conn.execute(query, (agreement_id, tenant))
            return await cur.fetchone()

    async def list(
        self, tenant: str, flt: AgreementFilter, *, limit: int, cursor: str | None = None
    ) -> Page:
        # First wall: the tenant filter in the query. Second wall: RLS on the same rows.
        where = [sql.SQL("visible_to @> ARRAY[%s]")]
        params: list[Any] = [tenant]
        expiring = flt.expiring_from or flt.expiring_to
        conditions: list[tuple[Any, str]] = [
            (list(flt.stage), "stage = ANY(%s)"),
            (list(flt.form), "form = ANY(%s)"),
            (flt.category, "category = %s"),
            (flt.region, "party_regions @> ARRAY[%s]"),
            (flt.province, "provinces @> ARRAY[%s]"),
            (flt.urusan, "urusan @> ARRAY[%s]"),
            (flt.signed_from, "framework_signed_on >= %s"),
            (flt.signed_to, "framework_signed_on <= %s"),
            # Any document in force (framework or PKS) ending within the range.
            (expiring and (flt.expiring_from or date.min, flt.expiring_to or date.max),
             "EXISTS (SELECT 1 FROM unnest(in_force_until) AS d WHERE d >= %s AND d <= %s)"),
        ]
        for value, clause in conditions:
            if value:
                where.append(sql.SQL(clause))
                params.extend(value if isinstance(value, tuple) else [value])
        if flt.q and (tsquery := _prefix_query(flt.q)):
            where.append(sql.SQL("search @@ to_tsquery('simple', %s)"))
            params.append(tsquery)
        if cursor:
            where.append(sql.SQL("position < %s"))
            params.append(decode_cursor(cursor))
        query = sql.SQL(
            "SELECT {cols} FROM {table} WHERE {where} ORDER BY position DESC LIMIT %s"
        ).format(cols=sql.SQL(COLUMNS), table=self.table, where=sql.SQL(" AND ").join(where))
        params.append(limit + 1)
        async with tenant_transaction(self.pool, tenant) as conn:
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["position"]) if more and rows else None
        return Page(rows=rows, next_cursor=next_cursor)
