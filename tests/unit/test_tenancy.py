"""The visibility rule of DOMAIN.md as one function, tested on the cases it names."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.regions import load_regions
from shared.tenancy import NATIONAL, audience_of, can_see, narrowed

BANDUNG_PAIR = ["32.73", "32.04"]


@pytest.mark.parametrize("tenant", ["32.73", "32.04", "32", "national"])
def test_parties_their_province_and_the_nation_see_it(tenant: str) -> None:
    assert can_see(tenant, BANDUNG_PAIR)


@pytest.mark.parametrize("tenant", ["35", "35.78", "32.77", "33", "31"])
def test_everyone_else_does_not(tenant: str) -> None:
    assert not can_see(tenant, BANDUNG_PAIR)


def test_a_cross_province_agreement_is_visible_to_both_provinces() -> None:
    audience = audience_of(["32.73", "33.72"])
    assert {"32", "33"} <= audience
    assert "34" not in audience


def test_a_province_party_is_seen_by_itself_and_the_nation() -> None:
    assert audience_of(["32"]) == {"32", NATIONAL}


codes = st.sampled_from([r.code for r in load_regions().all()])


@given(parties=st.lists(codes, min_size=1, max_size=6), tenant=codes)
def test_a_region_sees_an_agreement_only_if_it_or_its_province_is_involved(parties: list[str], tenant: str) -> None:
    involved = tenant in parties or (len(tenant) == 2 and any(p[:2] == tenant for p in parties))
    assert can_see(tenant, parties) == involved
    assert can_see(NATIONAL, parties)


tenants = st.one_of(st.just(NATIONAL), codes)


@given(parties=st.lists(codes, min_size=1, max_size=6), tenant=tenants, scope=codes)
def test_reading_a_scope_as_its_narrowed_tenant_shows_the_scopes_rows_and_never_more(
    parties: list[str], tenant: str, scope: str
) -> None:
    """`narrowed(tenant, scope)`: the national level, a province and a region read a scope
    they oversee as the scope itself; whoever reads as the narrowed tenant sees an agreement
    only if the original tenant could, and sees every agreement of the scope it could."""
    reader = narrowed(tenant, scope)
    assert reader in (tenant, scope)
    if can_see(reader, parties):
        assert can_see(tenant, parties)  # never more than the tenant may see
    if reader == scope and can_see(scope, parties):
        assert can_see(tenant, parties)
    oversees = tenant in (NATIONAL, scope) or (len(scope) == 5 and scope[:2] == tenant)
    assert (reader == scope) == oversees


def test_the_nation_and_a_province_read_a_scope_they_oversee_as_that_scope() -> None:
    assert narrowed(NATIONAL, "32") == "32"
    assert narrowed(NATIONAL, "32.73") == "32.73"
    assert narrowed("32", "32.73") == "32.73"
    assert narrowed("32", "32") == "32"
    assert narrowed("32.73", "32") == "32.73"  # a kota does not oversee its province
    assert narrowed("35", "32.73") == "35"  # nor a province another's kota
