"""The registry's service layer: one method per use case (load, act, save).

Synchronous, like eventsourcing itself: HTTP handlers call it in a worker thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any, cast
from uuid import UUID, uuid4, uuid5

import msgspec
import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from services.registry.domain.agreement import (
    Agreement,
    Category,
    Form,
    OtherParty,
    Party,
    RegionParty,
    is_central_decision,
)
from services.registry.domain.commands import AttachDocument, Caller, Correct, Policy
from services.registry.domain.valid_time import state_on
from services.registry.projections.agreements import AgreementFilter, row_of
from shared.application import ServiceApplication
from shared.audit.store import PackedEvents
from shared.auth import CENTRAL_APPROVER, Identity, require_roles
from shared.blobs import BlobNotFound, BlobStore, BlobSweep, sha256_hex, sniff_media_type, sweep_blobs
from shared.clock import Clock, SystemClock
from shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionRequired,
    UnsupportedMediaType,
    VersionConflict,
)
from shared.periods import local_date
from shared.regions import RegionCatalog, load_regions
from shared.rupiah import thousands
from shared.tenancy import can_see
from shared.urusan import get_urusan

log = structlog.get_logger("ksd.registry")

# Namespace for agreement ids derived from an Idempotency-Key: a retry maps to the same
# id, so the event store's unique (originator_id, version) makes the create happen once.
IDEMPOTENCY_NAMESPACE = UUID("5b0f3c1e-7a0e-4d55-9a8e-2f1c6f0b9d41")

IDEMPOTENCY_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.idempotency_keys (
    tenant text NOT NULL,
    sub text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    agreement_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, sub, key)
)
"""


@dataclass(frozen=True)
class StartAgreement:
    """What a caller asks for; already shaped by the HTTP schema, not yet checked."""

    form: str
    title: str
    object: str
    urusan: list[str]
    parties: list[dict[str, Any]]
    category: str | None = None
    value_idr: int | None = None
    burdens_community: bool = False
    budgeted_in_apbd: bool = False
    initiator: str | None = None
    drafted_on: date | None = None  # the day it was prepared; None: today (WIB)

    def fingerprint(self) -> str:
        # An unstated date leaves the fingerprint as it was before the field existed.
        fields = {k: v for k, v in self.__dict__.items() if not (k == "drafted_on" and v is None)}
        return hashlib.sha256(msgspec.json.encode(fields, order="sorted")).hexdigest()


@dataclass(frozen=True)
class Started:
    agreement: Agreement
    replayed: bool


@dataclass(frozen=True)
class Download:
    content: bytes
    name: str
    media_type: str
    sha256: str


class Registry(ServiceApplication):
    """Agreements and their legal lifecycle, stored as events in schema `registry`."""

    name = "registry"
    snapshotting_intervals = {Agreement: 50}  # noqa: RUF012 - eventsourcing's API

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Clock | None = None,
        regions: RegionCatalog | None = None,
        policy: Policy | None = None,
        blobs: BlobStore | None = None,
        max_document_bytes: int = 20_000_000,
    ) -> None:
        super().__init__(env)
        self.clock = clock or SystemClock()
        self.regions = regions or load_regions()
        self.policy = policy or Policy()
        self.blobs = blobs
        self.max_document_bytes = max_document_bytes

    # -- saving ------------------------------------------------------------------------

    def pack_events(self, events: Sequence[DomainEvent]) -> PackedEvents:
        """The CPU work of appending a batch of domain events already collected (the legacy
        import's, thousands at a time): mapped, hashed into their chains, packed as COPY rows,
        outside any transaction, so that an import packs its next batch while the server
        stores this one (`HashChainRecorder.pack_domain_events`). `append_packed` writes them."""
        return self.recorder.pack_domain_events(events, self.mapper)  # type: ignore[attr-defined]

    def append_packed(self, packed: PackedEvents) -> None:
        """Write packed events in one transaction: the recorder's bulk path. What `save` does
        besides recording is nothing here: no snapshots (it takes them only of aggregates it
        is given), no cached aggregates, and this application has no `_notify`/`notify`
        subscribers, so no `Recording` objects are built for them. A version already stored
        raises eventsourcing's IntegrityError and nothing is written."""
        self.recorder.insert_packed(packed)  # type: ignore[attr-defined]

    # -- use cases ---------------------------------------------------------------------

    def start_agreement(
        self, identity: Identity, command: StartAgreement, *, idempotency_key: str | None = None
    ) -> Started:
        require_roles("operator")(identity)
        if identity.is_national:
            raise Forbidden(
                "Tingkat nasional bukan daerah dan tidak dapat menjadi pihak kerja sama.",
                code="tenant_not_a_region",
            )
        if command.initiator is not None and command.initiator != identity.tenant:
            raise Forbidden(
                "Pemrakarsa kerja sama adalah daerah pemilik token; "
                f"token ini untuk {identity.tenant}, bukan {command.initiator}.",
                code="initiator_not_caller",
            )
        partners = self._check_references(identity.tenant, command)
        agreement_id = (
            uuid5(IDEMPOTENCY_NAMESPACE, f"{identity.tenant}\x1f{identity.sub}\x1f{idempotency_key}")
            if idempotency_key
            else uuid4()
        )
        # Decide first (pure, may raise): a rejected request stores nothing, not even its key.
        now = self.clock.now()
        agreement = Agreement.start(
            id=agreement_id,
            actor=identity.actor(),
            at=now,
            form=Form(command.form),
            category=Category(command.category) if command.category else None,
            title=command.title.strip(),
            object=command.object.strip(),
            urusan=command.urusan,
            initiator=identity.tenant,
            partners=partners,
            value_idr=command.value_idr,
            burdens_community=command.burdens_community,
            budgeted_in_apbd=command.budgeted_in_apbd,
            adjacency=self.regions,
            drafted_on=command.drafted_on or local_date(now),
        )
        if idempotency_key:
            self._claim_idempotency_key(identity, idempotency_key, command.fingerprint(), agreement_id)
            try:
                return Started(self.repository.get(agreement_id, version=1), replayed=True)
            except AggregateNotFoundError:
                pass  # first attempt, or an earlier one that failed before saving
        try:
            self.save_command(agreement)
        except IntegrityError:
            if not idempotency_key:
                raise
            # A concurrent retry with the same key saved first: answer as it did.
            return Started(self.repository.get(agreement_id, version=1), replayed=True)
        return Started(agreement, replayed=False)

    def get_agreement(
        self,
        identity: Identity,
        agreement_id: UUID,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        on: date | None = None,
    ) -> Agreement:
        """The state now, or as it was at a version or a moment (replayed from the events,
        from the nearest snapshot), if the caller's tenant may see it (else: not found).
        `on` (valid time): what was legally in force that day, from the events recorded up to
        the version or moment (default: all, as known now) whose legal date is on or before it."""
        if as_of is None and on is None and (version is None or version >= 1):
            # Parties never change after the start: the state read tells who may look, before
            # anything about its versions is answered.
            then = self._visible(identity, agreement_id, version)
            if version is not None and then.version != version:  # past the head, the store answers the head
                raise NotFound(f"Kerja sama ini tidak memiliki versi {version}.", code="version_not_found")
            return then
        # Version 1 tells who may look (cheaply), before `as_of` or `on` say anything of it.
        self._visible(identity, agreement_id, 1)
        if as_of is not None:
            if as_of.tzinfo is None:
                raise InvalidInput("as_of memerlukan zona waktu (RFC 3339), misalnya 2026-01-05T10:00:00+07:00.",
                                   errors=[{"field": "as_of", "message": "zona waktu wajib"}])
            version = self.recorder.version_at(agreement_id, as_of)  # type: ignore[attr-defined]
            if version is None:
                raise NotFound(f"Kerja sama ini belum ada pada {as_of.isoformat()}.", code="not_yet_recorded")
        if on is not None:
            return self._in_force_on(agreement_id, on, version)
        # Here `as_of` found a stored version (its visibility judged above), or a version below
        # 1 was asked for.
        if version is None or version < 1:
            raise NotFound(f"Kerja sama ini tidak memiliki versi {version}.", code="version_not_found")
        return cast("Agreement", self.repository.get(agreement_id, version=version))

    def _in_force_on(self, agreement_id: UUID, on: date, version: int | None) -> Agreement:
        """Replay every event recorded up to `version` (None: all), keeping the steps whose
        legal date is on or before `on` (no snapshot: one holds every step, in force or not)."""
        if version is not None and version < 1:
            raise NotFound(f"Kerja sama ini tidak memiliki versi {version}.", code="version_not_found")
        # The registry's events table holds only the agreement's events.
        events = cast("list[Agreement.Event]", list(self.events.get(agreement_id, lte=version)))
        if version is not None and (not events or events[-1].originator_version != version):
            raise NotFound(f"Kerja sama ini tidak memiliki versi {version}.", code="version_not_found")
        then = state_on(events, on)
        if then is None:
            raise NotFound(f"Kerja sama ini belum ada pada tanggal {on.isoformat()}.", code="not_yet_in_force")
        return then

    def listed_on(self, agreement_ids: Sequence[UUID], on: date, flt: AgreementFilter) -> list[Agreement]:
        """A list's rows (ids the read model already found visible to the caller, in its
        order) as in force on `on`: those not yet started that day left out, and the filters
        that describe a state (stage, signing, expiry) judged on the state of that day."""
        stored = self.recorder.stored_events_of(agreement_ids)  # type: ignore[attr-defined]  # one query a page
        found = []
        for agreement_id in agreement_ids:
            events = map(self.mapper.to_domain_event, stored.get(agreement_id, ()))
            then = state_on(cast("Iterable[Agreement.Event]", events), on)
            if then is not None and matches_state(row_of(then), flt):
                found.append(then)
        return found

    def _visible(self, identity: Identity, agreement_id: UUID, version: int | None) -> Agreement:
        try:
            agreement: Agreement = self.repository.get(agreement_id, version=version)
        except AggregateNotFoundError:
            raise NotFound("Kerja sama tidak ditemukan.") from None
        if not can_see(identity.tenant, agreement.party_regions):
            raise NotFound("Kerja sama tidak ditemukan.")
        return agreement

    def act(self, identity: Identity, agreement_id: UUID, expected_version: int | None, command: Any) -> Agreement:
        """One lifecycle action by an operator of a party region, on the version the caller
        saw (`If-Match`; None: not sent, 428 naming the current version). A rejected action
        raises and records nothing."""
        agreement = self._decide(identity, agreement_id, expected_version, command)
        self.save_or_conflict(agreement)
        return agreement

    def attach_document(
        self,
        identity: Identity,
        agreement_id: UUID,
        expected_version: int | None,
        *,
        content: bytes,
        kind: str,
        name: str,
        document: str | None = None,
    ) -> Agreement:
        """Store the file (content-addressed) and record it on the agreement. The rules are
        decided before the file is written; it is written to the store's staging area, the
        event is saved, and only then is the file promoted to its name. A lost race or a
        failed save discards the staged copy and nothing else (a blob of the same content that
        another event names stays); a failed promotion leaves the staged copy, which a
        download or the sweeper promotes, since the saved event names it."""
        if self.blobs is None:
            raise RuntimeError("no blob store configured")
        if len(content) > self.max_document_bytes:
            raise PayloadTooLarge(f"Berkas paling besar {thousands(self.max_document_bytes)} bita.")
        if not content:
            raise InvalidInput("Berkas kosong.", errors=[{"field": "file", "message": "berkas kosong"}])
        media_type = sniff_media_type(content)
        if media_type is None:
            raise UnsupportedMediaType("Hanya berkas PDF dan gambar (PNG, JPEG, WebP, TIFF) yang dapat dilampirkan.")
        sha256 = sha256_hex(content)
        command = AttachDocument(
            kind=kind, name=name, size=len(content), media_type=media_type, sha256=sha256, document=document
        )
        agreement = self._decide(identity, agreement_id, expected_version, command)
        staged = self.blobs.stage(content)
        try:
            self.save_or_conflict(agreement)
        except BaseException:
            try:
                self.blobs.discard(staged)
            except Exception:
                log.warning("staged_blob_not_discarded", sha256=sha256, exc_info=True)
            raise
        try:
            self.blobs.promote(staged)
        except Exception:
            log.warning("blob_promotion_failed", sha256=sha256, exc_info=True)
        return agreement

    def download_document(self, identity: Identity, agreement_id: UUID, sha256: str) -> Download:
        """An attached file, for anyone who may see the agreement."""
        agreement = self.get_agreement(identity, agreement_id)
        attached = next((a for a in agreement.attachments if a["sha256"] == sha256.lower()), None)
        if attached is None or self.blobs is None:
            raise NotFound("Dokumen tidak ditemukan pada kerja sama ini.")
        try:
            content = self.blobs.get(attached["sha256"])
        except BlobNotFound:
            # Saved, but its promotion failed (a crash, a storage error): finish it now.
            if not self.blobs.promote_staged(attached["sha256"]):
                raise NotFound("Berkas dokumen tidak ditemukan di penyimpanan.") from None
            content = self.blobs.get(attached["sha256"])
        return Download(content=content, name=attached["name"], media_type=attached["media_type"], sha256=sha256)

    # -- helpers -----------------------------------------------------------------------

    def _check_references(self, initiator: str, command: StartAgreement) -> list[Party]:
        """Reference data checks, reported per field like any other validation error."""
        errors: list[dict[str, str]] = []
        if not self.regions.is_party_eligible(initiator):
            errors.append(
                {"field": "initiator", "message": f"{initiator} bukan daerah otonom yang dapat menjadi pihak"}
            )
        partners: list[Party] = []
        for i, raw in enumerate(command.parties):
            field = f"parties[{i}]"
            region = raw.get("region")
            if region is not None:
                if any(raw.get(k) for k in ("name", "type", "country")):
                    errors.append({
                        "field": field,
                        "message": "isi 'region' saja untuk daerah, atau 'name' dan 'type' untuk pihak lain",
                    })
                elif region not in self.regions:
                    errors.append({"field": f"{field}.region", "message": f"kode wilayah tidak dikenal: {region}"})
                elif not self.regions.is_party_eligible(region):
                    errors.append({
                        "field": f"{field}.region",
                        "message": f"{region} adalah wilayah administratif, bukan daerah otonom",
                    })
                elif region != initiator:  # the initiator is a party already
                    partners.append(RegionParty(region))
            else:
                name, kind = (raw.get("name") or "").strip(), (raw.get("type") or "").strip()
                if not name or not kind:
                    errors.append({"field": field, "message": "pihak selain daerah memerlukan 'name' dan 'type'"})
                else:
                    partners.append(OtherParty(name=name, type=kind, country=(raw.get("country") or None)))
        for i, code in enumerate(command.urusan):
            if get_urusan(code) is None:
                errors.append({"field": f"urusan[{i}]", "message": f"kode urusan tidak dikenal: {code}"})
        if errors:
            raise InvalidInput("Data kerja sama tidak valid.", errors=errors)
        return partners

    def _decide(
        self, identity: Identity, agreement_id: UUID, expected_version: int | None, command: Any
    ) -> Agreement:
        """Load, check who and which version, and let the aggregate decide (nothing saved)."""
        agreement = self.get_agreement(identity, agreement_id)
        if isinstance(command, Correct):  # a correction is decided on the recorded history
            command = replace(command, history=tuple(self.events.get(agreement_id, lte=agreement.version)))
        if identity.is_national and is_central_decision(command):
            require_roles(CENTRAL_APPROVER)(identity)  # Kemendagri records the Minister's decision and its letter
        else:
            require_roles("operator")(identity)
        if expected_version is None:
            raise PreconditionRequired(
                "Perubahan memerlukan header If-Match berisi versi terakhir yang Anda lihat; versi kerja sama "
                f'ini sekarang {agreement.version}: If-Match: "{agreement.version}".',
                current_version=agreement.version,
            )
        if expected_version != agreement.version:
            raise VersionConflict(
                f"Kerja sama ini sudah berubah: versi sekarang {agreement.version}, bukan {expected_version}. "
                "Ambil keadaan terbaru lalu ulangi.",
                current_version=agreement.version,
            )
        now = self.clock.now()
        agreement.execute(
            _dated(command, local_date(now)), by=Caller(identity.tenant, identity.actor()), at=now, policy=self.policy
        )
        return agreement

    def _claim_idempotency_key(self, identity: Identity, key: str, fingerprint: str, agreement_id: UUID) -> None:
        datastore = self.recorder.datastore  # type: ignore[attr-defined]
        schema = datastore.schema
        with datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {schema}.idempotency_keys (tenant, sub, key, fingerprint, agreement_id) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (identity.tenant, identity.sub, key, fingerprint, agreement_id),
            )
            curs.execute(
                f"SELECT fingerprint FROM {schema}.idempotency_keys WHERE tenant=%s AND sub=%s AND key=%s",  # noqa: S608
                (identity.tenant, identity.sub, key),
            )
            row = curs.fetchone()
        if row is None or row["fingerprint"] != fingerprint:
            raise Conflict(
                "Idempotency-Key ini sudah dipakai untuk permintaan dengan isi yang berbeda.",
                code="idempotency_key_reused",
            )


def without_state_filters(flt: AgreementFilter) -> AgreementFilter:
    """The filters on facts that never change (form, parties, urusan, words), for the read
    model to apply when a list asks about another day (`on`): the rest describe a state."""
    return replace(flt, stage=(), signed_from=None, signed_to=None, expiring_from=None, expiring_to=None)


def matches_state(row: dict[str, Any], flt: AgreementFilter) -> bool:
    """The read model's state filters, on a row as `row_of` shapes it."""
    signed = date.fromisoformat(row["framework_signed_on"]) if row["framework_signed_on"] else None
    if flt.stage and row["stage"] not in flt.stage:
        return False
    if (flt.signed_from or flt.signed_to) and (
        signed is None or signed < (flt.signed_from or date.min) or signed > (flt.signed_to or date.max)
    ):
        return False
    if flt.expiring_from or flt.expiring_to:
        low, high = flt.expiring_from or date.min, flt.expiring_to or date.max
        return any(low <= date.fromisoformat(d) <= high for d in row["in_force_until"])
    return True


# Legal dates a caller may leave out: they default to the day of recording, in WIB.
DEFAULTED_DATES = ("drafted_on", "cancelled_on")


def _dated(command: Any, today: Any) -> Any:
    """`command` with each omitted legal date set to `today` (the edge applies the default;
    the domain reads no clock)."""
    names = {f.name for f in fields(command)} if hasattr(command, "__dataclass_fields__") else set()
    missing = {n: today for n in DEFAULTED_DATES if n in names and getattr(command, n) is None}
    return replace(command, **missing) if missing else command


# -- orphan blobs --------------------------------------------------------------------------------


def attached_documents(app: Application) -> Callable[[], set[str]]:
    """A reader of every SHA-256 the registry's `DocumentAttached` events name. Each call
    answers all of them as committed at that moment, reading only the events recorded since
    the previous call (writers to the events table are serialised, so notification ids are
    committed in order). An event that cannot be read stops the sweep: never guess."""
    topic = get_topic(Agreement.DocumentAttached)
    names: set[str] = set()
    position = 0
    page = 1000

    def read() -> set[str]:
        nonlocal position
        while True:
            batch = app.recorder.select_notifications(
                start=position, limit=page, topics=[topic], inclusive_of_start=False
            )
            for notification in batch:
                names.add(str(app.mapper.to_domain_event(notification).sha256).lower())  # type: ignore[attr-defined]
            if batch:
                position = batch[-1].id
            if len(batch) < page:
                return set(names)

    return read


def sweep_orphan_blobs(
    app: Application, store: BlobStore, grace_seconds: float, *, dry_run: bool = False
) -> BlobSweep:
    """Delete blobs no `DocumentAttached` event names and staged uploads, both older than
    `grace_seconds`; promote staged uploads whose event was saved (see `shared.blobs.sweep_blobs`).
    `app`: any registry application (the HTTP app's, a worker's `runner.app`, `open_registry`)."""
    return sweep_blobs(store, attached_documents(app), grace_seconds=grace_seconds, dry_run=dry_run)
