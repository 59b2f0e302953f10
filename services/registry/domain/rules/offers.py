"""The offer and its answers (Permendagri 22/2020; DOMAIN.md, "Lifecycle", `penawaran`): the
initiator sends the offer letter, or records a third party's as received; each partner
answers it, a partner region for itself, the initiator for a non-region partner."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from services.registry.domain.rules.rule import Rule
from shared.errors import Forbidden, RuleViolation


class InitiatorOffers(Rule):
    """The offer letter is recorded by the initiator region."""

    def check(self, region: str, initiator: str) -> None:
        if region != initiator:
            raise Forbidden("Surat penawaran dicatat oleh daerah pemrakarsa.", code="not_initiator")


class OfferDirection(Rule):
    """An offer is `sent` by the initiator, or `received` from a non-region partner."""

    def check(self, direction: str, only_regions: bool) -> None:
        if direction not in ("sent", "received"):
            raise RuleViolation("invalid_direction", "Arah penawaran harus 'sent' atau 'received'.")
        if direction == "received" and only_regions:
            raise RuleViolation(
                "invalid_direction",
                "Penawaran yang diterima dari pihak ketiga hanya berlaku bila ada mitra non-daerah.",
            )


class RespondingParty(Rule):
    """Whose answer is recorded: a partner region records its own; the initiator records a
    non-region partner's (named, unless it is the only one). Answers that partner.
    `partners`: the family's partners by key; `others`: its non-region partners' names."""

    def check(
        self, party: str | None, region: str, initiator: str, partners: Sequence[str], others: Sequence[str]
    ) -> str:
        if party is not None and party != region:
            if party not in partners:
                raise RuleViolation("unknown_party", f"{party} bukan mitra dalam kerja sama ini.")
            if party not in others:
                raise Forbidden(
                    f"Daerah mitra {party} mencatat jawabannya sendiri.", code="counterpart_must_respond"
                )
            if region != initiator:
                raise Forbidden("Jawaban mitra non-daerah dicatat oleh daerah pemrakarsa.", code="not_initiator")
            return party
        if region in partners:
            return region
        if len(others) == 1 and region == initiator:
            return others[0]
        raise RuleViolation("party_required", "Sebutkan mitra ('party') yang jawabannya dicatat.")


class AnsweredOnce(Rule):
    """Each partner answers the offer once."""

    def check(self, party: str, answered: Collection[str]) -> None:
        if party in answered:
            raise RuleViolation("already_responded", f"Jawaban {party} sudah tercatat.")


class OfferAnswer(Rule):
    """An answer to the offer accepts or rejects it."""

    def check(self, decision: str) -> None:
        if decision not in ("accepted", "rejected"):
            raise RuleViolation("invalid_decision", "Jawaban harus 'accepted' atau 'rejected'.")


INITIATOR_OFFERS = InitiatorOffers("initiator_offers", ("not_initiator",), "Permendagri 22/2020")
OFFER_DIRECTION = OfferDirection("offer_direction", ("invalid_direction",), "Permendagri 22/2020")
RESPONDING_PARTY = RespondingParty(
    "responding_party", ("unknown_party", "counterpart_must_respond", "not_initiator", "party_required"),
    'DOMAIN.md, "Lifecycle"',
)
ANSWERED_ONCE = AnsweredOnce("answered_once", ("already_responded",), 'DOMAIN.md, "Lifecycle"')
OFFER_ANSWER = OfferAnswer("offer_answer", ("invalid_decision",), 'DOMAIN.md, "Lifecycle"')

RULES: tuple[Rule, ...] = (INITIATOR_OFFERS, OFFER_DIRECTION, RESPONDING_PARTY, ANSWERED_ONCE, OFFER_ANSWER)
