"""Audit use cases: history, verification against the transparency log, export bundles,
signed tree heads and their proofs, and the national digests signed before the log (read only).

The hash chain and the log's leaves are written by the event store itself
(`shared.audit.store`, `shared.audit.log_store`); this module reads them back for a caller,
signs tree heads and proves inclusion and consistency.

`/verify` at national size: an agreement's check re-hashes each of its events (O(events of
that agreement)), and proves its leaves in the latest signed head. Each `Audit` remembers, per
agreement, the leaves it last proved and the head it proved them in (`Verified`): the next
check proves only the leaves added since, plus one consistency proof (O(log n)) from that head
to the latest, instead of one inclusion proof per leaf.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.sql import SQL, Identifier

from services.registry.application import Registry
from services.registry.domain.rules.corrections import CORRECTABLE_FACTS
from shared.audit import signing, translog
from shared.audit.bundle import (
    BUNDLE_FORMAT_V2,
    BUNDLE_REASONS,
    DIGEST_FIELDS,
    DIGEST_FORMAT,
    history_entry,
)
from shared.audit.chain import RecordError, chain_hash, check_chain, record_of
from shared.audit.log_store import MAX_LEAVES_PER_HEAD, LogInconsistent, TransparencyLog, TreeHead
from shared.audit.store import HashChainRecorder
from shared.auth import Identity, require_roles
from shared.errors import BadRequest, NotFound
from shared.tenancy import can_see

EXPORT_ROLES = ("auditor", "monitor")
SERVICE = "registry"
# Sign heads for at most this long per worker round, in cycles of bounded work.
SIGNING_BUDGET_SECONDS = 5.0
# Agreements whose last proven leaves are remembered (`Verified`), least recently checked dropped.
VERIFIED_CACHE_SIZE = 20_000
# A past read's remembered verdict is judged again after this long even if no row changed.
VERDICT_MAX_AGE_S = 300.0


@dataclass(frozen=True)
class Verified:
    """What a check of one agreement proved: its leaves (seq -> leaf hash) are in the signed
    head of `size` leaves with `root` (whose signature was verified)."""

    size: int
    root: bytes
    leaves: dict[int, bytes]


class HistoricalDigests:
    """The national digests signed before the transparency log replaced them (issue 15), one
    row each in `registry.audit_digests`: still published (`GET /audit/digests`), never
    written again. Bundles of format v1 prove a history against one of them."""

    table = "audit_digests"
    COLUMNS = "sequence, issued_at, position, tree_size, root, previous_root, key_id, public_key, signature"

    def __init__(self, recorder: HashChainRecorder) -> None:
        self.datastore = recorder.datastore
        schema = Identifier(self.datastore.schema)
        self._create = SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.audit_digests ("
            "sequence bigint PRIMARY KEY, issued_at text NOT NULL, position bigint NOT NULL, "
            "tree_size integer NOT NULL, root text NOT NULL, previous_root text, key_id text NOT NULL, "
            "public_key bytea NOT NULL, signature text NOT NULL)"
        ).format(schema=schema)
        self._list = SQL(
            "SELECT " + self.COLUMNS + " FROM {schema}.audit_digests "  # noqa: S608 - COLUMNS is a constant; values are bound
            "WHERE (%(before)s::bigint IS NULL OR sequence < %(before)s) ORDER BY sequence DESC LIMIT %(limit)s"
        ).format(schema=schema)

    def create_table(self) -> None:
        """Kept so that every installation has the (protected, possibly empty) table it serves."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._create)

    def page(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """Newest first, each as published (`format` and `public_key` base64 included)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._list, {"limit": limit, "before": before})
            rows = curs.fetchall()
        return [{"format": DIGEST_FORMAT, **{k: r[k] for k in DIGEST_FIELDS if k != "format"},
                 "signature": r["signature"], "public_key": base64.b64encode(bytes(r["public_key"])).decode()}
                for r in rows]


class Audit:
    def __init__(self, registry: Registry, *, signing_key: Ed25519PrivateKey | None = None) -> None:
        self.registry = registry
        self.recorder: HashChainRecorder = registry.recorder  # type: ignore[assignment]
        self.digests = HistoricalDigests(self.recorder)
        self.log = TransparencyLog(self.recorder.datastore)
        self.signing_key = signing_key
        self._signed_ok: dict[tuple[int, bytes], bool] = {}  # head (size, root) -> signature verified
        self._verified: OrderedDict[UUID, Verified] = OrderedDict()  # per agreement, least recent first
        self._verified_lock = threading.Lock()
        self._select_events = SQL("SELECT originator_version, topic, state FROM {schema}.{events} "
                                  "WHERE originator_id = %s").format(
            schema=Identifier(self.recorder.datastore.schema), events=Identifier(self.recorder.events_table_name))
        # Which row versions of one agreement a check reads (its events, their links, their
        # leaves in the transparency log): `_verdict`'s key. Every change made through SQL
        # (an UPDATE, a row deleted or restored, even with the same content) writes a new row
        # version with a new `xmin`; reading `xmin` needs no row's content, where hashing the
        # content read every event (4 ms of the server's time for 1,000 events, each read).
        self._select_fingerprint = SQL(
            "SELECT (SELECT md5(string_agg(originator_version || ':' || xmin, ',' ORDER BY originator_version))"
            " FROM {schema}.{events} WHERE originator_id = %(id)s) AS events,"
            " (SELECT md5(string_agg(originator_version || ':' || xmin, ',' ORDER BY originator_version))"
            " FROM {schema}.{chain} WHERE originator_id = %(id)s) AS chain,"
            " (SELECT md5(string_agg(seq || ':' || xmin, ',' ORDER BY seq)) FROM audit.log_leaves"
            " WHERE originator_id = %(id)s) AS leaves"
        ).format(schema=Identifier(self.recorder.datastore.schema),
                 events=Identifier(self.recorder.events_table_name), chain=Identifier(self.recorder.chain_table_name))
        # The last verdict of a check per agreement, with the inputs it judged (`_verdict`).
        self._verdicts: OrderedDict[UUID, tuple[tuple[Any, ...], dict[str, Any], float]] = OrderedDict()
        self._checking: dict[UUID, threading.Lock] = {}  # agreements being checked for a past read

    # -- reading one agreement -----------------------------------------------------------

    def _entries(self, identity: Identity, agreement_id: UUID) -> list[dict[str, Any]]:
        """The stored chain, if the caller may see the agreement."""
        entries = self.recorder.chain_entries(agreement_id)
        if not entries or not _visible(identity, entries):
            raise NotFound("Kerja sama tidak ditemukan.")
        return entries

    def history(self, identity: Identity, agreement_id: UUID) -> list[dict[str, Any]]:
        """Every event in order, as recorded, with its link of the chain. An event that can
        no longer be read is listed with its error instead of its content. Each readable
        event names the facts a correction of it may change (`correctable_facts`, none for a
        step that states none): the clients offer "Ralat" where it can be made."""
        return [_with_correctable_facts(_shown(e)) for e in self._entries(identity, agreement_id)]

    def histories(self, identity: Identity, agreement_ids: Sequence[UUID]) -> dict[UUID, list[dict[str, Any]]]:
        """`history` of several agreements, read in one query (GraphQL's loader for a page of a
        list); one the caller may not see, or that does not exist, is absent."""
        return {
            agreement_id: [_with_correctable_facts(_shown(e)) for e in entries]
            for agreement_id, entries in self.recorder.chain_entries_of(agreement_ids).items()
            if _visible(identity, entries)
        }

    def verify(self, identity: Identity, agreement_id: UUID) -> dict[str, Any]:
        """Check the agreement against the transparency log: every stored event's leaf
        recomputed and held against the log's leaf at its position (an edited, removed or
        reordered event is named at its version), the hash chain, and the inclusion of its
        leaves in the latest signed tree head. Other agreements are never involved."""
        self._entries(identity, agreement_id)  # visibility
        return self.check(agreement_id)

    def check(self, agreement_id: UUID) -> dict[str, Any]:
        """`verify` without the visibility check (the caller has made it). Leaves proven in an
        earlier check (`Verified`) are not proven again: one consistency proof from that
        head to the latest shows they are still in it."""
        with self._verified_lock:
            known = self._verified.get(agreement_id)
        consistency: list[bytes] | None = None
        with self.recorder.datastore.get_connection() as conn, conn.transaction(force_rollback=True):
            # One snapshot: an event and its leaf are committed together, so they are seen together.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            with conn.cursor() as curs:
                entries = self.recorder.chain_entries(agreement_id, curs)
                curs.execute(self._select_events, (agreement_id,))
                events = {r["originator_version"]: (r["topic"], bytes(r["state"])) for r in curs.fetchall()}
                leaves = self.log.aggregate_leaves(agreement_id, curs)
                head = self.log.latest(curs)
                proofs: dict[int, list[bytes]] | None = {}
                if known is not None and (head is None or known.size > head.size):
                    known = None
                if head is not None:
                    try:
                        proofs = self.log.inclusion_proofs(
                            [s for s, _, _, leaf in leaves
                             if s < head.size and (known is None or known.leaves.get(s) != leaf)], head.size, curs)
                        if known is not None and known.size < head.size:
                            consistency = self.log.consistency_proof(known.size, head.size, curs)
                    except LogInconsistent:
                        proofs = None
        if known is not None and head is not None and not (
            (known.size, known.root) == (head.size, head.root)
            or (consistency is not None
                and translog.verify_consistency(known.size, head.size, known.root, head.root, consistency))
        ):
            return self._forget_and_check(agreement_id)  # not a prefix of the latest: prove everything again
        result = self._judge(str(agreement_id), entries, events, leaves, head, proofs, known)
        if head is not None:
            with self._verified_lock:
                if result["valid"]:
                    self._verified[agreement_id] = Verified(
                        head.size, head.root, {s: leaf for s, _, _, leaf in leaves if s < head.size})
                    self._verified.move_to_end(agreement_id)
                    while len(self._verified) > VERIFIED_CACHE_SIZE:
                        self._verified.popitem(last=False)
                else:
                    self._verified.pop(agreement_id, None)
        return result

    def _verdict(self, agreement_id: UUID) -> dict[str, Any]:
        """`check`'s verdict, judged again when one of its inputs changed (the row versions of
        the agreement's events, links and leaves in the log: one query that reads no event's
        content, where a check reads and hashes every event, 80 ms for 1,000 events; and the
        latest signed head) or when it is older than VERDICT_MAX_AGE_S (an edit of the files
        underneath, which writes no new row version, is so found within that time; `verify`
        always checks). The same inputs give the same verdict: `_judge` is a function of them,
        and a proof that this agreement's leaves are in that signed head stays a proof whatever
        else the log holds (a verdict that a proof failed stays until the agreement's inputs
        change: the warning errs on the side of being shown). A read of a past state so says
        what a check now would, at a fraction of the cost."""
        with self.recorder.datastore.get_connection() as conn, conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            with conn.cursor() as curs:
                curs.execute(self._select_fingerprint, {"id": agreement_id})
                own = curs.fetchone() or {}
                head = self.log.latest(curs)
        key = (*(own.get(part) for part in ("events", "chain", "leaves")),
               None if head is None else (head.size, head.root, head.signed_at, head.key_id, head.public_key,
                                          head.signature))
        now = time.monotonic()

        def remembered() -> dict[str, Any] | None:
            cached = self._verdicts.get(agreement_id)
            if cached is not None and cached[0] == key and now - cached[2] < VERDICT_MAX_AGE_S:
                return cached[1]
            return None

        with self._verified_lock:
            if (verdict := remembered()) is not None:
                return verdict
            # One check of an agreement at a time: readers who arrive meanwhile wait for its
            # verdict instead of each checking the same rows again.
            gate = self._checking.setdefault(agreement_id, threading.Lock())
        with gate:
            with self._verified_lock:
                if (verdict := remembered()) is not None:
                    return verdict  # judged while this reader waited
            result: dict[str, Any] | None = None
            try:
                result = self.check(agreement_id)
            finally:
                with self._verified_lock:
                    if result is not None:
                        # (The check read its own snapshot: a change between the two reads makes
                        # the key stale, and the next read judges again.)
                        self._verdicts[agreement_id] = (key, result, now)
                        self._verdicts.move_to_end(agreement_id)
                        while len(self._verdicts) > VERIFIED_CACHE_SIZE:
                            self._verdicts.popitem(last=False)
                    if self._checking.get(agreement_id) is gate:  # (not a later reader's)
                        del self._checking[agreement_id]  # a reader holding it finds the verdict
        return result

    def _forget_and_check(self, agreement_id: UUID) -> dict[str, Any]:
        with self._verified_lock:
            self._verified.pop(agreement_id, None)
        return self.check(agreement_id)

    def _judge(self, agreement: str, entries: list[dict[str, Any]], events: dict[int, tuple[str, bytes]],
               leaves: list[tuple[int, str, int, bytes]], head: TreeHead | None,
               proofs: dict[int, list[bytes]] | None, known: Verified | None = None) -> dict[str, Any]:
        """Each event's leaf is recomputed from the event and its stored link to the one
        before (`hash = SHA-256(prev_hash || record)`), so an event changed is named alone;
        the chain's own check names a broken link."""
        problems: list[tuple[int, int, str]] = []  # (version, rank: the log's findings first, reason)
        chain = check_chain(entries)
        if not chain.valid and chain.first_invalid_version is not None:
            problems.append((chain.first_invalid_version, 1, chain.reason or "unreadable"))
        by_version = {e["version"]: e for e in entries}
        logged = {version: (seq, service, leaf) for seq, service, version, leaf in leaves}
        # The log's order: an aggregate's versions take increasing positions.
        for (_, _, before, _), (_, _, after, _) in itertools.pairwise(leaves):
            if after <= before:
                problems.append((min(before, after), 0, "events_reordered"))
                break

        def leaf_of(event: tuple[str, bytes], version: int, service: str) -> bytes | None:
            """The leaf of a stored event had it stood at `version`, linked as that version's."""
            place = by_version.get(version)
            prev = place.get("prev_hash") if place else None
            if prev is None:
                return None
            try:
                link = chain_hash(prev, record_of(agreement, version, *event))
            except RecordError:
                return None
            return translog.event_leaf(service, agreement, version, link)

        changed = []
        for version, (_, service, leaf) in sorted(logged.items()):
            event = events.get(version)
            if event is None:
                problems.append((version, 0, "event_missing"))
            elif leaf_of(event, version, service) != leaf:
                changed.append((version, event, service))
        for version, event, service in changed:
            # An event moved to another version: it is that version's leaf, where it stood.
            moved = any(other != version and leaf_of(event, other, service) == leaf
                        for other, (_, _, leaf) in logged.items())
            # The event is what the signed head holds, and the log's row was edited instead.
            seq, own = logged[version][0], leaf_of(event, version, service)
            proof = (proofs or {}).get(seq)
            log_edited = (own is not None and head is not None and proof is not None
                          and translog.verify_inclusion(own, seq, head.size, proof, head.root))
            problems.append((version, 0, "events_reordered" if moved else "log_changed" if log_edited
                             else "event_changed"))
        for version in events:
            if version not in logged:
                problems.append((version, 0, "event_unlogged"))

        anchored = None
        if head is not None:
            if not self._head_signed(head):
                problems.append((min(logged) if logged else 1, 0, "head_signature_invalid"))
            else:
                covered = sorted((v, seq, leaf) for v, (seq, _, leaf) in logged.items() if seq < head.size)
                for version, seq, leaf in covered:
                    if known is not None and known.leaves.get(seq) == leaf:
                        anchored = version  # proven in a head the latest is consistent with (`check`)
                        continue
                    proof = proofs.get(seq) if proofs is not None else None
                    if proof is None or not translog.verify_inclusion(leaf, seq, head.size, proof, head.root):
                        problems.append((version, 0, "not_in_log"))
                        break
                    anchored = version

        problems.sort()
        first = problems[0] if problems else None
        return {
            "valid": first is None,
            "events": len(events),
            "head_hash": entries[-1]["hash"] if entries else None,
            "first_invalid_version": first[0] if first else None,
            "reason": first[2] if first else None,
            "reason_text": _reason_text(first[2]) if first else None,
            "digest": None,
            "log": {
                "tree_size": head.size if head else None,
                "signed_at": head.signed_at if head else None,
                "root": head.root.hex() if head else None,
                "anchored_version": anchored,
                "leaves": len(leaves),
                "positions": [seq for seq, *_ in leaves],
            },
        }

    def _head_signed(self, head: TreeHead) -> bool:
        key = (head.size, head.root)
        ok = self._signed_ok.get(key)
        if ok is None:
            trusted = self.signing_key is None or signing.public_key_raw(self.signing_key) == head.public_key
            ok = trusted and signing.key_id(head.public_key) == head.key_id and signing.verify(
                head.public_key, head.payload(), head.signature)
            if len(self._signed_ok) > 1000:
                self._signed_ok.clear()
            self._signed_ok[key] = ok
        return ok

    def integrity_warning(self, agreement_id: UUID) -> dict[str, Any] | None:
        """For a read of a past state: None when the agreement verifies, else the warning
        its answer carries (`X-KSD-Integrity: failed`)."""
        result = self._verdict(agreement_id)
        if result["valid"]:
            return None
        return {"code": "integrity_failed", "first_invalid_version": result["first_invalid_version"],
                "reason": result["reason"], "reason_text": result["reason_text"],
                "message": "Riwayat kerja sama ini gagal diverifikasi; isi versi lampau mungkin telah diubah. / "
                           "This agreement's history failed verification; past content may have been altered."}

    def export(self, identity: Identity, agreement_id: UUID) -> dict[str, Any]:
        """A self-contained bundle: the events with their chain, each leaf's inclusion proof
        in the first signed head covering them all (signed now if none does), that head,
        the latest head and the consistency proof between them, and the public key."""
        require_roles(*EXPORT_ROLES)(identity)
        entries = self._entries(identity, agreement_id)
        with self.recorder.datastore.transaction(commit=False) as curs:
            leaves = self.log.aggregate_leaves(agreement_id, curs)
            latest = self.log.latest(curs)
        last_seq = max((seq for seq, *_ in leaves), default=-1)
        if (latest is None or latest.size <= last_seq) and self.signing_key is not None:
            # The log itself was edited: the bundle shows it against the last head.
            with contextlib.suppress(LogInconsistent):
                self.sign_heads(budget_seconds=30.0)
        log: dict[str, Any] | None = None
        with self.recorder.datastore.transaction(commit=False) as curs:
            latest = self.log.latest(curs)
            anchor = self.log.first_head_covering(last_seq, curs)
            if anchor is not None and latest is not None:
                try:
                    proofs = self.log.inclusion_proofs([s for s, *_ in leaves], anchor.size, curs)
                    consistency = self.log.consistency_proof(anchor.size, latest.size, curs)
                except LogInconsistent:
                    proofs, consistency = {}, []
                log = {
                    "service": SERVICE,
                    "head": anchor.to_dict(),
                    "latest": latest.to_dict(),
                    "consistency": [p.hex() for p in consistency],
                    "leaves": [{"seq": seq, "version": version, "leaf_hash": leaf.hex(),
                                "proof": [p.hex() for p in proofs.get(seq, [])]}
                               for seq, _, version, leaf in leaves],
                }
        public = (anchor.public_key if log else None)  # type: ignore[union-attr]
        return {
            "format": BUNDLE_FORMAT_V2,
            "agreement": str(agreement_id),
            "exported_at": self.registry.clock.now().isoformat(),
            "exported_by": {"sub": identity.sub, "tenant": identity.tenant},
            "events": [_shown(e) for e in entries],
            "log": log,
            "public_key": {
                "algorithm": "Ed25519",
                "key_id": signing.key_id(public),
                "base64": base64.b64encode(public).decode(),
            } if public else None,
        }

    # -- the transparency log's heads and proofs ---------------------------------------------

    def sign_heads(self, *, budget_seconds: float = SIGNING_BUDGET_SECONDS,
                   max_leaves: int = MAX_LEAVES_PER_HEAD) -> list[TreeHead]:
        """Sign tree heads until the log is covered or the time budget is spent (each
        cycle bounded, each in short transactions). Raises LogInconsistent: nothing signed."""
        if self.signing_key is None:
            raise RuntimeError("no audit signing key configured")
        key = self.signing_key
        public = signing.public_key_raw(key)
        signed: list[TreeHead] = []
        deadline = time.monotonic() + budget_seconds
        while True:
            head = self.log.sign_next(signed_at=self.registry.clock.now().isoformat(), key_id=signing.key_id(public),
                                      public_key=public, sign=lambda payload: signing.sign(key, payload),
                                      max_leaves=max_leaves)
            if head is None:
                return signed
            signed.append(head)
            if time.monotonic() >= deadline:
                return signed

    def list_heads(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        return [h.to_dict() for h in self.log.heads(limit, before)]

    def get_head(self, size: int) -> dict[str, Any]:
        head = self.log.head(size)
        if head is None:
            raise NotFound("Tidak ada kepala pohon bertanda tangan dengan ukuran ini.", code="head_not_found")
        return head.to_dict()

    def inclusion(self, seq: int, size: int) -> dict[str, Any]:
        latest = self.log.latest()
        if latest is None or size > latest.size or not 0 <= seq < size:
            raise BadRequest("seq harus < size, dan size paling besar ukuran kepala pohon terakhir.",
                             code="proof_out_of_range")
        with self.recorder.datastore.transaction(commit=False) as curs:
            proof = self.log.inclusion_proofs([seq], size, curs)[seq]
            curs.execute("SELECT leaf_hash FROM audit.log_leaves WHERE seq = %s", (seq,))
            row = curs.fetchone()
        return {"seq": seq, "size": size, "leaf_hash": bytes(row["leaf_hash"]).hex() if row else None,
                "proof": [p.hex() for p in proof]}

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        latest = self.log.latest()
        if latest is None or second > latest.size or not 0 <= first <= second:
            raise BadRequest("from harus <= to, dan to paling besar ukuran kepala pohon terakhir.",
                             code="proof_out_of_range")
        return {"from": first, "to": second, "proof": [p.hex() for p in self.log.consistency_proof(first, second)]}

    def leaves(self, start: int, end: int) -> list[dict[str, Any]]:
        """Leaf hashes only (public: no agreement ids), positions [start, end)."""
        return [{"seq": leaf["seq"], "leaf_hash": leaf["leaf_hash"]} for leaf in self.log.leaves(start, end)]

    # -- national digests (replaced by the log's tree heads; the ones signed stay published) ----

    def list_digests(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        return self.digests.page(limit, before)


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    if "record" in entry:
        return history_entry(entry["record"], entry["prev_hash"], entry["hash"])
    return {"version": entry["version"], "error": entry["error"], "reason": entry.get("reason", "unreadable"),
            "prev_hash": entry["prev_hash"], "hash": entry["hash"]}


def _visible(identity: Identity, entries: list[dict[str, Any]]) -> bool:
    """Whether the caller may see an agreement, from the parties its first stored event
    recorded (so a damaged history can still be inspected)."""
    first = entries[0].get("record") or {}
    parties = (first.get("data") or {}).get("parties") or ()
    regions = [p.get("region") for p in parties if isinstance(p, dict) and p.get("kind") == "region"]
    return can_see(identity.tenant, [r for r in regions if isinstance(r, str)])


def _with_correctable_facts(event: dict[str, Any]) -> dict[str, Any]:
    """The history's entry with the facts a correction may change in its step (sorted; by the
    names the event's `data` uses). Not in the chain's hash, nor in the export bundle: it is
    the registry's rule of today, not what was recorded."""
    if "error" not in event:
        event["correctable_facts"] = sorted(CORRECTABLE_FACTS.get(event.get("type") or "", ()))
    return event


def _reason_text(reason: str | None) -> dict[str, str] | None:
    if reason is None:
        return None
    indonesian, english = BUNDLE_REASONS.get(reason, (reason, reason))
    return {"id": indonesian, "en": english}
