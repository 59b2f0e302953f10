"""Builders for lifecycle tests: start a family and drive it through its steps by commands."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from services.registry.domain import commands as c
from services.registry.domain.agreement import Agreement, Category, Form, OtherParty, RegionParty
from shared.regions import load_regions

AT = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
DAY = date(2026, 5, 20)
KOTA, KAB, PROV, OUTSIDER = "32.73", "32.04", "32", "35.78"
NATIONAL = "national"
PREPARED = date(2025, 1, 2)  # the day every test family was prepared: before any step it takes


def caller(region: str) -> c.Caller:
    return c.Caller(region, {"sub": f"op-{region}", "tenant": region, "roles": ["operator"]})


def start(
    form: Form = Form.KSDD,
    *,
    partners: list[Any] | None = None,
    burdens_community: bool = False,
    budgeted_in_apbd: bool = True,
) -> Agreement:
    default_partner: dict[Form, Any] = {
        Form.KSDD: RegionParty(KAB),
        Form.KSDPK: OtherParty("PT Air Bersih", "badan_usaha"),
        Form.KSDPL: OtherParty("Braunschweig", "pemerintah_daerah_luar_negeri", "Jerman"),
        Form.KSDLL: OtherParty("JICA", "lembaga_luar_negeri", "Jepang"),
        Form.SINERGI: OtherParty("Kementerian PUPR", "kementerian"),
    }
    agreement = Agreement.start(
        id=uuid4(), actor=caller(KOTA).actor, at=AT, form=form,
        category=Category.WAJIB if form is Form.KSDD else None, title="Pengelolaan sampah regional",
        object="TPPAS Legok Nangka", urusan=["2.11"], initiator=KOTA,
        partners=partners or [default_partner[form]], value_idr=1_000_000_000,
        burdens_community=burdens_community, budgeted_in_apbd=budgeted_in_apbd, adjacency=load_regions(),
        drafted_on=PREPARED,
    )
    agreement.collect_events()
    return agreement


def act(agreement: Agreement, command: Any, by: str = KOTA, policy: c.Policy | None = None) -> list[Any]:
    """Execute one command; return the events it recorded."""
    agreement.execute(command, by=caller(by), at=AT, policy=policy)
    return list(agreement.collect_events())


def kepala(party: str) -> c.Signatory:
    return c.Signatory(party, f"Kepala {party}", f"Kepala Daerah {party}", c.Capacity.KEPALA_DAERAH)


def signatories(agreement: Agreement, parties: list[str] | None = None) -> tuple[c.Signatory, ...]:
    result = []
    for key in parties or agreement.party_keys:
        if key in agreement.party_regions:
            result.append(kepala(key))
        else:
            result.append(c.Signatory(key, "Direktur", "Direktur Utama", c.Capacity.PERWAKILAN_MITRA))
    return tuple(result)


def offer(agreement: Agreement) -> None:
    act(agreement, c.SubmitOffer("005/KS/2026", DAY))


def accept_all(agreement: Agreement) -> None:
    for party in agreement.parties:
        if party["role"] != "partner":
            continue
        if party["kind"] == "region":
            act(agreement, c.RecordOfferResponse("accepted", f"jawab/{party['region']}", DAY), by=party["region"])
        else:
            act(agreement, c.RecordOfferResponse("accepted", "jawab/mitra", DAY, party=party["name"]))


def approve(agreement: Agreement, kind: str, document: str, region: str) -> None:
    act(agreement, c.RequestApproval(kind, f"mohon/{kind}/{region}", DAY, document=document), by=region)
    # The DPRD's decision is recorded by its region; the central one by the national level.
    act(agreement, c.RecordApproval(kind, "approved", f"setuju/{kind}/{region}", DAY, document=document),
        by=NATIONAL if kind == "central" else region)


def sign_framework(agreement: Agreement, **overrides: Any) -> list[Any]:
    fields: dict[str, Any] = {
        "number": "KB/01/2026", "signed_on": DAY, "valid_from": DAY, "valid_until": date(2031, 5, 19),
        "signatories": signatories(agreement),
        "rencana_kerja": ("Penyusunan DED",) if agreement.form == Form.SINERGI else (),
    }
    fields.update(overrides)
    return act(agreement, c.SignFramework(**fields))


def to_negotiation(form: Form = Form.KSDD, **kw: Any) -> Agreement:
    agreement = start(form, **kw)
    offer(agreement)
    accept_all(agreement)
    return agreement


def to_signed(form: Form = Form.KSDD, **kw: Any) -> Agreement:
    agreement = to_negotiation(form, **kw)
    for kind, region, _ in agreement.required_approvals(c.FRAMEWORK):
        approve(agreement, kind, c.FRAMEWORK, region)
    sign_framework(agreement)
    return agreement


def draft_pks(agreement: Agreement, **overrides: Any) -> str:
    fields: dict[str, Any] = {"title": "PKS pengangkutan sampah", "object": "Angkutan sampah ke TPPAS",
                              "drafted_on": DAY}
    fields.update(overrides)
    (event,) = act(agreement, c.DraftPks(**fields))
    return event.pks_id


def sign_pks(agreement: Agreement, pks: str, *, start_on: date = date(2026, 6, 1), end_on: date = date(2028, 5, 31),
             policy: c.Policy | None = None, **overrides: Any) -> list[Any]:
    fields: dict[str, Any] = {
        "pks": pks, "number": f"PKS/{pks}/2026", "signed_on": DAY, "start_on": start_on, "end_on": end_on,
        "signatories": signatories(agreement, agreement.pks_by_id(pks)["parties"]),
    }
    fields.update(overrides)
    return act(agreement, c.SignPks(**fields), policy=policy)


def to_implementation(form: Form = Form.KSDD, **kw: Any) -> tuple[Agreement, str]:
    agreement = to_signed(form, **kw)
    pks = draft_pks(agreement)
    for kind, region, _ in agreement.required_approvals(pks):
        approve(agreement, kind, pks, region)
    sign_pks(agreement, pks)
    return agreement, pks
