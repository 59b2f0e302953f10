"""The reporting service's GraphQL schema: cross-region analysis, tenant-scoped."""

from __future__ import annotations

from typing import Any

import strawberry

from services.reporting.readmodel import ReportingReadModel
from shared.graphql import ReferenceQuery, ServiceContext, limit_extensions
from shared.regions import RegionCatalog
from shared.settings import Settings


class ReportingContext(ServiceContext, kw_only=True):
    reads: ReportingReadModel
    compiler: Any  # services.reporting.compiler.Compiler
    clock: Any
    regions: RegionCatalog


@strawberry.type
class ReportingQuery(ReferenceQuery):
    pass


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(query=ReportingQuery, extensions=limit_extensions(settings))
