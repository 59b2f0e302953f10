"""Audit use cases: history, verification, national digests and export bundles.

The hash chain is written by the event store itself (`shared.audit.store`); this module
reads it back for a caller, and signs and proves the national digests.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.registry.application import Registry
from shared.audit import merkle, signing
from shared.audit.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_REASONS,
    anchor_problem,
    digest_payload,
    history_entry,
)
from shared.audit.chain import check_chain
from shared.audit.store import Digest, DigestRefused, DigestStore, HashChainRecorder, tree_leaves
from shared.auth import Identity, require_roles
from shared.errors import NotFound
from shared.tenancy import can_see

EXPORT_ROLES = ("auditor", "monitor")


@dataclass(frozen=True)
class _Tree:
    """A digest's Merkle tree, rebuilt from the stored chain (cached per digest)."""

    digest: Digest
    public_key: bytes
    heads: list[tuple[str, int, str]]
    index: dict[str, int]
    leaves: list[bytes]
    matches: bool  # the rebuilt root is the signed one


class Audit:
    def __init__(self, registry: Registry, *, signing_key: Ed25519PrivateKey | None = None) -> None:
        self.registry = registry
        self.recorder: HashChainRecorder = registry.recorder  # type: ignore[assignment]
        self.digests = DigestStore(self.recorder)
        self.signing_key = signing_key
        self._tree: _Tree | None = None
        self._tree_lock = threading.Lock()

    # -- reading one agreement -----------------------------------------------------------

    def _entries(self, identity: Identity, agreement_id: UUID) -> list[dict[str, Any]]:
        """The stored chain, if the caller may see the agreement. Visibility comes from the
        parties its first event recorded, so a damaged history can still be inspected."""
        entries = self.recorder.chain_entries(agreement_id)
        if not entries:
            raise NotFound("Kerja sama tidak ditemukan.")
        first = entries[0].get("record") or {}
        parties = (first.get("data") or {}).get("parties") or ()
        regions = [p.get("region") for p in parties if isinstance(p, dict) and p.get("kind") == "region"]
        if not can_see(identity.tenant, [r for r in regions if isinstance(r, str)]):
            raise NotFound("Kerja sama tidak ditemukan.")
        return entries

    def history(self, identity: Identity, agreement_id: UUID) -> list[dict[str, Any]]:
        """Every event in order, as recorded, with its link of the chain. An event that can
        no longer be read is listed with its error instead of its content."""
        return [_shown(e) for e in self._entries(identity, agreement_id)]

    def verify(self, identity: Identity, agreement_id: UUID) -> dict[str, Any]:
        """Recompute the chain from the stored events, and hold its head against the
        latest signed digest (which catches a history cut short, hashes and all)."""
        entries = self._entries(identity, agreement_id)
        check = check_chain(entries)
        result: dict[str, Any] = {
            "valid": check.valid,
            "events": len(entries),
            "head_hash": entries[-1]["hash"] if entries else None,
            "first_invalid_version": check.first_invalid_version,
            "reason": check.reason,
            "reason_text": _reason_text(check.reason),
            "digest": None,
        }
        tree = self._current_tree()
        if tree is None:
            return result
        anchored = self._anchor(tree, str(agreement_id))
        result["digest"] = {
            "sequence": tree.digest.sequence,
            "issued_at": tree.digest.issued_at,
            "anchored_version": anchored[1] if anchored else None,
            "matches": tree.matches,
        }
        if not check.valid:
            return result
        if not tree.matches:
            return {**result, "valid": False, "reason": "store_changed", "reason_text": _reason_text("store_changed")}
        problem = anchor_problem([e["hash"] for e in entries], anchored[1], anchored[2]) if anchored else None
        if problem is not None:
            reason, version = problem
            return {**result, "valid": False, "first_invalid_version": version, "reason": reason,
                    "reason_text": _reason_text(reason)}
        return result

    def export(self, identity: Identity, agreement_id: UUID) -> dict[str, Any]:
        """A self-contained bundle: events, chain, the latest digest covering the whole
        history (signed now if the last one does not), its inclusion proof and the key."""
        require_roles(*EXPORT_ROLES)(identity)
        entries = self._entries(identity, agreement_id)
        agreement = str(agreement_id)
        tree = self._current_tree()
        anchored = self._anchor(tree, agreement) if tree else None
        if anchored is None or anchored[1] < len(entries):
            try:
                self.issue_digest()
            except DigestRefused:
                pass  # the store changed behind our back; the bundle shows it against the last digest
            tree = self._current_tree()
            anchored = self._anchor(tree, agreement) if tree else None
        inclusion = None
        if tree is not None and anchored is not None:
            index = tree.index[agreement]
            inclusion = {
                "leaf": {"id": anchored[0], "version": anchored[1], "hash": anchored[2]},
                "index": index,
                "tree_size": len(tree.leaves),
                "path": [p.hex() for p in merkle.inclusion_proof(tree.leaves, index)],
            }
        return {
            "format": BUNDLE_FORMAT,
            "agreement": str(agreement_id),
            "exported_at": self.registry.clock.now().isoformat(),
            "exported_by": {"sub": identity.sub, "tenant": identity.tenant},
            "events": [_shown(e) for e in entries],
            "digest": tree.digest.to_dict() if tree else None,
            "inclusion": inclusion,
            "public_key": {
                "algorithm": "Ed25519",
                "key_id": tree.digest.key_id,
                "base64": base64.b64encode(tree.public_key).decode(),
            } if tree else None,
        }

    # -- national digests ------------------------------------------------------------------

    def issue_digest(self, *, force: bool = False) -> Digest | None:
        """Sign the Merkle root over every agreement's head hash (None: nothing new)."""
        if self.signing_key is None:
            raise RuntimeError("no audit signing key configured")
        public = signing.public_key_raw(self.signing_key)
        return self.digests.issue(
            now=self.registry.clock.now(),
            key_id=signing.key_id(public),
            public_key=public,
            sign=lambda payload: signing.sign(self.signing_key, payload),
            force=force,
        )

    def list_digests(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        return [
            {**digest.to_dict(), "public_key": base64.b64encode(public).decode()}
            for digest, public in self.digests.page(limit, before)
        ]

    def _current_tree(self) -> _Tree | None:
        latest = self.digests.latest()
        if latest is None:
            return None
        digest, public = latest
        with self._tree_lock:
            if self._tree is not None and self._tree.digest.sequence == digest.sequence:
                return self._tree
            heads = self.recorder.heads(digest.position)
            leaves = tree_leaves(heads)
            signed = signing.verify(public, digest_payload(digest.to_dict()), digest.signature)
            tree = _Tree(
                digest=digest,
                public_key=public,
                heads=heads,
                index={h[0]: i for i, h in enumerate(heads)},
                leaves=leaves,
                # A digest row nobody signed, or a tree that no longer rebuilds: the store changed.
                matches=signed and len(leaves) == digest.tree_size and merkle.root(leaves).hex() == digest.root,
            )
            # Kept only while it matches: a store found changed is looked at afresh each time.
            self._tree = tree if tree.matches else None
            return tree

    @staticmethod
    def _anchor(tree: _Tree, agreement: str) -> tuple[str, int, str] | None:
        index = tree.index.get(agreement)
        return tree.heads[index] if index is not None else None



def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    if "record" in entry:
        return history_entry(entry["record"], entry["prev_hash"], entry["hash"])
    return {"version": entry["version"], "error": entry["error"], "reason": entry.get("reason", "unreadable"),
            "prev_hash": entry["prev_hash"], "hash": entry["hash"]}


def _reason_text(reason: str | None) -> dict[str, str] | None:
    if reason is None:
        return None
    indonesian, english = BUNDLE_REASONS[reason]
    return {"id": indonesian, "en": english}
