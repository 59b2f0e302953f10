"""Signatories: who signs a document on behalf of each party (Permendagri 22/2020;
DOMAIN.md, "Documents")."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from services.registry.domain.commands import Capacity, Signatory
from services.registry.domain.rules.rule import Rule, text
from shared.errors import RuleViolation


class Signatories(Rule):
    """Permendagri 22/2020: the kepala daerah signs every document; an official with a
    surat kuasa may sign a PKS, never the framework. Every party signs, once. Answers the
    signatories as recorded. `regions`: the family's party regions."""

    def check(
        self, signatories: Sequence[Signatory], parties: Sequence[str], regions: Collection[str], *, framework: bool
    ) -> tuple[dict[str, Any], ...]:
        records = []
        for s in signatories:
            if s.party not in parties:
                raise RuleViolation("unknown_party", f"Penanda tangan untuk {s.party}, yang bukan pihak naskah ini.")
            if not text(s.name) or not text(s.position):
                raise RuleViolation("signatory_incomplete", "Setiap penanda tangan memerlukan nama dan jabatan.")
            if s.party in regions:
                if s.capacity is Capacity.PERWAKILAN_MITRA:
                    raise RuleViolation(
                        "signatory_not_authorized",
                        f"Naskah atas nama {s.party} ditandatangani kepala daerah atau pejabat yang diberi kuasa.",
                    )
                if s.capacity is Capacity.PEJABAT_KUASA:
                    if framework:
                        raise RuleViolation(
                            "signatory_not_authorized",
                            "Kesepakatan bersama hanya dapat ditandatangani kepala daerah, tidak dengan surat kuasa.",
                        )
                    if not text(s.surat_kuasa):
                        raise RuleViolation(
                            "surat_kuasa_required",
                            f"Pejabat yang menandatangani PKS atas nama {s.party} memerlukan nomor surat kuasa.",
                        )
            records.append(
                {"party": s.party, "name": s.name.strip(), "position": s.position.strip(),
                 "capacity": s.capacity.value, "surat_kuasa": text(s.surat_kuasa)}
            )
        signed = [r["party"] for r in records]
        missing = [p for p in parties if p not in signed]
        if missing:
            raise RuleViolation("signatory_missing", f"Belum ada penanda tangan untuk: {', '.join(missing)}.")
        if len(set(signed)) != len(signed):
            raise RuleViolation("duplicate_signatory", "Setiap pihak menandatangani satu kali.")
        return tuple(records)


SIGNATORIES = Signatories(
    "signatories",
    ("unknown_party", "signatory_incomplete", "signatory_not_authorized", "surat_kuasa_required",
     "signatory_missing", "duplicate_signatory"),
    'Permendagri 22/2020; DOMAIN.md, "Documents"',
)

RULES: tuple[Rule, ...] = (SIGNATORIES,)
