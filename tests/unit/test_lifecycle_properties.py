"""Properties of the family's lifecycle: random sequences of actions never break a rule.

A state machine starts one cooperation family of a random form and then throws random
commands at it, as parties calling the API would: every command class, with the caller,
dates, documents, signatories, terms and references drawn from small domains so that
valid steps happen often and invalid ones are close misses. Happy-path steps (the next
valid action for the current state, which must be accepted from wherever the walk is) are
mixed in so the walk gets deep, some preceded by their near misses, each of which must be
refused with the code of the rule it misses. Each step goes through `Agreement.execute`;
a refused step must leave the family exactly as it was and record nothing.

After every step the machine checks what DOMAIN.md ("Lifecycle") promises, whatever came
before:

1. No stage is skipped: the family moves along `TRANSITIONS`, each PKS along
   `PKS_TRANSITIONS`, one edge per step at most.
2. Nothing is signed without its approvals, nor dated before them: a signed PKS or
   framework misses none, and a foreign framework got DPRD approval before central
   approval was even asked.
3. No PKS term exceeds the policy's limit without a sector-law exception, neither when it
   is signed nor when it is extended.
4. Only the authorized sign: heads of region for the framework, heads of region or
   officials with a surat kuasa for a PKS, and every party of the document signs.
5. The family's stage agrees with its documents: `pelaksanaan` means a PKS was signed (or
   the SINERGI work plan started), `berakhir` that everything ended, `dibatalkan` that no
   framework was signed; SINERGI never has a PKS.
6. The history is the truth: replaying the recorded events, or reloading a snapshot,
   rebuilds the same family.
7. Dates follow the law's order (answers after the offer, the framework after them, a PKS
   drafted after its framework and signed after its draft, within the framework's validity
   unless excepted), and only the national level records the central government's decision.

The happy-path test drives every form to `berakhir` through the same checks, and the
coverage test shows the random walk really signs, extends and ends families, and is
refused by each of the rules above: the properties are not vacuous. The last tests are
about dates across steps; each was a gap the walk found, now a rule (`signed_before_approval`, `date_out_of_order`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from services.registry import contract
from services.registry.domain import commands as c
from services.registry.domain.agreement import (
    FOREIGN_FORMS,
    PKS_CLOSED,
    PKS_OPEN,
    PKS_TRANSITIONS,
    SIGNED,
    TRANSITIONS,
    Agreement,
    Category,
    Form,
    FrameworkStage,
    OtherParty,
    PksStage,
    RegionParty,
    Stage,
    add_years,
)
from shared.errors import Forbidden, RuleViolation
from shared.feeds import ContractMapper
from shared.regions import load_regions
from tests.unit.lifecycle import (
    AT,
    DAY,
    KOTA,
    NATIONAL,
    OUTSIDER,
    PREPARED,
    act,
    caller,
    draft_pks,
    sign_pks,
    to_negotiation,
    to_signed,
)
from tests.unit.test_event_upcasting import make_mapper

TODAY = AT.date()
FRAMEWORK = c.FRAMEWORK
SIGNED_PKS = frozenset({PksStage.DITANDATANGANI, PksStage.BERAKHIR, PksStage.DIPUTUS})

Draw = Callable[[st.SearchStrategy[Any]], Any]

# -- small domains ----------------------------------------------------------------------------

PARTNERS: dict[Form, list[Any]] = {
    Form.KSDD: [RegionParty("32.04"), RegionParty("32.17")],
    Form.KSDPK: [
        OtherParty("PT Air Bersih", "badan_usaha"), OtherParty("Universitas Pasundan", "perguruan_tinggi_swasta"),
    ],
    Form.KSDPL: [OtherParty("Braunschweig", "pemerintah_daerah_luar_negeri", "Jerman")],
    Form.KSDLL: [OtherParty("JICA", "lembaga_luar_negeri", "Jepang")],
    Form.SINERGI: [OtherParty("Kementerian PUPR", "kementerian")],
}
# Dates a step states about itself (sent, answered, requested, decided, signed): never after the clock.
STEP_DAYS = [date(2025, 1, 15), date(2026, 1, 10), date(2026, 5, 20), TODAY]
# Where terms start: around the clock, and a 29 February whose anniversaries fall back to the 28th.
TERM_STARTS = [date(2025, 7, 1), date(2026, 6, 1), date(2027, 1, 1), date(2028, 2, 29)]
REFERENCES = ["005/KS/2026", "005/KS/2026", "180/DPRD/2026", "  "]  # a blank one is refused
EXCEPTIONS = [None, None, "UU 23/2014 Pasal 363 (sektor SDA)", "   "]  # a blank exception is no exception
APPROVAL_DETOUR = st.sampled_from([False] * 3 + [True])
OFFER_DETOUR = st.sampled_from([False] * 5 + [True])
SIGNATORY_VARIANTS = ["correct"] * 5 + [
    "kuasa_with_letter", "kuasa_without_letter", "missing_party", "region_as_partner", "duplicate", "stranger",
    "unnamed",
]

step_days = st.sampled_from(STEP_DAYS)
references = st.sampled_from(REFERENCES)


def term_end(start: date, draw: Draw) -> date:
    """An end around whole years after `start`: inside, on and just past each limit, or before it."""
    years = draw(st.integers(0, 6))
    return add_years(start, years) + timedelta(days=draw(st.sampled_from([-1, 0, 1])))


ANY_FORM = st.sampled_from(Form)


@st.composite
def families(draw: Draw, forms: st.SearchStrategy[Form] = ANY_FORM) -> dict[str, Any]:
    """How a family starts: a form, its partners (2-3 regions for KSDD) and its budget facts."""
    form = draw(forms)
    candidates = PARTNERS[form]
    partners = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=len(candidates), unique=True))
    return {
        "form": form,
        "category": draw(st.sampled_from(Category)) if form is Form.KSDD else None,
        "partners": partners,
        "burdens_community": draw(st.booleans()),
        "budgeted_in_apbd": draw(st.booleans()),
    }


def start_family(family: dict[str, Any]) -> tuple[Agreement, list[Any]]:
    agreement = Agreement.start(
        id=uuid4(), actor=caller(KOTA).actor, at=AT, title="Pengelolaan sampah regional",
        object="TPPAS Legok Nangka", urusan=["2.11"], initiator=KOTA, value_idr=1_000_000_000,
        adjacency=load_regions(), drafted_on=PREPARED, **family,
    )
    return agreement, list(agreement.collect_events())


# -- signatories ------------------------------------------------------------------------------


def kepala(party: str) -> c.Signatory:
    return c.Signatory(party, f"Kepala {party}", f"Kepala Daerah {party}", c.Capacity.KEPALA_DAERAH)


def kuasa(party: str, letter: str | None) -> c.Signatory:
    return c.Signatory(party, "Kepala Dinas", "Kepala Dinas Lingkungan Hidup", c.Capacity.PEJABAT_KUASA, letter)


def mitra(party: str) -> c.Signatory:
    return c.Signatory(party, "Direktur", "Direktur Utama", c.Capacity.PERWAKILAN_MITRA)


def signatories_for(agreement: Agreement, parties: list[str], variant: str, draw: Draw) -> tuple[c.Signatory, ...]:
    """One signatory per party as the rules want it, or one close miss, in a random order."""
    regions = set(agreement.party_regions)
    result = [kepala(p) if p in regions else mitra(p) for p in parties]
    first_region = next((i for i, p in enumerate(parties) if p in regions), None)
    if first_region is not None:
        party = parties[first_region]
        if variant == "kuasa_with_letter":
            result[first_region] = kuasa(party, "800/SK-KUASA/2026")
        elif variant == "kuasa_without_letter":
            result[first_region] = kuasa(party, draw(st.sampled_from([None, " "])))
        elif variant == "region_as_partner":
            result[first_region] = mitra(party)
    if variant == "missing_party" and result:
        result.pop()
    elif variant == "duplicate" and result:
        result.append(result[0])
    elif variant == "stranger":
        result.append(kepala(OUTSIDER))
    elif variant == "unnamed" and result:
        result[0] = c.Signatory(result[0].party, " ", result[0].position, result[0].capacity)
    return tuple(draw(st.permutations(result)))


def valid_pks_signatories(agreement: Agreement, parties: list[str], draw: Draw) -> tuple[c.Signatory, ...]:
    regions = set(agreement.party_regions)
    result = [
        (draw(st.sampled_from([kepala(p), kuasa(p, "800/SK-KUASA/2026")])) if p in regions else mitra(p))
        for p in parties
    ]
    return tuple(draw(st.permutations(result)))


# -- the happy path: the next valid action, whatever the state ---------------------------------


def approval_step(agreement: Agreement, document: str, draw: Draw) -> tuple[Any, str] | None:
    """Ask for, or record, the first approval `document` still misses (DPRD before central)."""
    for kind, region in agreement.missing_approvals(document):
        if agreement.approval_status(kind, document, region) == "pending":
            pending = next(
                a for a in reversed(agreement.approvals)
                if (a["kind"], a["document"], a["region"]) == (kind, document, region)
            )
            decided_on = draw(st.dates(date.fromisoformat(pending["requested_on"]), TODAY))
            recorder = NATIONAL if kind == "central" else region  # who decides records the decision
            return c.RecordApproval(kind, "approved", "SK/DPRD/2026", decided_on, document=document), recorder
        requested_on = step_day_after(agreement, document, draw)
        return c.RequestApproval(kind, "mohon/2026", requested_on, document=document), region
    return None


def earliest_step_day(agreement: Agreement, document: str) -> date | None:
    """The first day the next step on `document` may bear and keep its history in order: not
    before the approvals it got, nor the offer and its answers (the framework's draft) nor,
    for a PKS, the framework's signature and the PKS's own draft; once signed, not before
    its signature."""
    earlier = [
        date.fromisoformat(r["decided_on"])
        for r in agreement.approvals
        if r["document"] == document and r["decision"] == "approved"
    ]
    if agreement.offer is not None:
        earlier.append(date.fromisoformat(agreement.offer["sent_on"]))
    earlier.extend(date.fromisoformat(r["responded_on"]) for r in agreement.responses.values())
    if agreement.framework is not None:
        earlier.append(date.fromisoformat(agreement.framework["signed_on"]))
    pks = agreement.pks_by_id(document) if document != FRAMEWORK else None
    if pks is not None:
        earlier.extend(date.fromisoformat(d) for d in (pks["drafted_on"], pks["signed_on"]) if d)
    return max(earlier, default=None)


def step_day_after(agreement: Agreement, document: str, draw: Draw) -> date:
    earliest = earliest_step_day(agreement, document)
    return draw(st.dates(earliest, TODAY)) if earliest else draw(step_days)


def step_day_around(agreement: Agreement, document: str, draw: Draw) -> date:
    """Any step day, or the day before the earliest one that keeps the history in order."""
    earliest = earliest_step_day(agreement, document)
    return draw(st.sampled_from([*([earliest - timedelta(days=1)] if earliest else []), *STEP_DAYS]))


def framework_signature(agreement: Agreement, draw: Draw) -> c.SignFramework:
    valid_from = draw(st.sampled_from(TERM_STARTS))
    valid_until = add_years(valid_from, draw(st.integers(1, 6)))
    return c.SignFramework(
        "KB/01/2026", step_day_after(agreement, FRAMEWORK, draw), valid_from, valid_until,
        signatories_for(agreement, agreement.party_keys, "correct", draw),
        rencana_kerja=("Penyusunan DED",) if agreement.form == Form.SINERGI else (),
    )


def pks_signature(agreement: Agreement, pks: dict[str, Any], draw: Draw, policy: c.Policy) -> c.SignPks:
    """A valid signature: within the limit and the framework's validity, or beyond them under
    a sector-law exception."""
    start_on = draw(st.sampled_from(TERM_STARTS))
    limit = add_years(start_on, policy.pks_max_years)
    framework = agreement.framework
    excepted = draw(st.booleans())
    if not excepted and framework is not None:
        start_on = max(start_on, date.fromisoformat(framework["valid_from"]))
        limit = min(add_years(start_on, policy.pks_max_years), date.fromisoformat(framework["valid_until"]))
        excepted = limit <= start_on  # no room inside the framework: only an exception allows it
    # (Under an exception the end may pass the limit, which may lie before the start: a
    # framework that ended before the PKS begins.)
    end_on = draw(st.dates(start_on + timedelta(days=1), add_years(max(limit, start_on), 2) if excepted else limit))
    return c.SignPks(
        pks["id"], f"PKS/{pks['id']}/2026", step_day_after(agreement, pks["id"], draw), start_on, end_on,
        valid_pks_signatories(agreement, pks["parties"], draw),
        exception_reference="UU 23/2014 Pasal 363" if excepted else None,
    )


def happy_command(agreement: Agreement, draw: Draw, policy: c.Policy) -> tuple[Any, str] | None:
    """The next action that takes the family towards `berakhir` and that the rules must accept
    from any reachable state; None once the family is closed."""
    stage, form = Stage(agreement.stage), Form(agreement.form)
    initiator = agreement.initiator
    if stage is Stage.PERSIAPAN:
        has_other = any(p["kind"] == "other" for p in agreement.parties)
        direction = draw(st.sampled_from(["sent", "received"])) if has_other else "sent"
        return c.SubmitOffer("005/KS/2026", draw(step_days), direction), initiator
    if stage is Stage.PENAWARAN:
        answered_on = step_day_after(agreement, FRAMEWORK, draw)  # not before the offer
        partner = next(
            p for p, key in zip(agreement.parties, agreement.party_keys, strict=True)
            if p["role"] == "partner" and key not in agreement.responses
        )
        if partner["kind"] == "region":
            return c.RecordOfferResponse("accepted", "jawab/2026", answered_on), partner["region"]
        return c.RecordOfferResponse("accepted", "jawab/2026", answered_on, party=partner["name"]), initiator
    if stage is Stage.PENYUSUNAN_KESEPAKATAN:
        step = approval_step(agreement, FRAMEWORK, draw)
        if step is not None:
            return step
        return framework_signature(agreement, draw), draw(st.sampled_from(agreement.party_regions))
    if stage not in SIGNED:
        return None
    ending = c.Terminate(FRAMEWORK, draw(st.sampled_from(c.Ground)), "akhir/2026",
                         step_day_after(agreement, FRAMEWORK, draw))
    if form is Form.SINERGI:
        if stage is Stage.KESEPAKATAN_DITANDATANGANI:
            return c.StartWorkPlan(step_day_after(agreement, FRAMEWORK, draw)), initiator
        return ending, initiator
    open_pks = [p for p in agreement.pks if p["stage"] in PKS_OPEN]
    if open_pks:
        pks = open_pks[0]
        step = approval_step(agreement, pks["id"], draw)
        if step is not None:
            return step
        return pks_signature(agreement, pks, draw, policy), draw(st.sampled_from(agreement.party_regions))
    # Drafted on a day not before the framework's signature (the default, today, always is).
    drafted_on = draw(st.sampled_from([None, step_day_after(agreement, FRAMEWORK, draw)]))
    draft = c.DraftPks("PKS pengangkutan sampah", "Angkutan sampah ke TPPAS", drafted_on=drafted_on)
    if not any(p["signed_on"] for p in agreement.pks):
        return draft, initiator
    in_force = [p for p in agreement.pks if p["stage"] == PksStage.DITANDATANGANI]
    choice = draw(st.sampled_from(["draft", "extend", "amend", "terminate"]))
    if choice == "draft" and len(agreement.pks) < 3:
        return draft, initiator
    if not in_force:
        return ending, initiator
    pks = in_force[0]
    if choice == "extend" and len(pks["extensions"]) < 2:
        end = date.fromisoformat(pks["end_on"])
        latest = min(add_years(end, policy.pks_max_years), date.fromisoformat(agreement.framework["valid_until"]))
        # Beyond the framework's validity only under an exception.
        exception = None if latest > end else "UU 23/2014 Pasal 363"
        new_end = draw(st.dates(end + timedelta(days=1), latest if exception is None else add_years(end, 1)))
        signed_on = step_day_after(agreement, pks["id"], draw)
        return c.Extend(pks["id"], "perpanjangan/2026", signed_on, new_end, exception), initiator
    if choice == "amend" and len(pks["addenda"]) < 2:
        signed_on = step_day_after(agreement, pks["id"], draw)
        return c.Amend(pks["id"], "addendum/2026", signed_on, "Pasal 5 diubah", value_idr=2_000), initiator
    ended_on = step_day_after(agreement, pks["id"], draw)
    return c.Terminate(pks["id"], draw(st.sampled_from(c.Ground)), "akhir/2026", ended_on), initiator


# Each wrong signatory variant, and the code that must refuse it.
FRAMEWORK_SIGNATORY_CODES = {
    "kuasa_with_letter": "signatory_not_authorized",  # no surat kuasa for the framework
    "kuasa_without_letter": "signatory_not_authorized",
    "missing_party": "signatory_missing",
    "region_as_partner": "signatory_not_authorized",
    "duplicate": "duplicate_signatory",
    "stranger": "unknown_party",
    "unnamed": "signatory_incomplete",
}
PKS_SIGNATORY_CODES = {
    **{k: v for k, v in FRAMEWORK_SIGNATORY_CODES.items() if k != "kuasa_with_letter"},
    "kuasa_without_letter": "surat_kuasa_required",
}


def near_misses(
    agreement: Agreement, command: Any, by: str, draw: Draw, policy: c.Policy
) -> list[tuple[Any, str, str]]:
    """Close misses of the valid next step `command`: (command, caller, the code that must refuse it)."""
    misses: list[tuple[Any, str, str]] = [(command, OUTSIDER, "not_a_party")]
    if isinstance(command, c.SignFramework | c.SignPks):
        framework = isinstance(command, c.SignFramework)
        codes = FRAMEWORK_SIGNATORY_CODES if framework else PKS_SIGNATORY_CODES
        parties = agreement.party_keys if framework else agreement.pks_by_id(command.pks)["parties"]
        for variant, code in codes.items():
            misses.append((replace(command, signatories=signatories_for(agreement, parties, variant, draw)), by, code))
        document = FRAMEWORK if framework else command.pks
        decided = [
            r["decided_on"] for r in agreement.approvals if r["document"] == document and r["decision"] == "approved"
        ]
        if decided:  # dated the day before its last approval
            day_before = date.fromisoformat(max(decided)) - timedelta(days=1)
            misses.append((replace(command, signed_on=day_before), by, "signed_before_approval"))
        if isinstance(command, c.SignPks):
            end_on = add_years(command.start_on, policy.pks_max_years) + timedelta(days=1)
            misses.append((replace(command, end_on=end_on, exception_reference=None), by, "duration_exceeds_limit"))
        elif agreement.form == Form.SINERGI:  # skipping the signature
            misses.append((c.StartWorkPlan(TODAY), by, "stage_transition_not_allowed"))
        else:
            misses.append((c.DraftPks("PKS", "Objek"), by, "framework_not_signed"))
    elif isinstance(command, c.RequestApproval | c.RecordApproval):
        document = command.document
        kind, _ = agreement.missing_approvals(document)[0]
        if document == FRAMEWORK:
            signing: Any = framework_signature(agreement, draw)
        else:
            signing = pks_signature(agreement, agreement.pks_by_id(document), draw, policy)
        signer = agreement.initiator if by == NATIONAL else by  # the national level signs nothing
        misses.append((signing, signer, f"{kind}_approval_required"))
        if isinstance(command, c.RecordApproval) and command.kind == "central":  # the region records it itself
            misses.append((command, agreement.initiator, "central_approval_recorded_by_national"))
        if (document, command.kind) == (FRAMEWORK, "dprd") and Form(agreement.form) in FOREIGN_FORMS:
            central = c.RequestApproval("central", "mohon/2026", TODAY, document=FRAMEWORK)
            misses.append((central, by, "dprd_approval_required"))
    elif isinstance(command, c.Extend) and command.document != FRAMEWORK:
        end = date.fromisoformat(agreement.pks_by_id(command.document)["end_on"])
        new_end = add_years(end, policy.pks_max_years) + timedelta(days=1)
        misses.append((replace(command, new_end=new_end, exception_reference=None), by, "duration_exceeds_limit"))
    elif isinstance(command, c.Terminate) and command.document != FRAMEWORK:
        misses.append((replace(command, document=FRAMEWORK), by, "documents_still_open"))
    elif isinstance(command, c.DraftPks | c.StartWorkPlan):
        misses.append((c.Cancel("Tidak berlanjut"), by, "framework_already_signed"))
    elif isinstance(command, c.SubmitOffer):  # answering an offer not yet made; sent by a partner
        answer = c.RecordOfferResponse("accepted", "jawab/2026", TODAY, party=agreement.party_keys[-1])
        misses.append((answer, agreement.party_regions[-1], "stage_transition_not_allowed"))
        if len(agreement.party_regions) > 1:
            misses.append((command, agreement.party_regions[-1], "not_initiator"))
    elif isinstance(command, c.RecordOfferResponse):  # signing before every partner accepted
        misses.append((framework_signature(agreement, draw), agreement.initiator, "stage_transition_not_allowed"))
    return misses


# -- the rules, as checks on any state ---------------------------------------------------------


def stage_map(agreement: Agreement) -> tuple[str, dict[str, str]]:
    return agreement.stage, {p["id"]: p["stage"] for p in agreement.pks}


def assert_moves_along_the_graph(before: tuple[str, dict[str, str]], after: tuple[str, dict[str, str]]) -> None:
    """1. One step moves the family and each PKS along one edge of its graph at most."""
    (family_before, pks_before), (family_after, pks_after) = before, after
    assert family_after == family_before or Stage(family_after) in TRANSITIONS[Stage(family_before)], (
        f"family skipped from {family_before} to {family_after}"
    )
    assert set(pks_before) <= set(pks_after), "a PKS disappeared"
    for pks_id, stage in pks_after.items():
        previous = pks_before.get(pks_id)
        if previous is None:
            assert stage == PksStage.PENYUSUNAN, f"{pks_id} was born {stage}"
        else:
            assert stage == previous or PksStage(stage) in PKS_TRANSITIONS[PksStage(previous)], (
                f"{pks_id} skipped from {previous} to {stage}"
            )


def assert_signed_documents_have_their_approvals(agreement: Agreement) -> None:
    """2. Nothing is signed without its approvals, nor dated before them; central approval is
    asked after the DPRD's."""

    def approved_by(document: str, signed_on: str) -> None:
        assert agreement.missing_approvals(document) == [], f"{document} signed without its approvals"
        for record in agreement.approvals:
            if record["document"] == document and record["decision"] == "approved":
                assert record["decided_on"] <= signed_on, f"{document} signed on {signed_on}, before its approval"

    for pks in agreement.pks:
        if pks["stage"] in SIGNED_PKS:
            approved_by(pks["id"], pks["signed_on"])
    if agreement.framework is not None:
        approved_by(FRAMEWORK, agreement.framework["signed_on"])
        if Form(agreement.form) in FOREIGN_FORMS:
            approved = {
                a["kind"] for a in agreement.approvals if a["document"] == FRAMEWORK and a["decision"] == "approved"
            }
            assert approved == {"dprd", "central"}
    for i, record in enumerate(agreement.approvals):
        if record["kind"] == "central":
            assert any(
                (earlier["kind"], earlier["document"], earlier["region"], earlier["decision"])
                == ("dprd", record["document"], record["region"], "approved")
                for earlier in agreement.approvals[:i]
            ), "central approval asked before the DPRD approved"


def assert_pks_terms_within_policy(agreement: Agreement, policy: c.Policy) -> None:
    """3. A PKS term, as signed and as extended, stays within the limit unless excepted."""
    limit = policy.pks_max_years
    for pks in agreement.pks:
        if pks["stage"] not in SIGNED_PKS:
            assert (pks["extensions"], pks["end_on"]) == ([], None)
            continue
        for excepted in [pks["exception_reference"], *(e["exception_reference"] for e in pks["extensions"])]:
            assert excepted is None or excepted.strip() == excepted != ""
        start_on = date.fromisoformat(pks["start_on"])
        extensions = pks["extensions"]
        end = date.fromisoformat(extensions[0]["previous_end"] if extensions else pks["end_on"])
        assert start_on < end
        if not pks["exception_reference"]:
            assert end <= add_years(start_on, limit), f"{pks['id']} signed for longer than {limit} years"
        for extension in extensions:
            assert date.fromisoformat(extension["previous_end"]) == end
            new_end = date.fromisoformat(extension["new_end"])
            assert new_end > end
            if not extension["exception_reference"]:
                assert new_end <= add_years(end, limit), f"{pks['id']} extended for longer than {limit} years"
            end = new_end
        assert end == date.fromisoformat(pks["end_on"])


def assert_signatories_authorized(agreement: Agreement) -> None:
    """4. Heads of region sign the framework; a PKS official holds a surat kuasa; every party signs."""
    regions = set(agreement.party_regions)
    if agreement.framework is not None:
        signatories = agreement.framework["signatories"]
        assert sorted(s["party"] for s in signatories) == sorted(agreement.party_keys), "framework signatories"
        for s in signatories:
            if s["party"] in regions:
                assert s["capacity"] == c.Capacity.KEPALA_DAERAH, f"{s['party']} signed the framework by proxy"
    for pks in agreement.pks:
        signatories = pks["signatories"]
        if pks["stage"] not in SIGNED_PKS:
            assert signatories == []
            continue
        assert sorted(s["party"] for s in signatories) == sorted(pks["parties"]), f"{pks['id']} signatories"
        for s in signatories:
            if s["party"] in regions:
                assert s["capacity"] != c.Capacity.PERWAKILAN_MITRA, f"{s['party']} signed {pks['id']} as a partner"
                if s["capacity"] == c.Capacity.PEJABAT_KUASA:
                    assert s["surat_kuasa"], f"{s['party']} signed {pks['id']} by proxy without a surat kuasa"


def assert_stage_matches_the_documents(agreement: Agreement) -> None:
    """5. The family's stage tells the truth about its documents."""
    stage, form, framework = Stage(agreement.stage), Form(agreement.form), agreement.framework
    assert (framework is not None) == (stage in SIGNED or stage is Stage.BERAKHIR)
    if form is Form.SINERGI:
        assert agreement.pks == []
    if agreement.pks:
        assert framework is not None, "a PKS without a signed framework"
    if stage in SIGNED:
        assert framework is not None and framework["stage"] == FrameworkStage.DITANDATANGANI
    if stage is Stage.PELAKSANAAN:
        if form is Form.SINERGI:
            assert framework is not None and framework["work_plan_started_on"]
        else:
            assert any(p["signed_on"] for p in agreement.pks), "pelaksanaan without a signed PKS"
    if stage is Stage.BERAKHIR:
        assert framework is not None and framework["stage"] in (FrameworkStage.BERAKHIR, FrameworkStage.DIPUTUS)
        assert all(p["stage"] in PKS_CLOSED for p in agreement.pks), "berakhir with a PKS still open"
    if stage is Stage.DIBATALKAN:
        assert framework is None


def assert_history_rebuilds_the_family(agreement: Agreement, history: list[Any]) -> None:
    """6. Replaying the recorded events, or reloading a snapshot, rebuilds the same family."""
    rebuilt = None
    for recorded in history:
        rebuilt = recorded.mutate(rebuilt)
    assert rebuilt is not None
    state = agreement.to_state()
    assert rebuilt.to_state() == state
    assert Agreement.from_state(copy.deepcopy(state)).to_state() == state
    assert_contract_rebuilds_the_record(history, state)


class _ContractMapper(ContractMapper):
    topics = contract.TOPICS


_STORE = make_mapper()  # as the registry's application stores events
CONTRACT_MAPPER = _ContractMapper(transcoder=_STORE.transcoder)  # as its readers decode them


def assert_contract_rebuilds_the_record(history: list[Any], state: dict[str, Any]) -> None:
    """6b. Another service reading the same history as stored, through the registry's published
    contract (its plain event classes and `fold`), builds the aggregate's state, key for key."""
    record = None
    for recorded in history:
        stored = _STORE.to_stored_event(recorded)
        published = CONTRACT_MAPPER.to_domain_event(stored)
        assert isinstance(published, contract.Event), f"{type(recorded).__name__} is not in the contract"
        # The typed decoding (msgspec, straight from the bytes) reads what the transcoder's way
        # reads (taken for the same JSON written with other spacing).
        spaced = json.dumps(json.loads(stored.state)).encode()
        assert CONTRACT_MAPPER.to_domain_event(dataclasses.replace(stored, state=spaced)) == published
        record = contract.fold(record, published)
    assert json.loads(json.dumps(record)) == json.loads(json.dumps(state))


def assert_dates_in_the_law_s_order(agreement: Agreement, history: list[Any]) -> None:
    """7. The dates the documents state follow the law's order: answers after the offer, the
    framework signed after them, a PKS drafted after the framework and signed after its
    draft, within the framework's validity unless excepted; the central government's decision
    recorded by the national level."""
    offer = agreement.offer["sent_on"] if agreement.offer else None
    for response in agreement.responses.values():
        assert offer is not None and response["responded_on"] >= offer, "an answer predates its offer"
    framework = agreement.framework
    if framework is not None:
        assert all(r["responded_on"] <= framework["signed_on"] for r in agreement.responses.values()), (
            "the framework was signed before the offer was answered"
        )
    for pks in agreement.pks:
        assert framework is not None and pks["drafted_on"] >= framework["signed_on"], f"{pks['id']} drafted early"
        if pks["stage"] not in SIGNED_PKS:
            continue
        assert pks["signed_on"] >= pks["drafted_on"], f"{pks['id']} signed before it was drafted"
        extensions = pks["extensions"]
        signed_end = extensions[0]["previous_end"] if extensions else pks["end_on"]
        if not pks["exception_reference"]:
            assert framework["valid_from"] <= pks["start_on"], f"{pks['id']} starts before its framework"
            assert signed_end <= framework["valid_until"], f"{pks['id']} outlives its framework"
        for extension in extensions:
            if not extension["exception_reference"]:
                assert extension["new_end"] <= framework["valid_until"], f"{pks['id']} extended past its framework"
    for recorded in history:
        if type(recorded).__name__ == "ApprovalRecorded" and recorded.kind == "central":
            assert recorded.actor["tenant"] == NATIONAL, "a region recorded the central government's decision"


def assert_every_rule_holds(agreement: Agreement, policy: c.Policy, history: list[Any]) -> None:
    assert_dates_in_the_law_s_order(agreement, history)
    assert_signed_documents_have_their_approvals(agreement)
    assert_pks_terms_within_policy(agreement, policy)
    assert_signatories_authorized(agreement)
    assert_stage_matches_the_documents(agreement)
    assert_history_rebuilds_the_family(agreement, history)


# -- the state machine -------------------------------------------------------------------------


class LifecycleMachine(RuleBasedStateMachine):
    """One family under random commands; `reached` counts what the walks achieved (all runs)."""

    forms: st.SearchStrategy[Form] = ANY_FORM
    reached: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.agreement: Agreement
        self.history: list[Any] = []
        self.policy = c.Policy()
        self.moves: list[tuple[tuple[str, dict[str, str]], tuple[str, dict[str, str]]]] = []

    @initialize(max_years=st.integers(1, 5), head_start=st.integers(0, 30), data=st.data())
    def start(self, max_years: int, head_start: int, data: st.DataObject) -> None:
        """Start a family, and take it a random number of valid steps along the happy path, so
        that the random commands hit every stage."""
        self.agreement, self.history = start_family(data.draw(families(self.forms), label="family"))
        self.policy = c.Policy(pks_max_years=max_years)
        self.take_the_next_steps_on_the_happy_path(data, head_start)

    # -- executing one command -------------------------------------------------------------

    def execute(self, command: Any, by: str) -> str | None:
        """Run one command as the API would; None when accepted, or the code that refused it.
        A refusal must leave no trace."""
        agreement = self.agreement
        before = copy.deepcopy(agreement.to_state())
        stages_before = stage_map(agreement)
        try:
            agreement.execute(command, by=caller(by), at=AT, policy=self.policy)
        except (RuleViolation, Forbidden) as refusal:
            assert refusal.code and refusal.detail
            assert agreement.to_state() == before, f"refused {refusal.code} but the family changed"
            assert agreement.collect_events() == [], f"refused {refusal.code} but an event was recorded"
            self.count(f"refused {refusal.code}")
            return refusal.code
        events = agreement.collect_events()
        assert len(events) == 1, f"{type(command).__name__} recorded {len(events)} events"
        (recorded,) = events
        self.history.append(recorded)
        self.moves.append((stages_before, stage_map(agreement)))
        name = type(recorded).__name__
        self.count(f"accepted {name}")
        if name == "ApprovalRequested" and recorded.kind == "central":
            # Asked only once the DPRD has approved (decided before, not merely requested).
            assert agreement.approval_status("dprd", recorded.document, recorded.region) == "approved"
        if name == "ApprovalRecorded" and recorded.decision == "rejected":
            self.count("approval rejected")
        if name == "Extended" and recorded.document != FRAMEWORK:
            self.count("PKS extended")
        if name == "PksSigned" and recorded.exception_reference:
            self.count("PKS signed under a sector-law exception")
        if agreement.stage != stages_before[0]:
            self.count(f"{agreement.form} reached {agreement.stage}")
            if agreement.stage in (Stage.BERAKHIR, Stage.DIBATALKAN):
                self.count(f"family {agreement.stage}")
        return None

    def count(self, label: str) -> None:
        LifecycleMachine.reached[label] += 1
        event(label)

    def by(self, data: st.DataObject) -> str:
        regions = self.agreement.party_regions
        return data.draw(st.sampled_from([*regions, *regions, *regions, OUTSIDER, NATIONAL]), label="by")

    def pks_id(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([*(p["id"] for p in self.agreement.pks), "pks-9"]), label="pks")

    def document(self, data: st.DataObject) -> str:
        documents = [FRAMEWORK, *(p["id"] for p in self.agreement.pks), "pks-9"]
        return data.draw(st.sampled_from(documents), label="document")

    def current_end(self, document: str) -> date | None:
        if document == FRAMEWORK:
            end = self.agreement.framework and self.agreement.framework["valid_until"]
        else:
            pks = self.agreement.pks_by_id(document)
            end = pks and pks["end_on"]
        return date.fromisoformat(end) if end else None

    # -- random commands, one rule per command class ------------------------------------------

    @rule(data=st.data(), steps=st.integers(1, 10))
    def take_the_next_steps_on_the_happy_path(self, data: st.DataObject, steps: int) -> None:
        """Valid steps from wherever the random walk left the family must be accepted; close
        misses of one, tried first, must be refused for the rule they miss."""
        for _ in range(steps):
            step = happy_command(self.agreement, data.draw, self.policy)
            if step is None:
                return
            command, by = step
            if isinstance(command, c.SignFramework | c.SignPks):
                # Ready to sign: sign, or stop here for the random rules, or sign with one thing
                # changed at random (whether that is refused is for the invariants to judge).
                choice = data.draw(st.sampled_from(["sign", "sign", "stop", "change one thing"]), label="signature")
                if choice == "stop":
                    return
                if choice == "change one thing":
                    signing = self.sign_the_framework if isinstance(command, c.SignFramework) else self.sign_a_pks
                    signing(data)
                    continue
            # Detours the rules allow: a DPRD or the central government says no, a partner declines.
            detour = {c.RecordApproval: APPROVAL_DETOUR, c.RecordOfferResponse: OFFER_DETOUR}.get(type(command))
            if detour is not None and data.draw(detour, label="detour"):
                command = replace(command, decision="rejected")
            if data.draw(st.booleans(), label="try the near misses first"):
                for wrong, wrong_by, code in near_misses(self.agreement, command, by, data.draw, self.policy):
                    assert self.execute(wrong, wrong_by) == code, f"{wrong} by {wrong_by} was not refused with {code}"
            refusal = self.execute(command, by)
            assert refusal is None, f"the happy path's next step was refused ({refusal}): {command}"

    @rule(data=st.data())
    def submit_an_offer(self, data: st.DataObject) -> None:
        direction = data.draw(st.sampled_from(["sent", "sent", "received"]))
        self.execute(c.SubmitOffer(data.draw(references), data.draw(step_days), direction), self.by(data))

    @rule(data=st.data())
    def answer_the_offer(self, data: st.DataObject) -> None:
        decision = data.draw(st.sampled_from(["accepted"] * 5 + ["rejected"]))
        party = data.draw(st.sampled_from([None, None, *self.agreement.party_keys]))
        command = c.RecordOfferResponse(decision, data.draw(references), data.draw(step_days), party=party)
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def request_an_approval(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["dprd", "dprd", "central"]))
        command = c.RequestApproval(kind, data.draw(references), data.draw(step_days), document=self.document(data))
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def record_an_approval(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["dprd", "dprd", "central"]))
        decision = data.draw(st.sampled_from(["approved", "approved", "rejected"]))
        command = c.RecordApproval(
            kind, decision, data.draw(references), data.draw(step_days), document=self.document(data)
        )
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def sign_the_framework(self, data: st.DataObject) -> None:
        """A valid signature with one thing changed: if the rules let it through, the invariants see it."""
        agreement, sinergi = self.agreement, self.agreement.form == Form.SINERGI
        command = framework_signature(agreement, data.draw)
        change = data.draw(st.sampled_from(["signatories", "date", "period", "type", "plan", "none"]))
        if change == "signatories":
            variant = data.draw(st.sampled_from(SIGNATORY_VARIANTS), label="signatories")
            command = replace(command, signatories=signatories_for(agreement, agreement.party_keys, variant, data.draw))
        elif change == "date":
            command = replace(command, signed_on=step_day_around(agreement, FRAMEWORK, data.draw))
        elif change == "period":
            command = replace(command, valid_until=term_end(command.valid_from, data.draw))
        elif change == "type":
            command = replace(command, document_type=data.draw(st.sampled_from(["mou", "loi", "kesepakatan_bersama"])))
        elif change == "plan":
            command = replace(command, rencana_kerja=() if sinergi else ("Penyusunan DED",))
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def start_the_work_plan(self, data: st.DataObject) -> None:
        self.execute(c.StartWorkPlan(data.draw(step_days)), self.by(data))

    @rule(data=st.data())
    def draft_a_pks(self, data: st.DataObject) -> None:
        keys = [*self.agreement.party_keys, "Koperasi Lain"]
        parties = data.draw(st.one_of(st.just(()), st.lists(st.sampled_from(keys), max_size=3).map(tuple)))
        command = c.DraftPks(
            data.draw(st.sampled_from(["PKS pengangkutan sampah", "PKS pengangkutan sampah", " "])),
            "Angkutan sampah ke TPPAS", parties=parties, value_idr=data.draw(st.sampled_from([None, 5_000, -1])),
            burdens_community=data.draw(st.sampled_from([None, True, False])),
            budgeted_in_apbd=data.draw(st.sampled_from([None, True, False])),
        )
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def sign_a_pks(self, data: st.DataObject) -> None:
        """A valid signature of an open PKS (if any) with one thing changed."""
        agreement = self.agreement
        open_pks = [p for p in agreement.pks if p["stage"] in PKS_OPEN]
        if open_pks:
            pks = data.draw(st.sampled_from(open_pks))
        else:
            pks = {"id": self.pks_id(data), "parties": agreement.party_keys}
        command = pks_signature(agreement, pks, data.draw, self.policy)
        change = data.draw(st.sampled_from(["signatories", "term", "date", "pks", "none"]))
        if change == "signatories":
            variant = data.draw(st.sampled_from(SIGNATORY_VARIANTS), label="signatories")
            command = replace(command, signatories=signatories_for(agreement, pks["parties"], variant, data.draw))
        elif change == "term":
            end_on = term_end(command.start_on, data.draw)
            command = replace(command, end_on=end_on, exception_reference=data.draw(st.sampled_from(EXCEPTIONS)))
        elif change == "date":
            command = replace(command, signed_on=step_day_around(agreement, command.pks, data.draw))
        elif change == "pks":
            command = replace(command, pks=self.pks_id(data))
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def amend_a_document(self, data: st.DataObject) -> None:
        command = c.Amend(
            self.document(data), data.draw(references), data.draw(step_days),
            data.draw(st.sampled_from(["Pasal 5 diubah", "Pasal 5 diubah", " "])),
            value_idr=data.draw(st.sampled_from([None, 2_000, -1])),
        )
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def extend_a_document(self, data: st.DataObject) -> None:
        document = self.document(data)
        end = self.current_end(document) or data.draw(st.sampled_from(TERM_STARTS))
        command = c.Extend(
            document, data.draw(references), data.draw(step_days), term_end(end, data.draw),
            exception_reference=data.draw(st.sampled_from(EXCEPTIONS)),
        )
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def terminate_a_document(self, data: st.DataObject) -> None:
        command = c.Terminate(
            self.document(data), data.draw(st.sampled_from(c.Ground)), data.draw(references),
            data.draw(step_days), note=data.draw(st.sampled_from([None, "Berita acara"])),
        )
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        command = c.Cancel(
            data.draw(st.sampled_from(["Tidak berlanjut", " "])),
            document=data.draw(st.sampled_from([None, *(p["id"] for p in self.agreement.pks), "pks-9"])),
            reference=data.draw(st.sampled_from([None, "batal/2026"])),
        )
        self.execute(command, self.by(data))

    @rule(data=st.data())
    def attach_a_document(self, data: st.DataObject) -> None:
        command = c.AttachDocument(
            data.draw(st.sampled_from(["berita_acara", "lainnya", "bukan_jenis_dokumen"])),
            data.draw(st.sampled_from(["notulen.pdf", " "])), 1024, "application/pdf", "a" * 64,
            document=data.draw(st.sampled_from([None, FRAMEWORK, *(p["id"] for p in self.agreement.pks), "pks-9"])),
        )
        self.execute(command, self.by(data))

    # -- the rules hold after every step --------------------------------------------------------

    @invariant()
    def no_stage_is_skipped(self) -> None:
        for before, after in self.moves:
            assert_moves_along_the_graph(before, after)
        self.moves.clear()

    @invariant()
    def nothing_is_signed_without_its_approvals(self) -> None:
        assert_signed_documents_have_their_approvals(self.agreement)

    @invariant()
    def no_pks_term_exceeds_the_policy_without_an_exception(self) -> None:
        assert_pks_terms_within_policy(self.agreement, self.policy)

    @invariant()
    def only_authorized_signatories_sign_and_every_party_signs(self) -> None:
        assert_signatories_authorized(self.agreement)

    @invariant()
    def the_family_stage_agrees_with_its_documents(self) -> None:
        assert_stage_matches_the_documents(self.agreement)

    @invariant()
    def replaying_the_history_rebuilds_the_same_family(self) -> None:
        assert_history_rebuilds_the_family(self.agreement, self.history)


MACHINE_SETTINGS = settings(max_examples=150, stateful_step_count=40, deadline=None)

TestRandomActionSequencesNeverBreakALifecycleRule = LifecycleMachine.TestCase
TestRandomActionSequencesNeverBreakALifecycleRule.settings = MACHINE_SETTINGS


def test_random_walks_sign_extend_and_end_families_and_meet_every_rule() -> None:
    """The properties are not vacuous: a fixed (derandomized) set of walks of each form reaches
    the deep stages, and the walks together are refused by each rule the invariants stand for.
    Some refusals are rare in any one set of walks (and what a derandomized set draws depends
    on the day and on the strategies other tests have registered): a label still missing after
    the fixed set is looked for in up to three more sets of random walks."""
    reached: dict[Form, Counter[str]] = {form: Counter() for form in Form}

    def walk(form: Form, *, derandomize: bool) -> None:
        machine = type(f"{form.value}LifecycleMachine", (LifecycleMachine,), {"forms": st.just(form)})
        LifecycleMachine.reached.clear()
        run_state_machine_as_test(
            machine, settings=settings(MACHINE_SETTINGS, max_examples=60, derandomize=derandomize, database=None)
        )
        reached[form] += Counter(LifecycleMachine.reached)

    for form in Form:
        walk(form, derandomize=True)
    for _more in range(3):
        missing = _never_reached(reached)
        if not missing:
            break
        forms = {form for form, _label in missing}
        for form in Form if None in forms else forms:
            walk(form, derandomize=False)
    missing = _never_reached(reached)
    assert missing == [], f"never reached: {[f'{form}: {label}' if form else label for form, label in missing]}"


def _never_reached(reached: dict[Form, Counter[str]]) -> list[tuple[Form | None, str]]:
    """The labels the walks should have met and did not: (form, label) for what each form's
    walks must meet, (None, label) for what the walks of all forms together must."""
    missing: list[tuple[Form | None, str]] = []
    for form, labels in reached.items():
        expected = [
            "accepted FrameworkSigned", f"{form} reached {Stage.PELAKSANAAN}", "family berakhir",
            "refused not_a_party", "refused stage_transition_not_allowed", "refused signatory_missing",
        ]
        if form is Form.SINERGI:
            expected += ["accepted WorkPlanStarted"]
        else:
            expected += ["accepted PksSigned", "PKS extended", "refused duration_exceeds_limit"]
        if form in FOREIGN_FORMS:
            expected += ["refused central_approval_required", "refused central_approval_recorded_by_national"]
        missing += [(form, label) for label in expected if labels[label] == 0]
    together = sum(reached.values(), Counter())
    missing += [
        (None, label)
        for label in [
            "family dibatalkan", "approval rejected", "accepted Amended", "PKS signed under a sector-law exception",
            "refused framework_already_signed", "refused framework_not_signed", "refused documents_still_open",
            "refused dprd_approval_required", "refused signed_before_approval", "refused surat_kuasa_required",
            "refused signatory_not_authorized", "refused duplicate_signatory", "refused unknown_party",
            "refused signatory_incomplete", "refused not_initiator", "refused date_out_of_order",
            "refused date_before_request", "refused pks_outside_framework_validity",
        ]
        if together[label] == 0
    ]
    return missing


# -- the happy path, for every form ------------------------------------------------------------


@pytest.mark.parametrize("form", list(Form))
@settings(max_examples=15, deadline=None)
@given(data=st.data(), max_years=st.integers(1, 5))
def test_every_form_reaches_berakhir_along_the_happy_path(form: Form, data: st.DataObject, max_years: int) -> None:
    family = data.draw(families(st.just(form)))
    agreement, history = start_family(family)
    policy = c.Policy(pks_max_years=max_years)
    for _ in range(100):
        step = happy_command(agreement, data.draw, policy)
        if step is None:
            break
        command, by = step
        before = stage_map(agreement)
        agreement.execute(command, by=caller(by), at=AT, policy=policy)
        history.extend(agreement.collect_events())
        assert_moves_along_the_graph(before, stage_map(agreement))
        assert_every_rule_holds(agreement, policy, history)
    assert agreement.stage == Stage.BERAKHIR
    if form is Form.SINERGI:
        assert agreement.framework["work_plan_started_on"] and agreement.pks == []
    else:
        assert any(p["stage"] in (PksStage.BERAKHIR, PksStage.DIPUTUS) for p in agreement.pks)
    if form in FOREIGN_FORMS:
        assert [(a["kind"], a["decision"]) for a in agreement.approvals if a["document"] == FRAMEWORK] == [
            ("dprd", "approved"), ("central", "approved"),
        ]


# -- dates across steps: a later step never bears an earlier date than the step it needs ---------


@settings(max_examples=50, deadline=None)
@given(decided_on=st.dates(DAY, TODAY), signed_on=st.dates(DAY, TODAY))
def test_a_pks_is_never_signed_on_a_day_before_its_dprd_approval_was_decided(decided_on: date, signed_on: date) -> None:
    agreement = to_signed(Form.KSDPK, budgeted_in_apbd=False)
    pks = draft_pks(agreement)
    act(agreement, c.RequestApproval("dprd", "mohon/2026", DAY, document=pks))
    act(agreement, c.RecordApproval("dprd", "approved", "SK/DPRD/2026", decided_on, document=pks))
    try:
        sign_pks(agreement, pks, signed_on=signed_on)
    except RuleViolation:
        return
    assert signed_on >= decided_on, f"PKS signed on {signed_on}, DPRD approved on {decided_on}"


@settings(max_examples=50, deadline=None)
@given(decided_on=st.dates(DAY, TODAY), requested_on=st.dates(DAY, TODAY))
def test_central_approval_is_never_requested_on_a_day_before_the_dprd_decided(
    decided_on: date, requested_on: date
) -> None:
    agreement = to_negotiation(Form.KSDPL)
    act(agreement, c.RequestApproval("dprd", "mohon/DPRD/2026", DAY))
    act(agreement, c.RecordApproval("dprd", "approved", "SK/DPRD/2026", decided_on))
    try:
        act(agreement, c.RequestApproval("central", "mohon/pusat/2026", requested_on))
    except RuleViolation:
        return
    assert requested_on >= decided_on, f"central approval requested on {requested_on}, DPRD decided on {decided_on}"


@settings(max_examples=50, deadline=None)
@given(signed_on=st.dates(date(2025, 1, 1), TODAY))
def test_a_pks_is_never_signed_on_a_day_before_its_framework(signed_on: date) -> None:
    agreement = to_signed(Form.KSDPK)  # framework signed on 2026-05-20; the PKS needs no approval
    pks = draft_pks(agreement)
    try:
        sign_pks(agreement, pks, signed_on=signed_on)
    except RuleViolation:
        return
    framework_signed_on = date.fromisoformat(agreement.framework["signed_on"])
    assert signed_on >= framework_signed_on, f"PKS signed on {signed_on}, its framework on {framework_signed_on}"
