"""What every rule object is: a name, the codes its refusals carry, and where the law says it.

Each rule is a frozen object with a `check(...)` method: a pure function of the facts it is
given (the family's state or what it needs of it, the command's values, the policy), which
returns nothing, or the value it cleaned, and raises a `RuleViolation` (or `Forbidden`) with
one of its `codes` when the facts break it. No I/O, no clock, no settings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """A named rule. `codes`: the error codes its refusals carry, in the order it checks them;
    `source`: the regulation or DOMAIN.md section it states."""

    name: str
    codes: tuple[str, ...]
    source: str

    @property
    def theme(self) -> str:
        """The theme the rule belongs to: the name of the module that states it."""
        return type(self).__module__.rsplit(".", 1)[-1]


def text(value: str | None) -> str | None:
    """A stated text without its surrounding blanks; None when nothing is left."""
    value = (value or "").strip()
    return value or None
