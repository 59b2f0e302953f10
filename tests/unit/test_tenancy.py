"""The visibility rule of DOMAIN.md as one function, tested on the cases it names."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.regions import load_regions
from shared.tenancy import NATIONAL, audience_of, can_see

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
