"""Merkle tree hashes, inclusion proofs and their verification, exactly as RFC 9162
(Certificate Transparency v2) section 2.1 defines them.

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH({})         = SHA-256("")
    MTH(D[n])       = node_hash(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

Domain separation (the 0x00 and 0x01 prefixes) matters: without it the 64 bytes of two child
hashes could be presented as a leaf whose hash equals an inner node's, so a proof could
"include" data that was never a leaf (a second-preimage attack). With it, a leaf's hash can
never equal an inner node's hash unless SHA-256 collides.

Pure (standard library only): the offline verifier imports it with no database and no network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    """Hash pairs left to right; an unpaired last node moves up unchanged.

    Level by level from the leaves, this builds the same left-balanced tree as RFC 9162's
    split at the largest power of two below n, without recursion or slicing.
    """
    paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaves that are already leaf-hashed; SHA-256("") for the empty tree."""
    if not leaf_hashes:
        return hashlib.sha256(b"").digest()
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path PATH(index, D[n]) of RFC 9162 2.1.3.1, from the leaf up to the root."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaf_hashes)} leaves")
    proof: list[bytes] = []
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):  # else the node moves up unchanged: no step in the path
            proof.append(level[sibling])
        level = _next_level(level)
        index //= 2
    return proof


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does `proof` show the leaf at `index` in the tree of `tree_size`
    leaves whose root is `root`? False on any mismatch or malformed input, never raises.

    The tree size is checked only through the shape of the path (its length and the side
    each step joins on), so a proof also verifies for other sizes of the same shape: trust
    a size only when it is signed together with the root.
    """
    if not (isinstance(index, int) and isinstance(tree_size, int) and 0 <= index < tree_size):
        return False
    hashes = [leaf_hash, root, *proof]
    if not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes):
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False  # the path is longer than the tree is deep
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # fn == sn: skip the levels where fn has no sibling
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
