"""GraphQL pieces every service shares: cost limits, the reference-data types and the
identity of the caller in the context. Resolvers read views and reference data only.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.litestar import BaseContext
from strawberry.types import Info

from shared.auth import Identity
from shared.errors import Unauthenticated
from shared.regions import Region, load_regions
from shared.settings import Settings
from shared.urusan import URUSAN, Urusan, get_urusan


def limit_extensions(settings: Settings) -> list[Any]:
    """Bound a query's cost before it runs: depth, aliases and size."""
    # Factories, so every request gets fresh extension instances. Parsing and validating
    # the same document again is most of a small query's cost, so both are cached.
    return [
        ParserCache,
        ValidationCache,
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
    ]


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
    @strawberry.field(description="Provinces, or the kab/kota of one province when `province` is given.")
    def regions(self, province: str | None = None) -> list[RegionType]:
        catalog = load_regions()
        regions = catalog.in_province(province) if province else catalog.provinces()
        return [RegionType.of(r) for r in regions]

    @strawberry.field(description="The 32 urusan pemerintahan.")
    def urusan(self) -> list[UrusanType]:
        return [UrusanType.of(u) for u in URUSAN]


class ServiceContext(BaseContext, kw_only=True):
    identity: Identity | None
    settings: Settings
