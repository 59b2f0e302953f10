"""Who may see what: the visibility rule of DOMAIN.md ("Regions and tenants").

A region sees the agreements it is a party to; a province also sees those of its
kabupaten/kota; the national level (Kemendagri) sees all. An agreement between regions of
two provinces is therefore visible to both provinces. Every read-model row stores the
resulting audience, and PostgreSQL row-level security checks it again per request.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.regions import is_region_code, province_of

NATIONAL = "national"

__all__ = ["NATIONAL", "audience_of", "can_see", "is_region_code", "narrowed", "province_of"]


def audience_of(party_regions: Iterable[str]) -> frozenset[str]:
    """The tenants that may see an agreement whose region parties are `party_regions`."""
    audience = {NATIONAL}
    for code in party_regions:
        audience.add(code)
        audience.add(province_of(code))
    return frozenset(audience)


def can_see(tenant: str, party_regions: Iterable[str]) -> bool:
    """The one visibility rule, for callers holding the parties rather than an audience."""
    return tenant in audience_of(party_regions)


def narrowed(tenant: str, scope: str) -> str:
    """The tenant to read a region's or a province's (`scope`) data as: `scope` itself when
    `tenant` sees everything `scope` sees (national; the scope's province; the scope), else
    `tenant` unchanged. Every row visible to a region also names its province and the
    national level in its audience, so reading as the narrower tenant shows exactly the
    scope's rows, never more than `tenant` may see, with row-level security still applied;
    and PostgreSQL plans the scope's own audience (a few rows of an index) instead of the
    national one (every row, checked one by one before any other condition may use an index)."""
    if tenant in (NATIONAL, scope) or (is_region_code(scope) and province_of(scope) == tenant):
        return scope
    return tenant

