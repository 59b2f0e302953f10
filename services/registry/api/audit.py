"""REST for auditors: history, verification, export bundles, the transparency log's signed tree
heads and proofs, and the national digests signed before the log replaced them (historical)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, Parameter, QueryParameter

from services.registry.audit import Audit
from shared.errors import BadRequest
from shared.http import identity_of

# On a read of an agreement whose verification fails (history, `?version`, `?as_of`).
INTEGRITY_HEADER = "X-KSD-Integrity"


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
    recorded_at, actor, data}). An event that can no longer be read has `error` instead.
    `correctable_facts`: the facts of `data` a correction of this step may change
    (`POST .../actions/correct`), sorted; empty for a step that states none. Not hashed."""

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
    correctable_facts: list[str] | None = None


class ReasonText(msgspec.Struct):
    id: str
    en: str


class DigestAnchor(msgspec.Struct):
    sequence: int
    issued_at: str
    anchored_version: int | None
    matches: bool


class LogAnchor(msgspec.Struct):
    """Where the agreement stands in the transparency log: the latest signed tree head, the
    last version whose leaf is proven in it, and the positions of its leaves."""

    tree_size: int | None
    signed_at: str | None
    root: str | None
    anchored_version: int | None
    leaves: int
    positions: list[int]


class Verification(msgspec.Struct):
    valid: bool
    events: int
    head_hash: str | None
    first_invalid_version: int | None
    reason: str | None
    reason_text: ReasonText | None
    digest: DigestAnchor | None  # always null now: the log (below) replaced the national digest here
    log: LogAnchor | None = None


class Consistency(msgspec.Struct):
    from_: int | None = msgspec.field(name="from")
    proof: list[str]


class TreeHead(msgspec.Struct):
    """A signed tree head of the transparency log: Ed25519 (`signature`, base64) over the RFC
    8785 canonical JSON of {format, size, root, signed_at, key_id}; `consistency`: the proof
    (RFC 9162 2.1.4) from the previous head's size (null for the first head)."""

    format: str
    size: int
    root: str
    signed_at: str
    key_id: str
    signature: str
    public_key: str
    consistency: Consistency


class TreeHeadPage(msgspec.Struct):
    items: list[TreeHead]
    next_before: int | None


class InclusionProof(msgspec.Struct):
    seq: int
    size: int
    leaf_hash: str | None
    proof: list[str]


class ConsistencyProof(msgspec.Struct):
    from_: int = msgspec.field(name="from")
    to: int
    proof: list[str]


class LogLeaf(msgspec.Struct):
    seq: int
    leaf_hash: str


class LeafPage(msgspec.Struct):
    items: list[LogLeaf]


class NationalDigest(msgspec.Struct):
    """Historical: no longer signed (the transparency log's tree heads, `/audit/heads`,
    replaced it). Signed (Ed25519, base64 `signature`) over the canonical JSON of the other
    fields except `public_key`: the Merkle root (RFC 9162) of every agreement's head hash,
    leaves `{"id", "version", "hash"}` sorted by id, over the events up to `position`.
    Bundles of format v1 prove a history against one of these."""

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
    async def history(
        self, request: Request, state: State, agreement_id: FromPath[UUID]
    ) -> Response[list[HistoryEvent]]:
        audit: Audit = state.audit
        events = await anyio.to_thread.run_sync(audit.history, identity_of(request), agreement_id)
        warning = await anyio.to_thread.run_sync(audit.integrity_warning, agreement_id)
        return Response(msgspec.convert(events, list[HistoryEvent]),
                        headers={INTEGRITY_HEADER: "failed"} if warning else {})

    @get("/verify", operation_id="verifyAgreement",
         summary="Recompute the hash chain and check it against the transparency log")
    async def verify(self, request: Request, state: State, agreement_id: FromPath[UUID]) -> Verification:
        audit: Audit = state.audit
        result = await anyio.to_thread.run_sync(audit.verify, identity_of(request), agreement_id)
        return msgspec.convert(result, Verification)

    @get("/export", operation_id="exportAgreement", summary="Audit bundle for `ksd audit verify` (auditor, monitor)",
         description="A self-contained JSON file (format v2): the events with their hashes, each leaf's inclusion "
                     "proof in the first signed tree head covering the history (signed now when none does), that "
                     "head, the latest head with the consistency proof between them, and the public key.")
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

    @get("/", operation_id="listDigests",
         summary="National digests signed before the transparency log, newest first (public, historical)",
         description="No digest is signed any more: the log's signed tree heads (`/audit/heads`) replaced them. "
                     "The digests already signed stay published, for the v1 bundles that prove a history against "
                     "one of them.",
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


class TransparencyLogController(Controller):
    """The transparency log, public: heads and proofs are hashes only, and
    the leaves are served as hashes (no agreement ids), enough to mirror and check the log."""

    path = "/audit"
    tags = ["audit"]  # noqa: RUF012

    @get("/heads", operation_id="listTreeHeads", summary="Signed tree heads, largest first (public)",
         opt={"exclude_from_auth": True})
    async def list_heads(
        self,
        state: State,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        before: Annotated[int | None, Parameter(ge=1, le=2**63 - 1,
                                                description="size: heads smaller than this")] = None,
    ) -> TreeHeadPage:
        audit: Audit = state.audit
        items = await anyio.to_thread.run_sync(audit.list_heads, limit + 1, before)
        page = msgspec.convert(items[:limit], list[TreeHead])
        return TreeHeadPage(items=page, next_before=page[-1].size if len(items) > limit else None)

    @get("/heads/{size:int}", operation_id="getTreeHead", summary="The signed tree head of this size (public)",
         opt={"exclude_from_auth": True})
    async def get_head(self, state: State, size: FromPath[int]) -> TreeHead:
        audit: Audit = state.audit
        return msgspec.convert(await anyio.to_thread.run_sync(audit.get_head, size), TreeHead)

    @get("/proofs/inclusion", operation_id="inclusionProof", summary="RFC 9162 inclusion proof (public)",
         opt={"exclude_from_auth": True})
    async def inclusion(
        self,
        state: State,
        seq: Annotated[int, Parameter(ge=0, le=2**63 - 1)],
        size: Annotated[int, Parameter(ge=1, le=2**63 - 1)],
    ) -> InclusionProof:
        audit: Audit = state.audit
        return msgspec.convert(await anyio.to_thread.run_sync(audit.inclusion, seq, size), InclusionProof)

    @get("/proofs/consistency", operation_id="consistencyProof", summary="RFC 9162 consistency proof (public)",
         opt={"exclude_from_auth": True})
    async def consistency(
        self,
        state: State,
        first: Annotated[int, QueryParameter(name="from", ge=0, le=2**63 - 1)],
        second: Annotated[int, QueryParameter(name="to", ge=0, le=2**63 - 1)],
    ) -> ConsistencyProof:
        audit: Audit = state.audit
        return msgspec.convert(await anyio.to_thread.run_sync(audit.consistency, first, second), ConsistencyProof)

    @get("/leaves", operation_id="listLogLeaves", summary="Leaf hashes at positions [from, to) (public)",
         opt={"exclude_from_auth": True})
    async def leaves(
        self,
        state: State,
        first: Annotated[int, QueryParameter(name="from", ge=0, le=2**63 - 1)],
        second: Annotated[int, QueryParameter(name="to", ge=1, le=2**63 - 1)],
    ) -> LeafPage:
        if second <= first or second - first > MAX_LEAVES_PAGE:
            raise BadRequest(f"to harus > from, paling banyak {MAX_LEAVES_PAGE} daun sekali minta.",
                             code="invalid_range")
        audit: Audit = state.audit
        return LeafPage(items=msgspec.convert(await anyio.to_thread.run_sync(audit.leaves, first, second),
                                              list[LogLeaf]))


MAX_LEAVES_PAGE = 10_000
