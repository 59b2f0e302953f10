"""REST for auditors: history, verification, export bundles and the national digests."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from services.registry.audit import Audit
from shared.errors import BadRequest
from shared.http import identity_of


class ImportMark(msgspec.Struct):
    """Set on the steps of a legacy import (`POST /imports`): which file, which row, who."""

    file_sha256: str
    row: int
    sub: str


class Actor(msgspec.Struct, omit_defaults=True):
    sub: str
    tenant: str
    roles: list[str]
    imported: ImportMark | None = None


class HistoryEvent(msgspec.Struct, omit_defaults=True):
    """One recorded event. `data` is what the event recorded (with its `class_version`);
    `hash` = SHA-256(prev_hash bytes + canonical JSON of {originator, version, type, topic,
    recorded_at, actor, data}). An event that can no longer be read has `error` instead."""

    version: int
    prev_hash: str | None
    hash: str | None
    type: str | None = None
    topic: str | None = None
    recorded_at: str | None = None
    actor: Actor | None = None
    data: dict[str, Any] | None = None
    error: str | None = None
    reason: str | None = None


class ReasonText(msgspec.Struct):
    id: str
    en: str


class DigestAnchor(msgspec.Struct):
    sequence: int
    issued_at: str
    anchored_version: int | None
    matches: bool


class Verification(msgspec.Struct):
    valid: bool
    events: int
    head_hash: str | None
    first_invalid_version: int | None
    reason: str | None
    reason_text: ReasonText | None
    digest: DigestAnchor | None


class NationalDigest(msgspec.Struct):
    """Signed (Ed25519, base64 `signature`) over the canonical JSON of the other fields
    except `public_key`: the Merkle root (RFC 9162) of every agreement's head hash, leaves
    `{"id", "version", "hash"}` sorted by id, over the events up to `position`."""

    format: str
    sequence: int
    issued_at: str
    position: int
    tree_size: int
    root: str
    previous_root: str | None
    key_id: str
    signature: str
    public_key: str


class DigestPage(msgspec.Struct):
    items: list[NationalDigest]
    next_before: int | None


class AgreementAuditController(Controller):
    path = "/agreements/{agreement_id:uuid}"
    tags = ["audit"]  # noqa: RUF012

    @get("/history", operation_id="agreementHistory", summary="Every event in order, with its hash chain")
    async def history(self, request: Request, state: State, agreement_id: FromPath[UUID]) -> list[HistoryEvent]:
        audit: Audit = state.audit
        events = await anyio.to_thread.run_sync(audit.history, identity_of(request), agreement_id)
        return msgspec.convert(events, list[HistoryEvent])

    @get("/verify", operation_id="verifyAgreement", summary="Recompute the hash chain and check it against the digest")
    async def verify(self, request: Request, state: State, agreement_id: FromPath[UUID]) -> Verification:
        audit: Audit = state.audit
        result = await anyio.to_thread.run_sync(audit.verify, identity_of(request), agreement_id)
        return msgspec.convert(result, Verification)

    @get("/export", operation_id="exportAgreement", summary="Audit bundle for `ksd audit verify` (auditor, monitor)",
         description="A self-contained JSON file: the events with their hashes, the latest national digest (signed "
                     "now when the last one does not cover this history), the inclusion proof and the public key.")
    async def export(self, request: Request, state: State, agreement_id: FromPath[UUID]) -> Response[dict[str, Any]]:
        audit: Audit = state.audit
        bundle = await anyio.to_thread.run_sync(audit.export, identity_of(request), agreement_id)
        return Response(
            bundle,
            headers={"Content-Disposition": f'attachment; filename="audit-{agreement_id}.json"'},
        )


class DigestController(Controller):
    path = "/audit/digests"
    tags = ["audit"]  # noqa: RUF012

    @get("/", operation_id="listDigests", summary="Published national digests, newest first (public)",
         opt={"exclude_from_auth": True})
    async def list_digests(
        self,
        state: State,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        before: Annotated[int | None, Parameter(ge=1, le=2**63 - 1,  # a PostgreSQL bigint
                                                description="sequence: digests older than this")] = None,
    ) -> DigestPage:
        audit: Audit = state.audit
        if limit > 100:
            raise BadRequest("limit paling banyak 100.", code="limit_too_large")
        items = await anyio.to_thread.run_sync(audit.list_digests, limit + 1, before)
        page = msgspec.convert(items[:limit], list[NationalDigest])
        return DigestPage(items=page, next_before=page[-1].sequence if len(items) > limit else None)
