"""GraphQL pieces every service shares: cost limits, the reference-data types and the
identity of the caller in the context. Resolvers read views and reference data only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import strawberry
import structlog
from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.litestar import BaseContext
from strawberry.types import ExecutionContext, Info

from shared.auth import Identity
from shared.db import database_outage
from shared.errors import BadRequest, KsdError, Unauthenticated, cause_chain
from shared.regions import Region, load_regions
from shared.settings import Settings
from shared.urusan import URUSAN, Urusan, get_urusan

log = structlog.get_logger("ksd.graphql")

INTERNAL_ERROR = "Terjadi kesalahan pada server; kejadian ini sudah dicatat."
DATABASE_UNAVAILABLE = "Basis data sedang tidak dapat dihubungi; coba lagi sebentar lagi."
TOO_DEEP = "Masukan bersarang terlalu dalam untuk diproses."


def limit_extensions(settings: Settings) -> list[Any]:
    """Bound a query's cost before it runs (depth, aliases, size), insist on `operationName`
    when a document holds several operations, and let no library's message out."""
    # Factories, so every request gets fresh extension instances. Parsing and validating
    # the same document again is most of a small query's cost, so both are cached. The
    # validation cache's key holds the rule classes, and strawberry's depth and alias
    # limiters define a new class per instance: the rules are built here, once per schema,
    # and every request's extension adds those same classes, or the cache would never hit.
    rules = (
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    )
    return [
        ParserCache,
        ValidationCache,
        lambda: AddValidationRules(list(rules)),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        OperationNameRequired,
        lambda: OurMessagesOnly(should_mask_error=_should_mask, error_message=INTERNAL_ERROR),
    ]


class OperationNameRequired(SchemaExtension):
    """A document with several operations runs only the one `operationName` names; without
    it strawberry would silently run the first. Refused as a GraphQL error (`data: null`,
    HTTP 200, code `operation_name_required`), like every other refusal of a document."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # strawberry's `operation_name` falls back to the first operation's name: what the
        # client sent is kept apart.
        named = getattr(context, "_provided_operation_name", None)
        if document is not None and named is None:
            operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
            if operations > 1:
                raise BadRequest(
                    f"Dokumen berisi {operations} operasi: sebutkan yang dijalankan dengan operationName.",
                    code="operation_name_required",
                )
        yield


def _original(error: GraphQLError) -> BaseException | None:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def _too_deep(original: BaseException | None) -> bool:
    return original is not None and any(isinstance(e, RecursionError) for e in cause_chain(original))


def _should_mask(error: GraphQLError) -> bool:
    """Keep GraphQL's own messages about the document (syntax, validation, a variable a
    scalar refuses: no original error but GraphQL's) and ours (KsdError, in Indonesian);
    replace everything else (whatever a resolver or a library raised)."""
    original = _original(error)
    return original is not None and not isinstance(original, (KsdError, GraphQLError))


class OurMessagesOnly(MaskErrors):
    """strawberry's MaskErrors, telling a database outage (code `database_unavailable`, which
    the controller answers with 503 and Retry-After) and input nested beyond what a recursive
    walker copes with (the client's, `too_deep`) apart from an internal error."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = _original(error)
        if original is not None and database_outage(original) is not None:
            message, code = DATABASE_UNAVAILABLE, "database_unavailable"
        elif _too_deep(original):
            message, code = TOO_DEEP, "too_deep"
        else:
            message, code = self.error_message, "internal_error"
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": code},
        )


class ServiceSchema(strawberry.Schema):
    """strawberry's schema, logging as the REST side does: a client's mistake (GraphQL's own
    errors, a KsdError below 500, a refused value) one line without a traceback; a database
    outage one warning; anything else with its traceback."""

    def get_extensions(self, sync: bool = False) -> list[SchemaExtension]:
        # An extension that awaits (`async_only`: shared.answers) serves the services'
        # asynchronous execution; a synchronous one (introspection by a tool) runs without it.
        return [e for e in super().get_extensions(sync) if not (sync and getattr(e, "async_only", False))]

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            original = _original(error)
            if original is None or isinstance(original, GraphQLError) or (
                isinstance(original, KsdError) and original.status < 500
            ):
                code = original.code if isinstance(original, KsdError) else "graphql_error"
                log.info("graphql_refused", code=code, message=error.message[:300])
            elif _too_deep(original):
                log.info("graphql_refused", code="too_deep", message=TOO_DEEP)
            elif (outage := database_outage(original)) is not None:
                log.warning("database_unavailable", error_type=type(outage).__name__, error=str(original)[:300])
            elif isinstance(original, KsdError):
                log.warning("graphql_unavailable", code=original.code, message=error.message[:300])
            else:
                log.error("graphql_unhandled_error", error_type=type(original).__name__, path=error.path,
                          exc_info=original)


def identity_from(info: Info) -> Identity:
    identity = info.context.identity
    if not isinstance(identity, Identity):
        raise Unauthenticated("Header Authorization: Bearer <token> diperlukan.")
    return identity


@strawberry.type(name="Region", description="Provinsi, kabupaten atau kota (kode Kemendagri).")
class RegionType:
    code: str
    name: str
    kind: str
    province_code: str
    autonomous: bool
    lat: float | None
    lng: float | None

    @classmethod
    def of(cls, region: Region) -> RegionType:
        return cls(
            code=region.code,
            name=region.display_name,
            kind=region.kind,
            province_code=region.province_code,
            autonomous=region.autonomous,
            lat=region.lat,
            lng=region.lng,
        )


def region_type(code: str) -> RegionType | None:
    region = load_regions().get(code)
    return RegionType.of(region) if region else None


@strawberry.type(name="Urusan", description="Urusan pemerintahan (Permendagri 90/2019).")
class UrusanType:
    code: str
    name: str
    kind: str

    @classmethod
    def of(cls, urusan: Urusan) -> UrusanType:
        return cls(code=urusan.code, name=urusan.name, kind=urusan.kind)


def urusan_types(codes: list[str]) -> list[UrusanType]:
    return [UrusanType.of(u) for c in codes if (u := get_urusan(c)) is not None]


@strawberry.type
class ReferenceQuery:
    # strawberry types `field(description=...)`, used as a decorator, as returning Any.
    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Provinces, or the kab/kota of one province when `province` is given."
    )
    def regions(self, province: str | None = None) -> list[RegionType]:
        catalog = load_regions()
        regions = catalog.in_province(province) if province else catalog.provinces()
        return [RegionType.of(r) for r in regions]

    @strawberry.field(description="The 32 urusan pemerintahan.")  # type: ignore[untyped-decorator]
    def urusan(self) -> list[UrusanType]:
        return [UrusanType.of(u) for u in URUSAN]


class ServiceContext(BaseContext, kw_only=True):
    identity: Identity | None
    settings: Settings
