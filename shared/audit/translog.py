"""The transparency log: one append-only Merkle tree over every event of every service,
as RFC 9162 (Certificate Transparency v2) section 2.1 defines it.

Pure (standard library and `rfc8785` only): no database and no network, so the
offline verifiers (`ksd audit verify`, `ksd audit verify-log`) import it as it is.

The leaves. The event recorded at log position `seq` (0, 1, 2 … over every service, in the
event stores' order) is the leaf

    leaf_hash = SHA-256(0x00 || JCS({"service", "originator_id", "version", "chain_hash"}))

JCS is RFC 8785 canonical JSON; `service` is "registry", "monitoring" or "reporting",
`originator_id` the aggregate's UUID in lower-case hex with hyphens, `version` its version
(an integer) and `chain_hash` the lower-case hex of the event's link of its aggregate's hash
chain (`shared.audit.chain`), which commits to the event's topic, content and the SHA-256 of
its stored bytes, and to every version before it. A verifier in any language recomputes the
chain from the events, then the leaves. The leaf's bytes are a fixed template (tests check
it is JCS, by the `rfc8785` library, which also encodes anything the template cannot): the
write path hashes no event twice.

The tree. node_hash(l, r) = SHA-256(0x01 || l || r); the tree over n leaves is RFC 9162's
MTH. A *complete subtree* (level l, index i) is the tree over leaves [i*2^l, (i+1)*2^l): it
never changes once the log holds them all, so it is stored once (level 0 is the leaf) and
every subtree of the RFC's recursion is a handful of them. Proofs are thus O(log n) node
reads: `inclusion_ranges` / `consistency_ranges` name the subtrees a proof needs,
`nodes_for` the stored nodes, `range_hash` folds them.

Tree heads. A signed tree head is the Ed25519 signature of JCS({"format", "size", "root",
"signed_at", "key_id"}) (`head_payload`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import rfc8785

HASH_SIZE = 32
HEAD_FORMAT = "sinergi-ksd/tree-head/v1"
EMPTY_ROOT = hashlib.sha256(b"").digest()
SERVICES = ("registry", "monitoring", "reporting")

_sha256 = hashlib.sha256

Node = tuple[int, int]  # (level, index): the complete subtree over [index*2^level, (index+1)*2^level)


# -- canonical bytes ------------------------------------------------------------------------------


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON, by the maintained `rfc8785` library."""
    return rfc8785.dumps(value)


# JCS of the leaf object: keys in code-unit order, no whitespace; strings as they are when
# printable ASCII without quote or backslash, integers in decimal below 2^53.
_TEMPLATE = '\x00{"chain_hash":"%s","originator_id":"%s","service":"%s","version":%d}'


def _plain(text: Any) -> bool:
    """Printable ASCII without quote or backslash: JCS writes it as it is."""
    return type(text) is str and text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def leaf_data(service: str, originator_id: str, version: int, chain_hash: str) -> bytes:
    """The canonical bytes a leaf commits to (module docstring)."""
    if type(version) is int and 0 <= version < 2**53 and _plain(service) and _plain(originator_id) \
            and _plain(chain_hash):
        return (_TEMPLATE % (chain_hash, originator_id, service, version)).encode()[1:]
    return canonical({"service": service, "originator_id": originator_id, "version": version,
                      "chain_hash": chain_hash})


def event_leaf(service: str, originator_id: str, version: int, chain_hash: bytes | str) -> bytes:
    """The leaf hash of one event, from its chain link."""
    link = chain_hash if isinstance(chain_hash, str) else chain_hash.hex()
    return _sha256(b"\x00" + leaf_data(service, originator_id, version, link)).digest()


def trusted_leaf(service: str, originator_id: str, version: int, chain_hash: bytes) -> bytes:
    """`event_leaf` on the write path, for a known service name, `str(UUID)` and a version
    from the event store (no checks: the template is JCS for them)."""
    return _sha256((_TEMPLATE % (chain_hash.hex(), originator_id, service, version)).encode()).digest()


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def head_payload(size: int, root: bytes | str, signed_at: str, key_id: str) -> bytes:
    """The bytes a tree head's signature covers."""
    return canonical({"format": HEAD_FORMAT, "size": size, "root": root if isinstance(root, str) else root.hex(),
                      "signed_at": signed_at, "key_id": key_id})


# -- the tree as stored subtrees ------------------------------------------------------------------


def _largest_power_below(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(lo: int, hi: int) -> list[Node]:
    """The complete subtrees whose fold is MTH(D[lo:hi]), largest (leftmost) first. Every range
    RFC 9162's recursion makes starts at a multiple of a power of two at least its length."""
    if not 0 <= lo < hi:
        raise ValueError(f"empty or negative range [{lo}, {hi})")
    nodes = []
    pos, rest = lo, hi - lo
    for level in range(rest.bit_length() - 1, -1, -1):
        if rest >> level & 1:
            if pos % (1 << level):
                raise ValueError(f"range [{lo}, {hi}) is not one of the tree's subtrees")
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def peaks(size: int) -> list[Node]:
    """The complete subtrees that make up a tree of `size` leaves, largest first."""
    return range_nodes(0, size) if size else []


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH from the hashes of `range_nodes`/`peaks` (largest first)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(nodes: Mapping[Node, bytes], lo: int, hi: int) -> bytes:
    return fold([nodes[n] for n in range_nodes(lo, hi)])


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes are PATH(index, D[size]) (RFC 9162 2.1.3.1), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a tree of {size} leaves")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_below(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes are PROOF(first, D[second]) (RFC 9162 2.1.4.1)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []
    out: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, second, first, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                out.append((lo, hi))
            break
        k = _largest_power_below(n)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    out.reverse()
    return out


def nodes_for(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    return {node for lo, hi in ranges for node in range_nodes(lo, hi)}


def proof_hashes(nodes: Mapping[Node, bytes], ranges: Iterable[tuple[int, int]]) -> list[bytes]:
    return [range_hash(nodes, lo, hi) for lo, hi in ranges]


# -- building the stored subtrees -----------------------------------------------------------------


def extend(
    peak_hashes: Sequence[bytes],
    size: int,
    new_leaves: Iterable[bytes],
    emit: Callable[[int, int, bytes], Any] | None = None,
) -> tuple[list[bytes], int]:
    """Append leaves to a tree given by its peaks' hashes (`peaks(size)` order): calls
    `emit(level, index, hash)` for every complete subtree of level >= 1 the leaves complete,
    and returns the new peaks' hashes and size. Bounded memory (one hash per level)."""
    stack = list(peak_hashes)
    levels = [level for level, _ in peaks(size)]
    if len(levels) != len(stack):
        raise ValueError(f"a tree of {size} leaves has {len(levels)} peaks, {len(stack)} given")
    sha = _sha256
    for leaf in new_leaves:
        h, level = leaf, 0
        size += 1
        while levels and levels[-1] == level:
            h = sha(b"\x01" + stack.pop() + h).digest()
            levels.pop()
            level += 1
            if emit is not None:
                emit(level, (size >> level) - 1, h)
        stack.append(h)
        levels.append(level)
    return stack, size


def all_nodes(leaves: Sequence[bytes]) -> dict[Node, bytes]:
    """Every complete subtree of an in-memory log (tests, the mirror)."""
    nodes: dict[Node, bytes] = {(0, i): h for i, h in enumerate(leaves)}
    extend([], 0, leaves, lambda level, index, h: nodes.__setitem__((level, index), h))
    return nodes


def root_of(leaves: Sequence[bytes]) -> bytes:
    return fold(extend([], 0, leaves)[0])


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ---------------------------------------------------


def _hashes_ok(*hashes: Any) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether `proof` shows `leaf` at `index` in the tree of `size` leaves with `root`.
    False on any mismatch or malformed input, never raises."""
    if not (type(index) is int and type(size) is int and 0 <= index < size):
        return False
    if not _hashes_ok(leaf, root, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether `proof` shows the tree of `first` leaves with `first_root` is a prefix of the
    tree of `second` leaves with `second_root`. False on any mismatch, never raises."""
    if not (type(first) is int and type(second) is int and 0 <= first <= second):
        return False
    if not _hashes_ok(first_root, second_root, *proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is the proof's first node
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# -- a mirrored log, checked end to end -------------------------------------------------------------


def iter_hashes(data: bytes | memoryview) -> Iterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(view) - len(view) % HASH_SIZE, HASH_SIZE):
        yield bytes(view[i:i + HASH_SIZE])


def roots_at(leaves: bytes | memoryview, sizes: Sequence[int]) -> dict[int, bytes]:
    """The root of the log at each of `sizes`, from the concatenated 32-byte leaf hashes.
    Builds every complete subtree level by level (a node's children are adjacent 64 bytes
    of the level below: one hashlib call per node, in a tight loop), then folds each size's
    peaks."""
    data = bytes(leaves)
    total = len(data) // HASH_SIZE
    levels = [data[:total * HASH_SIZE]]
    sha = _sha256
    while len(levels[-1]) >= 2 * HASH_SIZE:
        below = levels[-1]
        end = len(below) - len(below) % (2 * HASH_SIZE)
        pair = 2 * HASH_SIZE
        levels.append(b"".join([sha(b"\x01" + below[i:i + pair]).digest() for i in range(0, end, pair)]))
    roots: dict[int, bytes] = {}
    for size in set(sizes):
        if 0 <= size <= total:
            roots[size] = fold([levels[level][idx * HASH_SIZE:(idx + 1) * HASH_SIZE] for level, idx in peaks(size)])
    return roots
