"""The audit bundle: one agreement's whole history with the proof that it is intact, in
one JSON file an auditor checks offline (`ksd audit verify FILE`).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.audit import merkle, signing
from shared.audit.chain import REASONS, canonical_json, check_chain

BUNDLE_FORMAT = "sinergi-ksd/audit-bundle/v1"
DIGEST_FORMAT = "sinergi-ksd/national-digest/v1"
RECORD_FIELDS = ("type", "topic", "recorded_at", "actor", "data", "state_sha256")
DIGEST_FIELDS = ("format", "sequence", "previous_root", "issued_at", "position", "tree_size", "root", "key_id")

# Verdicts that do not show tampering, only that intactness cannot be proven.
UNPROVEN = frozenset({"no_digest", "not_anchored"})
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

    def lines(self) -> list[str]:
        """The verdict for a person, in Bahasa Indonesia then English."""
        out = [f"Kerja sama / agreement: {self.agreement or '-'}", f"Peristiwa / events: {self.events}"]
        if self.digest_sequence is not None:
            out.append(
                f"Digest nasional / national digest: #{self.digest_sequence} ({self.digest_issued_at}), "
                f"kunci / key {self.key_id}, mencakup sampai versi / covers up to version {self.anchored_version}"
            )
        if self.valid and self.key_trusted:
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
    if not isinstance(bundle, Mapping) or bundle.get("format") != BUNDLE_FORMAT:
        return Verdict(False, reason="format")
    agreement = str(bundle.get("agreement"))
    events = bundle.get("events")
    if not isinstance(events, list):
        return Verdict(False, agreement, reason="format", detail="no events list")
    chain = check_chain(_entries(agreement, events))
    verdict = Verdict(chain.valid, agreement, chain.events, chain.head_hash, chain.first_invalid_version,
                      chain.reason, chain.detail)
    if not chain.valid:
        return verdict

    digest, inclusion, key = bundle.get("digest"), bundle.get("inclusion"), bundle.get("public_key")
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


def _fail(verdict: Verdict, reason: str, detail: str | None = None, *, first_invalid_version: int | None = None) -> Verdict:
    verdict.valid = False
    verdict.reason = reason
    verdict.detail = detail
    verdict.first_invalid_version = first_invalid_version
    return verdict
