"""The audit bundle: one agreement's whole history with the proof that it is intact, in
one JSON file an auditor checks offline (`ksd audit verify FILE`).

Format v2 (`sinergi-ksd/audit-bundle/v2`, what the platform exports) proves the history
against the transparency log (`shared.audit.translog`): every event's leaf is recomputed
from the event and shown, by its inclusion proof, in a signed tree head; that head is shown
consistent with the latest signed head. Verification checks, in order: the hash chain; the
key and the heads' Ed25519 signatures; each event's leaf at its log position (an event
changed, moved or left out is named at its version); the consistency proof.

Format v1 (below) proved an agreement's head against a national digest; it is still read.

Pure (standard library and `cryptography`): no database, no network, no platform code.

A bundle holds the events (each with the record fields that are hashed, `prev_hash` and
`hash`), the latest signed national digest, the inclusion proof of this agreement's head
in that digest's Merkle tree, and the public key. Verification checks, in order:

1. the hash chain, event by event (the first bad version is named);
2. the digest's Ed25519 signature (and, when the auditor supplies it, that the key is the
   one Kemendagri publishes);
3. that the digest's leaf for this agreement is the chain's hash at that version, and that
   the leaf is in the signed tree (RFC 9162 inclusion proof). This is what catches a
   history cut short or rewritten wholesale, hashes included.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.audit import merkle, signing, translog
from shared.audit.chain import REASONS, canonical_json, check_chain

BUNDLE_FORMAT = "sinergi-ksd/audit-bundle/v1"
BUNDLE_FORMAT_V2 = "sinergi-ksd/audit-bundle/v2"
DIGEST_FORMAT = "sinergi-ksd/national-digest/v1"
RECORD_FIELDS = ("type", "topic", "recorded_at", "actor", "data", "state_sha256")
DIGEST_FIELDS = ("format", "sequence", "previous_root", "issued_at", "position", "tree_size", "root", "key_id")

# Verdicts that do not show tampering, only that intactness cannot be proven.
UNPROVEN = frozenset({"no_digest", "not_anchored", "no_head"})
# Bundle-level reasons, beside the chain's own (chain.REASONS).
BUNDLE_REASONS: dict[str, tuple[str, str]] = {
    **REASONS,
    "format": ("berkas bukan bundel audit Sinergi KSD", "the file is not a Sinergi KSD audit bundle"),
    "no_digest": (
        "belum ada digest nasional yang mencakup kerja sama ini, sehingga keutuhannya belum dapat dipastikan",
        "no national digest covers this agreement yet, so its completeness cannot be confirmed",
    ),
    "key_mismatch": ("kunci publik tidak sesuai dengan kunci yang dipercaya", "the public key is not the trusted key"),
    "signature_invalid": ("tanda tangan digest nasional tidak sah", "the national digest's signature is invalid"),
    "head_mismatch": (
        "riwayat tidak sama dengan yang tercatat di digest nasional",
        "the history differs from what the national digest recorded",
    ),
    "store_changed": (
        "penyimpanan berubah sesudah digest nasional terakhir ditandatangani",
        "the store changed after the last national digest was signed",
    ),
    "not_anchored": (
        "versi-versi terakhir belum tercakup digest nasional, sehingga belum dapat dibuktikan",
        "the last versions are not covered by a national digest, so they cannot be proven",
    ),
    "not_in_digest": (
        "bukti inklusi tidak cocok dengan akar Merkle digest",
        "the inclusion proof does not match the digest's Merkle root",
    ),
    # The transparency log's findings.
    "event_changed": ("isi peristiwa tidak cocok dengan daunnya di log transparansi",
                      "the event does not match its leaf in the transparency log"),
    "event_missing": ("peristiwa tercatat di log transparansi tetapi hilang dari penyimpanan",
                      "the event is recorded in the transparency log but gone from the store"),
    "events_reordered": ("urutan peristiwa tidak sama dengan urutannya di log transparansi",
                         "the events are not in the order the transparency log recorded"),
    "event_unlogged": ("peristiwa tidak tercatat di log transparansi",
                       "the event is not recorded in the transparency log"),
    "log_changed": ("daun log transparansi diubah; peristiwanya sama dengan yang ditandatangani",
                    "the transparency log's leaf was edited; the event is the one signed"),
    "not_in_log": ("bukti inklusi tidak cocok dengan akar pohon log yang ditandatangani",
                   "the inclusion proof does not match the signed tree head's root"),
    "head_signature_invalid": ("tanda tangan kepala pohon log tidak sah", "the tree head's signature is invalid"),
    "inconsistent": ("log tidak konsisten dengan kepala pohon terbaru (riwayat log ditulis ulang)",
                     "the log is not consistent with the latest tree head (its history was rewritten)"),
    "no_head": ("belum ada kepala pohon log bertanda tangan yang mencakup kerja sama ini",
                "no signed tree head of the log covers this agreement yet"),
}


def leaf_data(agreement: str, version: int, head_hash: str) -> bytes:
    """What a digest's leaf commits to: one aggregate's head as of the digest."""
    return canonical_json({"id": agreement, "version": version, "hash": head_hash})


def anchor_problem(hashes: Sequence[str | None], version: int, head: str) -> tuple[str, int] | None:
    """Where a history (its hashes, version 1 first) disagrees with the head a signed
    digest recorded for it: (reason, first bad version), or None."""
    if version > len(hashes):
        return "missing", len(hashes) + 1  # the digest saw versions this history no longer has
    if hashes[version - 1] != head:
        return "head_mismatch", version  # rewritten, hashes and all
    return None


def digest_payload(digest: Mapping[str, Any]) -> bytes:
    """The bytes a digest's signature covers."""
    return canonical_json({k: digest[k] for k in DIGEST_FIELDS})


def history_entry(record: Mapping[str, Any], prev_hash: str, digest: str) -> dict[str, Any]:
    """A record as the history and the bundle show it."""
    return {
        "version": record["version"],
        **{k: record[k] for k in RECORD_FIELDS},
        "prev_hash": prev_hash,
        "hash": digest,
    }


@dataclass
class Verdict:
    valid: bool
    agreement: str | None = None
    events: int = 0
    head_hash: str | None = None
    first_invalid_version: int | None = None
    reason: str | None = None
    detail: str | None = None
    digest_sequence: int | None = None
    digest_issued_at: str | None = None
    anchored_version: int | None = None
    key_id: str | None = None
    key_fingerprint: str | None = None
    key_trusted: bool = False
    notes: list[str] = field(default_factory=list)
    proven: int | None = None  # v2: events whose leaf is proven in the signed tree head
    tree_size: int | None = None
    tree_signed_at: str | None = None
    latest_size: int | None = None

    def lines(self) -> list[str]:
        """The verdict for a person, in Bahasa Indonesia then English."""
        out = [f"Kerja sama / agreement: {self.agreement or '-'}", f"Peristiwa / events: {self.events}"]
        if self.tree_size is not None:
            out.append(f"Kepala pohon log / log tree head: ukuran / size {self.tree_size} ({self.tree_signed_at}), "
                       f"kunci / key {self.key_id}")
            if self.latest_size is not None:
                out.append(f"Konsisten dengan kepala terbaru / consistent with the latest head: ukuran / size "
                           f"{self.latest_size}")
        if self.proven is not None:
            out.append(f"Terbukti di log / proven in the log: {self.proven} dari / of {self.events} peristiwa / events")
        if self.digest_sequence is not None:
            covers = (f", mencakup sampai versi / covers up to version {self.anchored_version}"
                      if self.anchored_version is not None else "")
            out.append(f"Digest nasional / national digest: #{self.digest_sequence} ({self.digest_issued_at}), "
                       f"kunci / key {self.key_id}{covers}")
        if self.valid and self.key_trusted and self.tree_size is not None:
            out.append("HASIL: UTUH. Riwayat lengkap, tidak diubah, dan tercatat di log transparansi "
                       "yang ditandatangani.")
            out.append("RESULT: INTACT. The history is complete, unaltered, and recorded in the signed "
                       "transparency log.")
        elif self.valid and self.key_trusted:
            out.append("HASIL: UTUH. Riwayat lengkap, tidak diubah, dan tercakup digest nasional yang ditandatangani.")
            out.append("RESULT: INTACT. The history is complete, unaltered, and covered by the signed national digest.")
        elif self.valid:
            out.append("HASIL: UTUH, JIKA kunci penanda tangan memang kunci Kemendagri (belum dikonfirmasi: "
                       "jalankan dengan --public-key).")
            out.append("RESULT: INTACT IF the signing key is Kemendagri's (not confirmed: run with --public-key).")
            out.append(f"Sidik kunci / key fingerprint (SHA-256): {self.key_fingerprint}")
        else:
            indonesian, english = BUNDLE_REASONS.get(self.reason or "", (self.reason or "?", self.reason or "?"))
            where_id = f" pada versi {self.first_invalid_version}" if self.first_invalid_version else ""
            where_en = f" at version {self.first_invalid_version}" if self.first_invalid_version else ""
            if self.reason in UNPROVEN:
                out.append(f"HASIL: BELUM TERBUKTI{where_id}: {indonesian}.")
                out.append(f"RESULT: NOT PROVEN{where_en}: {english}.")
            else:
                out.append(f"HASIL: TIDAK UTUH{where_id}: {indonesian}.")
                out.append(f"RESULT: NOT INTACT{where_en}: {english}.")
                if self.first_invalid_version:
                    out.append(f"Versi pertama yang bermasalah / first bad version: {self.first_invalid_version}")
            if self.detail:
                out.append(f"Rincian / detail: {self.detail}")
        out.extend(self.notes)
        return out


def _entries(agreement: str, events: list[Any]) -> list[dict[str, Any]]:
    entries = []
    for event in events:
        if not isinstance(event, Mapping):
            entries.append({"version": None, "error": "event is not an object"})
            continue
        entry: dict[str, Any] = {k: event.get(k) for k in ("version", "prev_hash", "hash")}
        if event.get("error"):
            entry["error"], entry["reason"] = event["error"], event.get("reason")
        elif all(k in event for k in RECORD_FIELDS):
            entry["record"] = {"originator": agreement, "version": event.get("version"),
                               **{k: event[k] for k in RECORD_FIELDS}}
        else:
            entry["error"] = "event lacks a record field"
        entries.append(entry)
    return entries


def verify_bundle(bundle: Any, *, trusted_public_key: bytes | None = None) -> Verdict:
    """Check a bundle with nothing but itself and, for a verdict worth its name, the key
    the auditor trusts. Never raises: a malformed bundle is a verdict too."""
    try:
        return _verify(bundle, trusted_public_key)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
        return Verdict(False, reason="format", detail=f"{type(exc).__name__}: {exc}"[:300])


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, found {value!r}"[:80])
    return value


def _verify(bundle: Any, trusted_public_key: bytes | None) -> Verdict:
    if isinstance(bundle, Mapping) and bundle.get("format") == BUNDLE_FORMAT_V2:
        return _verify_v2(bundle, trusted_public_key)
    if not isinstance(bundle, Mapping) or bundle.get("format") != BUNDLE_FORMAT:
        return Verdict(False, reason="format")
    agreement = str(bundle.get("agreement"))
    events = bundle.get("events")
    if not isinstance(events, list):
        return Verdict(False, agreement, reason="format", detail="no events list")
    chain = check_chain(_entries(agreement, events))
    verdict = Verdict(chain.valid, agreement, len(events), chain.head_hash, chain.first_invalid_version,
                      chain.reason, chain.detail)
    if not chain.valid:
        return verdict

    digest, inclusion = bundle.get("digest"), bundle.get("inclusion")
    key: Any = bundle.get("public_key")  # not a mapping: TypeError, read as "format" below
    if not digest or not inclusion:
        return _fail(verdict, "no_digest")
    try:
        public = base64.b64decode(key["base64"], validate=True)
        verdict.digest_sequence, verdict.digest_issued_at = digest["sequence"], digest["issued_at"]
        verdict.key_id = digest["key_id"]
        payload = digest_payload(digest)
        leaf, path = inclusion["leaf"], [bytes.fromhex(p) for p in inclusion["path"]]
        index, tree_size, root = _int(inclusion["index"]), _int(digest["tree_size"]), bytes.fromhex(digest["root"])
        version, head = _int(leaf["version"]), str(leaf["hash"])
        proof_size = _int(inclusion.get("tree_size"))
    except (KeyError, TypeError, ValueError) as exc:
        return _fail(verdict, "format", f"digest or proof unreadable: {exc}")

    if signing.key_id(public) != digest["key_id"] or (
        trusted_public_key is not None and public != trusted_public_key
    ):
        return _fail(verdict, "key_mismatch")
    if digest.get("format") != DIGEST_FORMAT or not signing.verify(public, payload, str(digest.get("signature"))):
        return _fail(verdict, "signature_invalid")
    if str(leaf.get("id")) != agreement or version < 1:
        return _fail(verdict, "not_in_digest", "the proof is for another agreement")
    problem = anchor_problem([e.get("hash") for e in events], version, head)
    if problem is not None:
        return _fail(verdict, problem[0], first_invalid_version=problem[1])
    if proof_size != tree_size or not merkle.verify_inclusion(
        merkle.leaf_hash(leaf_data(agreement, version, head)), index, tree_size, path, root
    ):
        return _fail(verdict, "not_in_digest")
    verdict.anchored_version = version
    verdict.key_fingerprint = hashlib.sha256(public).hexdigest()
    verdict.key_trusted = trusted_public_key is not None
    if version < chain.events:
        # Anyone can chain SHA-256 links: versions after the signed head prove nothing yet.
        return _fail(verdict, "not_anchored", f"versi/versions {version + 1}-{chain.events}",
                     first_invalid_version=version + 1)
    return verdict


def _fail(verdict: Verdict, reason: str, detail: str | None = None, *, first_invalid_version: int | None = None,
          keep_chain: bool = False) -> Verdict:
    """`keep_chain`: a broken chain's finding stands (it names the version) before this one."""
    if keep_chain and not verdict.valid and verdict.first_invalid_version is not None:
        return verdict
    verdict.valid = False
    verdict.reason = reason
    verdict.detail = detail
    verdict.first_invalid_version = first_invalid_version
    return verdict


def _head_signed(head: Mapping[str, Any], public: bytes) -> bool:
    payload = translog.head_payload(_int(head["size"]), str(head["root"]), str(head["signed_at"]), str(head["key_id"]))
    return signing.key_id(public) == head["key_id"] and signing.verify(public, payload, str(head.get("signature")))


def _verify_v2(bundle: Mapping[str, Any], trusted_public_key: bytes | None) -> Verdict:
    agreement = str(bundle.get("agreement"))
    events = bundle.get("events")
    if not isinstance(events, list):
        return Verdict(False, agreement, reason="format", detail="no events list")
    chain = check_chain(_entries(agreement, events))
    verdict = Verdict(chain.valid, agreement, len(events), chain.head_hash, chain.first_invalid_version,
                      chain.reason, chain.detail)
    log, key = bundle.get("log"), bundle.get("public_key")
    if not log or not key:
        return verdict if not chain.valid else _fail(verdict, "no_head")
    try:
        public = base64.b64decode(key["base64"], validate=True)
        head, latest = log["head"], log["latest"]
        size, root = _int(head["size"]), bytes.fromhex(head["root"])
        latest_size, latest_root = _int(latest["size"]), bytes.fromhex(latest["root"])
        consistency = [bytes.fromhex(p) for p in log["consistency"]]
        service = str(log["service"])
        leaves = {}
        for leaf in log["leaves"]:
            leaves[_int(leaf["version"])] = (_int(leaf["seq"]), bytes.fromhex(leaf["leaf_hash"]),
                                             [bytes.fromhex(p) for p in leaf["proof"]])
    except (KeyError, TypeError, ValueError) as exc:
        return _fail(verdict, "format", f"log or proof unreadable: {exc}")
    verdict.key_id, verdict.tree_size, verdict.tree_signed_at = head.get("key_id"), size, head.get("signed_at")
    verdict.latest_size = latest_size
    verdict.proven = 0
    if trusted_public_key is not None and public != trusted_public_key:
        return _fail(verdict, "key_mismatch", keep_chain=True)
    if not (_head_signed(head, public) and _head_signed(latest, public)):
        return _fail(verdict, "head_signature_invalid", keep_chain=True)
    if not translog.verify_consistency(size, latest_size, root, latest_root, consistency):
        return _fail(verdict, "inconsistent", keep_chain=True)

    problems: list[tuple[int, str]] = []
    if not chain.valid and chain.first_invalid_version is not None:
        problems.append((chain.first_invalid_version, chain.reason or "unreadable"))
    order = sorted(leaves.items(), key=lambda item: item[1][0])
    for (before, _), (after, _) in itertools.pairwise(order):
        if after <= before:
            problems.append((min(before, after), "events_reordered"))
            break
    proven, last_proven = 0, None
    for event in events:
        if not isinstance(event, Mapping) or type(event.get("version")) is not int:
            continue
        version = event["version"]
        found = leaves.get(version)
        if found is None:
            if not all(k in event for k in RECORD_FIELDS):
                continue  # an unreadable event: the chain has named it
            # After every logged version: recorded later than the bundle's head, or invented.
            problems.append((version, "not_anchored" if version > max(leaves, default=0) else "event_unlogged"))
            continue
        seq, logged, proof = found
        if event.get("error") or not all(k in event for k in RECORD_FIELDS):
            problems.append((version, "event_changed"))
            continue
        # The event's link (checked above against its content) is what its leaf commits to.
        if translog.leaf_hash(translog.leaf_data(service, agreement, version, str(event.get("hash")))) != logged:
            problems.append((version, "event_changed"))
        elif seq >= size:
            problems.append((version, "not_anchored"))
        elif not translog.verify_inclusion(logged, seq, size, proof, root):
            problems.append((version, "not_in_log"))
        elif chain.valid or version < (chain.first_invalid_version or 0):
            proven += 1  # its leaf proven, and its link recomputed from its content
            last_proven = version
    shown = {e.get("version") for e in events if isinstance(e, Mapping)}
    for version in leaves:
        if version not in shown:
            problems.append((version, "event_missing"))
    verdict.proven = proven
    verdict.anchored_version = last_proven
    if problems:
        version, reason = min(problems)
        return _fail(verdict, reason, first_invalid_version=version)
    verdict.valid = True
    verdict.reason = verdict.detail = verdict.first_invalid_version = None
    verdict.key_fingerprint = hashlib.sha256(public).hexdigest()
    verdict.key_trusted = trusted_public_key is not None
    return verdict
