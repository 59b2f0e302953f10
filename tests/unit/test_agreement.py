"""The cooperation family aggregate: starting one, and the party rules of each form."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registry.domain.agreement import (
    PARTNER_TYPES,
    Agreement,
    Category,
    Form,
    OtherParty,
    RegionParty,
    Stage,
)
from shared.errors import RuleViolation
from shared.regions import load_regions

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = {"sub": "op-1", "tenant": "32.73", "roles": ["operator"]}


def start(form: Form = Form.KSDD, category: Category | None = Category.WAJIB, partners=(RegionParty("32.04"),), **kw):  # noqa: B008 - a frozen value
    return Agreement.start(
        id=uuid4(), actor=ACTOR, at=AT, form=form, category=category, title="Legok Nangka",
        object="Pengolahan sampah", urusan=kw.pop("urusan", ["2.11"]), initiator="32.73", partners=list(partners),
        value_idr=kw.pop("value_idr", 1_000_000), burdens_community=kw.pop("burdens_community", False),
        budgeted_in_apbd=kw.pop("budgeted_in_apbd", True), adjacency=load_regions(),
    )


def test_starting_a_cooperation_records_one_started_event_in_persiapan() -> None:
    agreement = start()
    events = agreement.collect_events()
    assert [type(e).__name__ for e in events] == ["Started"]
    assert events[0].actor == ACTOR
    assert events[0].timestamp == AT
    assert agreement.stage == Stage.PERSIAPAN
    assert agreement.version == 1


def test_the_initiator_is_the_first_party() -> None:
    agreement = start(partners=[RegionParty("32.04"), RegionParty("32.17")])
    assert agreement.initiator == "32.73"
    assert agreement.party_regions == ["32.73", "32.04", "32.17"]
    assert [p["role"] for p in agreement.parties] == ["initiator", "partner", "partner"]


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    agreement = start()
    (event,) = agreement.collect_events()
    replayed = event.mutate(None)
    assert vars(replayed) | {"_pending_events": []} == vars(agreement) | {"_pending_events": []}


@pytest.mark.parametrize(
    ("form", "category", "partners", "code"),
    [
        (Form.KSDD, Category.WAJIB, [], "partner_required"),
        (Form.KSDD, None, [RegionParty("32.04")], "category_required"),
        (Form.KSDD, Category.SUKARELA, [OtherParty("PT Air", "badan_usaha")], "party_not_allowed_for_form"),
        (Form.KSDPK, Category.WAJIB, [OtherParty("PT Air", "badan_usaha")], "category_not_allowed"),
        (Form.KSDPK, None, [RegionParty("32.04")], "party_not_allowed_for_form"),
        (Form.KSDPK, None, [OtherParty("Kemenkeu", "kementerian")], "party_not_allowed_for_form"),
        (Form.KSDPL, None, [OtherParty("Braunschweig", "pemerintah_daerah_luar_negeri")], "country_required"),
        (Form.KSDLL, None, [OtherParty("JICA", "lembaga_luar_negeri")], "country_required"),
        (Form.SINERGI, None, [OtherParty("PT Air", "badan_usaha")], "party_not_allowed_for_form"),
        (Form.KSDD, Category.WAJIB, [RegionParty("32.04"), RegionParty("32.04")], "duplicate_party"),
    ],
)
def test_party_rules_of_each_form(form, category, partners, code) -> None:
    with pytest.raises(RuleViolation) as caught:
        start(form=form, category=category, partners=partners)
    assert caught.value.code == code
    assert caught.value.detail


@pytest.mark.parametrize(
    ("form", "partner"),
    [
        (Form.KSDPK, OtherParty("Universitas Swasta", "perguruan_tinggi_swasta")),
        (Form.KSDPL, OtherParty("Braunschweig", "pemerintah_daerah_luar_negeri", "Jerman")),
        (Form.KSDLL, OtherParty("JICA", "lembaga_luar_negeri", "Jepang")),
        (Form.SINERGI, OtherParty("Kementerian PUPR", "kementerian")),
    ],
)
def test_each_non_ksdd_form_accepts_its_kind_of_partner(form: Form, partner: OtherParty) -> None:
    assert start(form=form, category=None, partners=[partner]).form == form


def test_dprd_approval_is_required_when_the_plan_burdens_the_community_or_is_not_budgeted() -> None:
    assert not start(burdens_community=False, budgeted_in_apbd=True).dprd_approval_required
    assert start(burdens_community=True, budgeted_in_apbd=True).dprd_approval_required
    assert start(burdens_community=False, budgeted_in_apbd=False).dprd_approval_required
    foreign = start(form=Form.KSDPL, category=None,
                    partners=[OtherParty("Kitakyushu", "pemerintah_daerah_luar_negeri", "Jepang")])
    assert foreign.dprd_approval_required


regions = st.sampled_from(["32.04", "32.17", "32.77", "33.72", "34.71", "32", "35.78"])
others = st.builds(
    OtherParty,
    name=st.text(min_size=2, max_size=10),
    type=st.sampled_from(sorted(set().union(*PARTNER_TYPES.values()))),
    country=st.none() | st.just("Jepang"),
)


@given(
    form=st.sampled_from(list(Form)),
    category=st.none() | st.sampled_from(list(Category)),
    partners=st.lists(regions.map(RegionParty) | others, max_size=4),
)
def test_any_started_cooperation_satisfies_its_forms_party_rules(form, category, partners) -> None:
    """Whatever is asked, a cooperation either starts obeying its form's rules or is refused."""
    try:
        agreement = start(form=form, category=category, partners=partners)
    except RuleViolation:
        return
    assert agreement.stage == Stage.PERSIAPAN
    assert len(agreement.parties) >= 2
    assert len(set(agreement.party_regions)) == len(agreement.party_regions)
    non_regions = [p for p in agreement.parties if p["kind"] != "region"]
    if form is Form.KSDD:
        assert agreement.category is not None and not non_regions
    else:
        assert agreement.category is None
        assert non_regions and all(p["type"] in PARTNER_TYPES[form] for p in non_regions)
