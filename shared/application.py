"""What the services' eventsourcing applications share: saving with a 409 for a writer who
lost the race, loading what may not exist, and the `If-Match` check of a change to an
existing aggregate.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from shared.errors import PreconditionRequired, VersionConflict


def check_expected_version(current: int, expected: int | None, what: str) -> None:
    """A change to something that exists must name the version it was based on."""
    if expected is None:
        raise PreconditionRequired(
            f"{what} sudah ada (versi {current}). Perubahan memerlukan header If-Match "
            f'berisi versi terakhir yang Anda lihat, misalnya If-Match: "{current}".',
            current_version=current,
        )
    if expected != current:
        raise VersionConflict(
            f"{what} sudah berubah: versi sekarang {current}, bukan {expected}.",
            current_version=current,
        )


class ServiceApplication(Application):
    def get_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def save_or_conflict(self, *aggregates: Any) -> None:
        """Save; a concurrent writer who saved the same version first makes this a 409."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            current = self.repository.get(aggregates[0].id).version
            raise VersionConflict(
                f"Data ini baru saja diubah oleh pengguna lain (versi {current}). Ambil keadaan terbaru lalu ulangi.",
                current_version=current,
            ) from None
