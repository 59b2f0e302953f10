"""The cooperation family's rules, as named rule objects by theme (issue #11).

One module per theme, each listing its rules in `RULES`:

- `lifecycle`: stage order (no stage skipped; closed families, signed documents)
- `documents`: documents known and in force, their numbers, types and contents
- `dates`: dates that have happened, in the law's order of steps
- `offers`: the offer letter and the partners' answers
- `approvals`: DPRD and central-government approvals before signature
- `terms`: validity periods, a PKS's longest term, extensions
- `signatories`: who signs for each party
- `parties`: the parties each form admits, wajib adjacency, which parties act
- `corrections`: what a correction (ralat) may change, and who makes it

Every rule is a `Rule` (`rule.py`): its `name`, the `codes` it raises, its legal `source`,
and a pure `check(...)`. `vocabulary.py` holds the words they share (forms, stages, parties)
and states no rule. The aggregate (`services/registry/domain/agreement.py`) keeps the state,
the events, and the wiring: which rules each command checks, in which order.
"""

from __future__ import annotations

from services.registry.domain.rules import (
    approvals,
    corrections,
    dates,
    documents,
    lifecycle,
    offers,
    parties,
    signatories,
    terms,
)
from services.registry.domain.rules.rule import Rule

# Each theme's rules, by the theme's name (its module's).
THEMES: dict[str, tuple[Rule, ...]] = {
    "lifecycle": lifecycle.RULES,
    "documents": documents.RULES,
    "dates": dates.RULES,
    "offers": offers.RULES,
    "approvals": approvals.RULES,
    "terms": terms.RULES,
    "signatories": signatories.RULES,
    "parties": parties.RULES,
    "corrections": corrections.RULES,
}

# Every rule of the aggregate, once, theme by theme.
ALL: tuple[Rule, ...] = tuple(rule for rules in THEMES.values() for rule in rules)

__all__ = ["ALL", "THEMES", "Rule"]
