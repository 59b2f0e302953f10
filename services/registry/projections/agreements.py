"""The agreements read model: one row per cooperation family, for lists, filters and
GraphQL. Written by `AgreementsProjection` in the worker (exactly once: each row change
commits in the same transaction as the tracking position), read by `AgreementsReadModel`
in the HTTP apps inside tenant-scoped transactions that row-level security checks.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.registry.domain.agreement import Agreement, requires_dprd_approval
from shared.db import READER_ROLE, tenant_transaction
from shared.errors import BadRequest
from shared.regions import province_of
from shared.tenancy import audience_of

_CREATE = [
    """
    CREATE TABLE IF NOT EXISTS {schema}.agreements (
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
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        created_by jsonb NOT NULL,
        visible_to text[] NOT NULL,
        search tsvector GENERATED ALWAYS AS (
            to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(object, ''))
        ) STORED
    )
    """,
    "CREATE INDEX IF NOT EXISTS agreements_visible_to ON {schema}.agreements USING gin (visible_to)",
    "CREATE INDEX IF NOT EXISTS agreements_party_regions ON {schema}.agreements USING gin (party_regions)",
    "CREATE INDEX IF NOT EXISTS agreements_urusan ON {schema}.agreements USING gin (urusan)",
    "CREATE INDEX IF NOT EXISTS agreements_search ON {schema}.agreements USING gin (search)",
    # Row-level security: the second wall behind the application's own tenant filter.
    # Read transactions switch to role ksd_reader (SELECT only) with their tenant in
    # ksd.tenant, and see only rows whose audience holds it. The owner (the projection)
    # is not subject to RLS, so no write policy exists that a reader could unlock.
    "ALTER TABLE {schema}.agreements ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE {schema}.agreements NO FORCE ROW LEVEL SECURITY",
    "DROP POLICY IF EXISTS agreements_projection_write ON {schema}.agreements",
    "DROP POLICY IF EXISTS agreements_tenant_read ON {schema}.agreements",
    """
    CREATE POLICY agreements_tenant_read ON {schema}.agreements FOR SELECT TO ksd_reader
    USING (visible_to @> ARRAY[current_setting('ksd.tenant', true)])
    """,
]


def row_of(agreement_state: dict[str, Any]) -> dict[str, Any]:
    """Columns derived from an agreement's state (shared by every event handler)."""
    regions = [p["region"] for p in agreement_state["parties"] if p["kind"] == "region"]
    return {
        **agreement_state,
        "dprd_approval_required": requires_dprd_approval(
            agreement_state["form"],
            agreement_state["burdens_community"],
            agreement_state["budgeted_in_apbd"],
        ),
        "parties": Jsonb(list(agreement_state["parties"])),
        "created_by": Jsonb(agreement_state["created_by"]),
        "party_regions": regions,
        "provinces": sorted({province_of(r) for r in regions}),
        "visible_to": sorted(audience_of(regions)),
    }


class PostgresAgreementsView(PostgresTrackingRecorder):
    """Writes the read model; every write carries its tracking record."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = sql.Identifier(self.datastore.schema)
        self.sql_create_statements.extend(sql.SQL(s).format(schema=schema) for s in _CREATE)
        self._insert = sql.SQL(
            "INSERT INTO {schema}.agreements (id, position, version, form, category, title, object, stage,"
            " initiator, parties, party_regions, provinces, urusan, value_idr, burdens_community,"
            " budgeted_in_apbd, dprd_approval_required, created_at, updated_at, created_by, visible_to)"
            " VALUES (%(id)s, %(position)s, %(version)s, %(form)s, %(category)s, %(title)s, %(object)s, %(stage)s,"
            " %(initiator)s, %(parties)s, %(party_regions)s, %(provinces)s, %(urusan)s, %(value_idr)s,"
            " %(burdens_community)s, %(budgeted_in_apbd)s, %(dprd_approval_required)s, %(created_at)s, %(updated_at)s,"
            " %(created_by)s, %(visible_to)s)"
        ).format(schema=schema)

    def insert_agreement(self, state: dict[str, Any], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            curs.execute(self._insert, {**row_of(state), "position": tracking.notification_id})

    def skip(self, tracking: Tracking) -> None:
        """Record the position of an event this view does not use (keeps lag honest)."""
        self.insert_tracking(tracking)

    def grant_reader(self) -> None:
        schema = sql.Identifier(self.datastore.schema)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, sql.Identifier(READER_ROLE)))
            curs.execute(
                sql.SQL("GRANT SELECT ON {}.agreements TO {}").format(schema, sql.Identifier(READER_ROLE))
            )


class AgreementsProjection(Projection[PostgresAgreementsView]):
    name = "agreements"  # tracking table agreements_tracking; env prefix AGREEMENTS_

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.skip(tracking)

    @process_event.register
    def _(self, domain_event: Agreement.Started, tracking: Tracking) -> None:
        e = domain_event
        self.view.insert_agreement(
            {
                "id": e.originator_id,
                "version": e.originator_version,
                "form": e.form,
                "category": e.category,
                "title": e.title,
                "object": e.object,
                "stage": "persiapan",
                "initiator": e.parties[0]["region"],
                "parties": e.parties,
                "urusan": list(e.urusan),
                "value_idr": e.value_idr,
                "burdens_community": e.burdens_community,
                "budgeted_in_apbd": e.budgeted_in_apbd,
                "created_at": e.timestamp,
                "updated_at": e.timestamp,
                "created_by": e.actor,
            },
            tracking,
        )


# -- reads -----------------------------------------------------------------------------

COLUMNS = (
    "id, position, version, form, category, title, object, stage, initiator, parties, urusan, value_idr,"
    " burdens_community, budgeted_in_apbd, dprd_approval_required, created_at, updated_at, created_by"
)


@dataclass(frozen=True)
class AgreementFilter:
    stage: Sequence[str] = ()
    form: Sequence[str] = ()
    category: str | None = None
    region: str | None = None
    province: str | None = None
    urusan: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(position: int) -> str:
    """Opaque to clients: the creation position of the last row they saw."""
    return base64.urlsafe_b64encode(msgspec.json.encode({"p": position})).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=dict[str, int])["p"]
    except (ValueError, KeyError, msgspec.DecodeError):
        raise BadRequest("Parameter cursor tidak valid.", code="invalid_cursor") from None


def _prefix_query(text: str) -> str | None:
    """`legok nang` -> `legok:* & nang:*` (prefix match on every word)."""
    words = re.findall(r"\w+", text.lower())
    return " & ".join(f"{w}:*" for w in words) or None


class AgreementsReadModel:
    """Async, tenant-scoped reads (HTTP and GraphQL)."""

    def __init__(self, pool: AsyncConnectionPool, schema: str = "registry") -> None:
        self.pool = pool
        self.table = sql.SQL("{}.agreements").format(sql.Identifier(schema))

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
        if flt.stage:
            where.append(sql.SQL("stage = ANY(%s)"))
            params.append(list(flt.stage))
        if flt.form:
            where.append(sql.SQL("form = ANY(%s)"))
            params.append(list(flt.form))
        if flt.category:
            where.append(sql.SQL("category = %s"))
            params.append(flt.category)
        if flt.region:
            where.append(sql.SQL("party_regions @> ARRAY[%s]"))
            params.append(flt.region)
        if flt.province:
            where.append(sql.SQL("provinces @> ARRAY[%s]"))
            params.append(flt.province)
        if flt.urusan:
            where.append(sql.SQL("urusan @> ARRAY[%s]"))
            params.append(flt.urusan)
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
