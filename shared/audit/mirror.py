"""A local mirror of the transparency log, and its end-to-end check (`ksd audit mirror URL
DIR`, `ksd audit verify-log DIR`).

A mirror directory holds:

- `leaves.bin`: every leaf hash (32 bytes each) in log order, position 0 first;
- `heads.jsonl`: every signed tree head fetched, one JSON object a line, by increasing size
  (as `GET /audit/heads` serves them, with the consistency proof from the previous head);
- `public_key`: the base64 Ed25519 key the heads were signed with (set at the first fetch,
  or given with `--public-key`; a later head signed by another key is refused).

Every fetch checks, before writing anything, that each new head is signed, that it is
consistent with the last head already mirrored (RFC 9162 consistency proof) and that the
fetched leaves rebuild its root. `verify_log` checks the whole directory again offline.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.audit import signing, translog

LEAVES_FILE = "leaves.bin"
HEADS_FILE = "heads.jsonl"
KEY_FILE = "public_key"
LEAVES_PAGE = 10_000


class MirrorError(RuntimeError):
    """The log served is not consistent with what was mirrored (or not signed): nothing written."""


def _head_ok(head: dict[str, Any], public: bytes) -> bool:
    try:
        payload = translog.head_payload(int(head["size"]), str(head["root"]), str(head["signed_at"]),
                                        str(head["key_id"]))
    except (KeyError, TypeError, ValueError):
        return False
    return signing.key_id(public) == head.get("key_id") and signing.verify(public, payload, str(head.get("signature")))


def _load(directory: Path) -> tuple[list[dict[str, Any]], bytes, bytes | None]:
    heads_path, leaves_path, key_path = directory / HEADS_FILE, directory / LEAVES_FILE, directory / KEY_FILE
    heads = [json.loads(line) for line in heads_path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if heads_path.exists() else []
    leaves = leaves_path.read_bytes() if leaves_path.exists() else b""
    key = base64.b64decode(key_path.read_text(encoding="ascii").strip(), validate=True) if key_path.exists() else None
    return heads, leaves, key


@dataclass
class MirrorResult:
    new_heads: int = 0
    new_leaves: int = 0
    size: int = 0
    root: str | None = None


def mirror(client: Any, base_url: str, directory: Path, *, trusted_public_key: bytes | None = None) -> MirrorResult:
    """Fetch new heads and leaves from `base_url` (an httpx-like client) into `directory`.
    Raises MirrorError (and writes nothing) when the served log is not consistent with the
    mirrored one, or a head is not signed by the key."""
    directory.mkdir(parents=True, exist_ok=True)
    heads, leaves, key = _load(directory)
    if key is not None and trusted_public_key is not None and key != trusted_public_key:
        raise MirrorError("the mirror was made with another public key")
    key = key or trusted_public_key
    last = heads[-1] if heads else None
    have = int(last["size"]) if last else 0
    base = base_url.rstrip("/")

    fresh: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if before is not None:
            params["before"] = before
        page = _get(client, f"{base}/audit/heads", params)
        items = [h for h in page["items"] if int(h["size"]) > have]
        fresh.extend(items)
        if len(items) < len(page["items"]) or page.get("next_before") is None:
            break
        before = page["next_before"]
    fresh.sort(key=lambda h: int(h["size"]))
    if not fresh:
        return MirrorResult(size=have, root=last["root"] if last else None)
    if key is None:
        key = base64.b64decode(fresh[0]["public_key"], validate=True)

    target = int(fresh[-1]["size"])
    got = bytearray()
    position = len(leaves) // translog.HASH_SIZE
    if position < have:
        raise MirrorError(f"the mirror holds {position} leaves, its last head {have}")
    while position + len(got) // translog.HASH_SIZE < target:
        start = position + len(got) // translog.HASH_SIZE
        page = _get(client, f"{base}/audit/leaves", {"from": start, "to": min(target, start + LEAVES_PAGE)})
        if not page["items"]:
            raise MirrorError(f"the server has no leaf at position {start}")
        for expected, leaf in enumerate(page["items"], start=start):
            if int(leaf["seq"]) != expected:
                raise MirrorError(f"leaf {leaf['seq']} served at position {expected}")
            got += bytes.fromhex(leaf["leaf_hash"])
    all_leaves = leaves[:have * translog.HASH_SIZE] + bytes(got) if position == have else leaves + bytes(got)
    roots = translog.roots_at(all_leaves, [int(h["size"]) for h in fresh] + ([have] if last else []))
    previous_size, previous_root = have, bytes.fromhex(last["root"]) if last else translog.EMPTY_ROOT
    for head in fresh:
        size, root = int(head["size"]), bytes.fromhex(head["root"])
        if not _head_ok(head, key) or base64.b64decode(head.get("public_key", ""), validate=True) != key:
            raise MirrorError(f"the head of size {size} is not signed by the mirror's key")
        proof = head.get("consistency") or {}
        if proof.get("from") != (previous_size if previous_size else None) and previous_size:
            proof = _get(client, f"{base}/audit/proofs/consistency", {"from": previous_size, "to": size})
        hashes = [bytes.fromhex(p) for p in proof.get("proof", [])]
        if previous_size and not translog.verify_consistency(previous_size, size, previous_root, root, hashes):
            raise MirrorError(f"the head of size {size} is not consistent with the head of size {previous_size}")
        if roots.get(size) != root:
            raise MirrorError(f"the leaves served do not rebuild the root of the head of size {size}")
        previous_size, previous_root = size, root

    with (directory / LEAVES_FILE).open("ab") as out:
        out.truncate(have * translog.HASH_SIZE if position == have else len(leaves))
        out.write(bytes(got))
    with (directory / HEADS_FILE).open("a", encoding="utf-8") as out:
        for head in fresh:
            out.write(json.dumps(head, sort_keys=True) + "\n")
    if not (directory / KEY_FILE).exists():
        (directory / KEY_FILE).write_text(base64.b64encode(key).decode("ascii") + "\n", encoding="ascii")
    return MirrorResult(len(fresh), len(got) // translog.HASH_SIZE, target, fresh[-1]["root"])


def _get(client: Any, url: str, params: dict[str, Any]) -> dict[str, Any]:
    response = client.get(url, params=params)
    if response.status_code != 200:
        raise MirrorError(f"GET {url} answered {response.status_code}")
    answer: dict[str, Any] = response.json()
    return answer


@dataclass
class LogCheck:
    valid: bool
    leaves: int = 0
    heads: int = 0
    size: int = 0
    seconds: float = 0.0
    problem: str | None = None
    key_trusted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.leaves / self.seconds if self.seconds > 0 else float("inf")

    def lines(self) -> list[str]:
        out = [f"Daun / leaves: {self.leaves}", f"Kepala pohon / tree heads: {self.heads} (ukuran terakhir / "
               f"last size {self.size})",
               f"Kecepatan / speed: {self.rate:,.0f} peristiwa/detik / events/s ({self.seconds:.3f} s)"]
        if self.valid and self.key_trusted:
            out.append("HASIL: UTUH. Setiap daun, kepala pohon dan bukti konsistensi cocok.")
            out.append("RESULT: INTACT. Every leaf, tree head and consistency proof checks out.")
        elif self.valid:
            out.append("HASIL: UTUH, JIKA kunci penanda tangan memang kunci Kemendagri (jalankan dengan --public-key).")
            out.append("RESULT: INTACT IF the signing key is Kemendagri's (run with --public-key).")
        else:
            out.append(f"HASIL: TIDAK UTUH: {self.problem}")
            out.append(f"RESULT: NOT INTACT: {self.problem}")
        return out


def verify_log(directory: Path, *, trusted_public_key: bytes | None = None) -> LogCheck:
    """Check a mirror end to end, offline: every head's signature, every consistency proof
    between consecutive heads, and every head's root rebuilt from the leaves (one pass)."""
    heads, leaves, key = _load(directory)
    start = time.perf_counter()
    count = len(leaves) // translog.HASH_SIZE
    check = LogCheck(False, count, len(heads), int(heads[-1]["size"]) if heads else 0)
    if key is None and trusted_public_key is None:
        check.problem = "tidak ada kunci publik / no public key"
        return check
    public = trusted_public_key or key
    if len(leaves) % translog.HASH_SIZE:
        check.problem = "leaves.bin terpotong / leaves.bin is truncated"
        return check
    previous_size, previous_root = 0, translog.EMPTY_ROOT
    for head in heads:
        size, root = int(head["size"]), bytes.fromhex(head["root"])
        if not _head_ok(head, public):  # type: ignore[arg-type]
            check.problem = f"tanda tangan kepala ukuran {size} tidak sah / the head of size {size} is not signed"
            return check
        proof = [bytes.fromhex(p) for p in (head.get("consistency") or {}).get("proof", [])]
        if size < previous_size or (previous_size and not translog.verify_consistency(
                previous_size, size, previous_root, root, proof)):
            check.problem = (f"kepala ukuran {size} tidak konsisten dengan ukuran {previous_size} / "
                             f"the head of size {size} is not consistent with size {previous_size}")
            return check
        previous_size, previous_root = size, root
    if previous_size > count:
        check.problem = f"daun kurang / missing leaves: {count} < {previous_size}"
        return check
    roots = translog.roots_at(leaves, [int(h["size"]) for h in heads])
    for head in heads:
        if roots[int(head["size"])].hex() != head["root"]:
            check.problem = (f"daun tidak membentuk akar kepala ukuran {head['size']} / the leaves do not rebuild "
                             f"the root of the head of size {head['size']}")
            return check
    check.seconds = time.perf_counter() - start
    check.valid = True
    check.key_trusted = trusted_public_key is not None
    return check
