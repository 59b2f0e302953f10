"""Terms: a document's validity period, a PKS's longest term and its extensions
(DOMAIN.md, "Lifecycle": at most 5 years, configurable, unless sector law says otherwise)."""

from __future__ import annotations

from datetime import date

from services.registry.domain.commands import Policy
from services.registry.domain.rules.rule import Rule, text
from services.registry.domain.wording import day_words
from shared.errors import RuleViolation


def add_years(day: date, years: int) -> date:
    """`day` plus whole years; 29 February falls back to 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class ValidPeriod(Rule):
    """A validity period ends after it begins."""

    def check(self, start: date, end: date) -> None:
        if end <= start:
            raise RuleViolation("invalid_period", "Akhir masa berlaku harus sesudah awalnya.")


class PksTerm(Rule):
    """DOMAIN.md: a PKS lasts at most 5 years (configurable: `policy.pks_max_years`) unless
    sector law says otherwise; the exception is recorded by its reference."""

    def check(self, start: date, end: date, exception_reference: str | None, policy: Policy) -> None:
        VALID_PERIOD.check(start, end)
        if end > add_years(start, policy.pks_max_years) and not text(exception_reference):
            raise RuleViolation(
                "duration_exceeds_limit",
                f"Jangka waktu PKS paling lama {policy.pks_max_years} tahun; sebutkan dasar hukum "
                "pengecualiannya bila peraturan sektoral membolehkan lebih lama.",
                max_years=policy.pks_max_years,
            )


class ExtensionLater(Rule):
    """An extension (perpanjangan) ends the document later than it ended."""

    def check(self, current_end: date, new_end: date) -> None:
        if new_end <= current_end:
            raise RuleViolation(
                "extension_not_later", f"Perpanjangan harus berakhir sesudah {day_words(current_end)}."
            )


VALID_PERIOD = ValidPeriod("valid_period", ("invalid_period",), 'DOMAIN.md, "Documents"')
PKS_TERM = PksTerm("pks_term", ("invalid_period", "duration_exceeds_limit"), 'DOMAIN.md, "Lifecycle"')
EXTENSION_LATER = ExtensionLater("extension_later", ("extension_not_later",), 'DOMAIN.md, "Lifecycle"')

RULES: tuple[Rule, ...] = (VALID_PERIOD, PKS_TERM, EXTENSION_LATER)
