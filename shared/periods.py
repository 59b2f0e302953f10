"""Reporting periods (DOMAIN.md, "Reporting"): semesters `2026-S1` (January to June) and
`2026-S2` (July to December), and the annual period `2026`. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

# The ministry's working zone: "today" for deadlines and alerts is today's date in WIB.
# UTC+7 all year (no daylight saving), so no time-zone database is needed.
WIB = timezone(timedelta(hours=7), "WIB")
# The Republic's proclamation: no region of it states an earlier day on a document (a year
# typed short, 0224 for 2024, would otherwise be filed outside every period).
EARLIEST_DAY = date(1945, 8, 17)


def local_date(moment: datetime) -> date:
    """The calendar date of an aware moment in WIB."""
    return moment.astimezone(WIB).date()


def day_of(value: object) -> date | None:
    """A stored fact as a day: a date as is, a moment as its WIB date, an ISO string by its
    first ten characters; None for anything else (absent, empty, malformed)."""
    if isinstance(value, datetime):
        return local_date(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


_PATTERN = re.compile(r"^(?P<year>\d{4})(?:-S(?P<half>[12]))?$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    half: int | None = None  # 1 or 2 for a semester, None for the whole year

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2026-S1` or `2026`; anything else raises ValueError."""
        match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
        if match is None or not 2000 <= int(match["year"]) <= 2100:
            raise ValueError(f"periode tidak dikenal: {text!r} (contoh: 2026-S1, 2026-S2, 2026)")
        return cls(int(match["year"]), int(match["half"]) if match["half"] else None)

    @classmethod
    def semester_of(cls, day: date) -> Period:
        return cls(day.year, 1 if day.month <= 6 else 2)

    @property
    def is_semester(self) -> bool:
        return self.half is not None

    @property
    def start(self) -> date:
        return date(self.year, 7 if self.half == 2 else 1, 1)

    @property
    def end(self) -> date:
        """The last day of the period (inclusive)."""
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    def next(self) -> Period:
        if self.half is None:
            return Period(self.year + 1)
        return Period(self.year, 2) if self.half == 1 else Period(self.year + 1, 1)

    def due(self, grace_days: int) -> date:
        """The last day a report for this period is on time."""
        return self.end + timedelta(days=grace_days)

    def __str__(self) -> str:
        return f"{self.year}-S{self.half}" if self.half else str(self.year)

    @property
    def kind(self) -> str:
        """`semester` or `annual` (the names `KSD_REPORT_PERIOD_KINDS` uses)."""
        return "semester" if self.half else "annual"

    @property
    def label(self) -> str:
        """As an official writes it: `Semester I 2026`, `Tahun 2026`."""
        return f"Semester {'I' if self.half == 1 else 'II'} {self.year}" if self.half else f"Tahun {self.year}"

    def semesters(self) -> list[Period]:
        """The semesters the period is made of (itself, or both halves of a year)."""
        return [self] if self.half else [Period(self.year, 1), Period(self.year, 2)]


def semesters_within(first: date, last: date) -> list[Period]:
    """Every semester lying wholly within [first, last], in order."""
    periods: list[Period] = []
    period = Period.semester_of(first)
    if period.start < first:
        period = period.next()
    while period.end <= last:
        periods.append(period)
        period = period.next()
    return periods


BULAN = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
         "November", "Desember")


def tanggal(day: date) -> str:
    """A date as an official writes it: `22 November 2026`. Aware datetimes count in WIB."""
    if isinstance(day, datetime):
        day = local_date(day) if day.tzinfo else day.date()
    return f"{day.day} {BULAN[day.month - 1]} {day.year}"
