"""The Merkle tree of RFC 9162 2.1: roots, inclusion proofs and their verification."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.audit.merkle import inclusion_proof, leaf_hash, node_hash, root, verify_inclusion

# ---------------------------------------------------------------------------- reference


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """The largest power of two strictly less than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 2.1.1, recursively, over the raw entries."""
    n = len(entries)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return _sha256(b"\x00" + entries[0])
    k = _split(n)
    return _sha256(b"\x01" + _mth(entries[:k]) + _mth(entries[k:]))


def _path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1, recursively, over the raw entries."""
    n = len(entries)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, entries[:k]), _mth(entries[k:])]
    return [*_path(m - k, entries[k:]), _mth(entries[:k])]


def _sides(m: int, n: int) -> list[str]:
    """Which side each element of PATH(m, D[n]) joins on, from the same recursion."""
    if n == 1:
        return []
    k = _split(n)
    return [*_sides(m, k), "right"] if m < k else [*_sides(m - k, n - k), "left"]


def _entries(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# ---------------------------------------------------------------------------- roots


@pytest.mark.parametrize("n", [*range(21), 100])
def test_root_matches_the_rfc_definition(n: int) -> None:
    entries = _entries(n)
    assert root([leaf_hash(e) for e in entries]) == _mth(entries)


def test_known_answers() -> None:
    assert root([]) == _sha256(b"")
    assert root([leaf_hash(b"")]) == _sha256(b"\x00")
    assert root([leaf_hash(b"")]).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert root([a, b]) == node_hash(a, b) == _sha256(b"\x01" + a + b)


def test_a_leaf_and_an_inner_node_never_hash_alike() -> None:
    # Domain separation: the two children's bytes, as a leaf, do not give their parent's hash.
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(a + b) != node_hash(a, b)


def test_a_large_tree() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(100_000)]
    assert len(root(leaves)) == 32


# ---------------------------------------------------------------------------- proofs


@pytest.mark.parametrize("n", range(1, 34))
def test_every_proof_verifies_and_every_tampering_fails(n: int) -> None:
    entries = _entries(n)
    leaves = [leaf_hash(e) for e in entries]
    top = root(leaves)
    for m in range(n):
        proof = inclusion_proof(leaves, m)
        assert proof == _path(m, entries)
        assert verify_inclusion(leaves[m], m, n, proof, top)

        assert not verify_inclusion(leaf_hash(b"other"), m, n, proof, top)
        for other in {m - 1, m + 1, m ^ 1, 0, n - 1} - {m}:
            assert not verify_inclusion(leaves[m], other, n, proof, top)
        # The tree size is bound only through the shape of the path: another size whose path
        # has the same shape passes (the size must be signed with the root), any other fails.
        for size in set(range(1, 2 * n + 2)) - {n}:
            same_shape = m < size and _sides(m, size) == _sides(m, n)
            assert verify_inclusion(leaves[m], m, size, proof, top) == same_shape
        for i, element in enumerate(proof):
            for bit in range(0, 256, 37):
                bad = [*proof[:i], _flip(element, bit), *proof[i + 1 :]]
                assert not verify_inclusion(leaves[m], m, n, bad, top)
        if proof:
            assert not verify_inclusion(leaves[m], m, n, proof[:-1], top)
        assert not verify_inclusion(leaves[m], m, n, [*proof, top], top)
        assert not verify_inclusion(leaves[m], m, n, [*proof, leaves[m]], top)
        assert not verify_inclusion(leaves[m], m, n, proof, _flip(top, 0))


def test_an_index_outside_the_tree() -> None:
    leaves = [leaf_hash(e) for e in _entries(5)]
    for index in (-1, 5, 6):
        with pytest.raises(ValueError):
            inclusion_proof(leaves, index)
    with pytest.raises(ValueError):
        inclusion_proof([], 0)
    top = root(leaves)
    proof = inclusion_proof(leaves, 4)
    assert not verify_inclusion(leaves[4], -1, 5, proof, top)
    assert not verify_inclusion(leaves[4], 5, 5, proof, top)
    assert not verify_inclusion(leaves[0], 0, 0, [], root([]))


def test_malformed_input_is_rejected_without_raising() -> None:
    leaves = [leaf_hash(e) for e in _entries(4)]
    top = root(leaves)
    proof = inclusion_proof(leaves, 1)
    assert not verify_inclusion(leaves[1], 1, 4, [*proof[:-1], b"short"], top)
    assert not verify_inclusion(leaves[1], 1, 4, [*proof[:-1], None], top)  # type: ignore[list-item]
    assert not verify_inclusion(leaves[1][:31], 1, 4, proof, top)
    assert not verify_inclusion(leaves[1], 1, 4, proof, top[:31])
    assert not verify_inclusion(leaves[1], "1", 4, proof, top)  # type: ignore[arg-type]


@given(
    st.lists(st.binary(max_size=16), min_size=1, max_size=70),
    st.integers(min_value=0),
)
def test_any_tree_any_leaf(entries: list[bytes], seed: int) -> None:
    leaves = [leaf_hash(e) for e in entries]
    n, m = len(leaves), seed % len(leaves)
    top = root(leaves)
    assert top == _mth(entries)
    proof = inclusion_proof(leaves, m)
    assert proof == _path(m, entries)
    assert verify_inclusion(leaves[m], m, n, proof, top)
    assert not verify_inclusion(_flip(leaves[m], seed % 256), m, n, proof, top)
