"""Dates and their legal order: the dates the documents state have happened, and follow the
law's order of steps (DOMAIN.md, "Lifecycle"; PP 28/2018; Permendagri 22/2020, 25/2020).

A step is named by its action (the API's name, as `conflicts_with.step` carries it) with its
ISO date: the helpers below find, in a family's state, the step another one must follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from services.registry.domain.commands import FRAMEWORK
from services.registry.domain.rules.rule import Rule, text
from services.registry.domain.rules.vocabulary import Family
from services.registry.domain.wording import day_words, pks_words, step_words
from shared.errors import RuleViolation
from shared.periods import EARLIEST_DAY

# Indonesia's easternmost zone (WIT) is UTC+9: a date stated on a document is "in the
# future" only when it is after today's date there.
LATEST_LOCAL_OFFSET = timedelta(hours=9)

Step = tuple[str, str]  # (action, ISO date)


# -- the steps a step follows (facts of the state, no rule) ---------------------------------------

def latest(*steps: tuple[str, str | None]) -> Step | None:
    """The latest of (step, ISO date) pairs that have a date; the first of equal ones."""
    dated = [(day, -i, step) for i, (step, day) in enumerate(steps) if day]
    if not dated:
        return None
    day, _, step = max(dated)
    return step, day


def created_step(family: Family) -> Step | None:
    """The start (`POST /agreements`) with the day it was prepared, if recorded."""
    drafted_on = getattr(family, "drafted_on", None)
    return ("create", drafted_on) if drafted_on else None


def offer_step(family: Family) -> Step | None:
    return ("submit-offer", family.offer["sent_on"]) if family.offer else None


def draft_step(family: Family, document: str) -> Step | None:
    """The step that brought `document`'s draft into being, with its date: a PKS's
    `draft-pks`; the framework's, the last partner's acceptance of the offer."""
    if document == FRAMEWORK:
        return latest(offer_step(family) or ("submit-offer", None),
                      *(("record-offer-response", r["responded_on"]) for r in family.responses.values()))
    pks = family.pks_by_id(document)
    return ("draft-pks", pks["drafted_on"]) if pks else None


def signed_step(family: Family, document: str) -> Step | None:
    if document == FRAMEWORK:
        return ("sign-framework", family.framework["signed_on"]) if family.framework else None
    pks = family.pks_by_id(document)
    return ("sign-pks", pks["signed_on"]) if pks and pks.get("signed_on") else None


def last_step_before_signature(family: Family) -> Step | None:
    """The latest dated step of a family not yet signed (for its cancellation)."""
    return latest(
        created_step(family) or ("create", None),
        draft_step(family, FRAMEWORK) or ("submit-offer", None),
        *(("request-approval", a["requested_on"]) for a in family.approvals if a["document"] == FRAMEWORK),
        *(("record-approval", a["decided_on"]) for a in family.approvals if a["document"] == FRAMEWORK),
    )


# -- the rules ------------------------------------------------------------------------------------

class PossibleDay(Rule):
    """A document states a day that could have happened: not before the Republic was
    proclaimed (a year typed short, 0224 for 2024, would leave the document outside every
    period), not after today in the easternmost zone (WIT)."""

    def check(self, day: date, at: datetime, what: str) -> None:
        if day < EARLIEST_DAY:
            raise RuleViolation("date_too_early", f"Tanggal {what} ({day_words(day)}) mendahului Proklamasi "
                                "(17 Agustus 1945); periksa tahunnya.")
        if day > (at + LATEST_LOCAL_OFFSET).date():
            raise RuleViolation("date_in_future", f"Tanggal {what} ({day_words(day)}) belum terjadi.")


class LegalOrder(Rule):
    """The law's order on the dates the documents state: a step may not be dated before the
    step it follows. The refusal names that step: in words in its detail, by its action and
    ISO date in `conflicts_with`."""

    def check(
        self, day: date, what: str, earlier: Step | None, code: str = "date_out_of_order",
        framework: str = "Kesepakatan Bersama",
    ) -> None:
        if earlier is None:
            return
        step, then = earlier
        if day < date.fromisoformat(then):
            raise RuleViolation(
                code,
                f"Tanggal {what} ({day_words(day)}) mendahului {step_words(step, framework)} "
                f"({day_words(then)}), yang harus lebih dulu.",
                conflicts_with={"step": step, "date": then},
            )


class CentralAfterDprd(Rule):
    """Permendagri 25/2020: the central government is asked after the DPRD approved; the
    request is not dated before the DPRD's decision."""

    def check(self, requested_on: date, dprd: Mapping[str, Any] | None) -> None:
        if dprd is not None and requested_on < date.fromisoformat(dprd["decided_on"]):
            raise RuleViolation(
                "date_out_of_order",
                f"Permohonan ke pemerintah pusat ({day_words(requested_on)}) mendahului persetujuan DPRD "
                f"({day_words(dprd['decided_on'])}).",
                conflicts_with={"step": "record-approval", "date": dprd["decided_on"]},
            )


class DecidedAfterRequest(Rule):
    """An approval is decided on or after the day it was requested."""

    def check(self, decided_on: date, request: Mapping[str, Any]) -> None:
        if decided_on < date.fromisoformat(request["requested_on"]):
            raise RuleViolation(
                "date_before_request",
                f"Tanggal keputusan ({day_words(decided_on)}) mendahului tanggal permohonan "
                f"({day_words(request['requested_on'])}).",
                conflicts_with={"step": "request-approval", "date": request["requested_on"]},
            )


class PksAfterFramework(Rule):
    """A PKS implements its framework (Permendagri 22/2020): it is not signed before it."""

    def check(self, pks_id: str, signed_on: date, framework: Mapping[str, Any] | None, framework_words: str) -> None:
        if framework and signed_on < date.fromisoformat(framework["signed_on"]):
            raise RuleViolation(
                "date_out_of_order",
                f"{pks_words(pks_id)} ({day_words(signed_on)}) tidak dapat ditandatangani sebelum "
                f"{framework_words}-nya ({day_words(framework['signed_on'])}).",
                conflicts_with={"step": "sign-framework", "date": framework["signed_on"]},
            )


class WithinFramework(Rule):
    """A PKS implements its framework: it runs within the framework's validity, unless the
    exception that allows it is referenced (`exception_reference`, as for the term)."""

    def check(
        self, framework: Mapping[str, Any] | None, pks_id: str, start: date | None, end: date,
        exception_reference: str | None, framework_words: str,
    ) -> None:
        if framework is None or text(exception_reference):
            return
        valid_from, valid_until = framework["valid_from"], framework["valid_until"]
        if start is not None and start < date.fromisoformat(valid_from):
            edge, day, words = valid_from, start, "mulai sebelum"
        elif end > date.fromisoformat(valid_until):
            edge, day, words = valid_until, end, "berakhir sesudah"
        else:
            return
        raise RuleViolation(
            "pks_outside_framework_validity",
            f"{pks_words(pks_id)} {words} masa berlaku {framework_words}-nya ({day_words(day)}; "
            f"{framework_words} berlaku {day_words(valid_from)} sampai dengan {day_words(valid_until)}). "
            "Sebutkan dasar hukum pengecualiannya bila memang dibolehkan.",
            conflicts_with={"step": "sign-framework", "date": edge},
            valid_from=valid_from, valid_until=valid_until,
        )


POSSIBLE_DAY = PossibleDay("possible_day", ("date_too_early", "date_in_future"), 'DOMAIN.md, "Lifecycle"')
LEGAL_ORDER = LegalOrder("legal_order", ("date_out_of_order",), 'DOMAIN.md, "Lifecycle"; PP 28/2018')
CENTRAL_AFTER_DPRD = CentralAfterDprd("central_after_dprd", ("date_out_of_order",), "Permendagri 25/2020")
DECIDED_AFTER_REQUEST = DecidedAfterRequest(
    "decided_after_request", ("date_before_request",), 'DOMAIN.md, "Lifecycle"'
)
PKS_AFTER_FRAMEWORK = PksAfterFramework("pks_after_framework", ("date_out_of_order",), "Permendagri 22/2020")
WITHIN_FRAMEWORK = WithinFramework(
    "within_framework", ("pks_outside_framework_validity",), 'Permendagri 22/2020; DOMAIN.md, "Lifecycle"'
)

RULES: tuple[Rule, ...] = (
    POSSIBLE_DAY, LEGAL_ORDER, CENTRAL_AFTER_DPRD, DECIDED_AFTER_REQUEST, PKS_AFTER_FRAMEWORK, WITHIN_FRAMEWORK,
)
