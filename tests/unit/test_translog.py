"""The transparency log's tree (RFC 9162 2.1): roots, inclusion and consistency proofs made
from stored complete subtrees, their verification, and the leaves' canonical bytes."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.audit import translog
from shared.audit.translog import (
    all_nodes,
    consistency_ranges,
    extend,
    inclusion_ranges,
    leaf_data,
    nodes_for,
    peaks,
    proof_hashes,
    root_of,
    roots_at,
    verify_consistency,
    verify_inclusion,
)

# ------------------------------------------------------------------ the RFC's definitions, verbatim


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes, recursively as RFC 9162 2.1.1 writes it."""
    if not leaves:
        return _sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return _sha(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _leaves(n: int, salt: int = 0) -> list[bytes]:
    return [translog.leaf_hash(f"{salt}:{i}".encode()) for i in range(n)]


def _flips(hashes: list[bytes]):
    """Every single-bit change of a list of hashes: (position, changed list)."""
    for i, h in enumerate(hashes):
        for bit in range(len(h) * 8):
            changed = bytearray(h)
            changed[bit // 8] ^= 1 << (bit % 8)
            yield i, [*hashes[:i], bytes(changed), *hashes[i + 1:]]


def _flip(h: bytes, bit: int) -> bytes:
    changed = bytearray(h)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def _inclusion(nodes, index: int, size: int) -> list[bytes]:
    return proof_hashes(nodes, inclusion_ranges(index, size))


def _consistency(nodes, first: int, second: int) -> list[bytes]:
    return proof_hashes(nodes, consistency_ranges(first, second))


# ------------------------------------------------------------------------------------------ tests


def test_known_answers() -> None:
    assert translog.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert translog.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert root_of([]) == translog.EMPTY_ROOT


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=3))
def test_roots_and_every_proof_match_the_rfc(n: int, salt: int) -> None:
    leaves = _leaves(n, salt)
    nodes = all_nodes(leaves)
    assert root_of(leaves) == _mth(leaves)
    for size in range(1, n + 1):
        root = _mth(leaves[:size])
        assert translog.fold([nodes[p] for p in peaks(size)]) == root
        for index in range(size):
            proof = _inclusion(nodes, index, size)
            assert proof == _path(index, leaves[:size])
            assert verify_inclusion(leaves[index], index, size, proof, root)
        for first in range(1, size + 1):
            proof = _consistency(nodes, first, size)
            assert proof == _subproof(first, leaves[:size], True)
            assert verify_consistency(first, size, _mth(leaves[:first]), root, proof)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_every_single_bit_change_of_an_inclusion_proof_root_or_leaf_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=300))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaves = _leaves(size)
    nodes = all_nodes(leaves)
    root = root_of(leaves)
    proof = _inclusion(nodes, index, size)
    assert verify_inclusion(leaves[index], index, size, proof, root)
    for _, changed in _flips(proof):
        assert not verify_inclusion(leaves[index], index, size, changed, root)
    for bit in range(256):
        assert not verify_inclusion(_flip(leaves[index], bit), index, size, proof, root)
        assert not verify_inclusion(leaves[index], index, size, proof, _flip(root, bit))
    # Another leaf's proof, a shorter or longer path: refused.
    if size > 1:
        other = (index + 1) % size
        assert not verify_inclusion(leaves[other], index, size, proof, root)
    assert not verify_inclusion(leaves[index], index, size, [*proof, root], root)
    if proof:
        assert not verify_inclusion(leaves[index], index, size, proof[:-1], root)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_every_single_bit_change_of_a_consistency_proof_or_root_fails(data: st.DataObject) -> None:
    second = data.draw(st.integers(min_value=2, max_value=300))
    first = data.draw(st.integers(min_value=1, max_value=second - 1))
    leaves = _leaves(second, 7)
    nodes = all_nodes(leaves)
    old, new = root_of(leaves[:first]), root_of(leaves)
    proof = _consistency(nodes, first, second)
    assert verify_consistency(first, second, old, new, proof)
    for _, changed in _flips(proof):
        assert not verify_consistency(first, second, old, new, changed)
    for bit in range(256):
        assert not verify_consistency(first, second, _flip(old, bit), new, proof)
        assert not verify_consistency(first, second, old, _flip(new, bit), proof)
    # A log whose old part was rewritten is not consistent with the old head.
    position = data.draw(st.integers(min_value=0, max_value=first - 1))
    forged = [*leaves[:position], translog.leaf_hash(b"forged"), *leaves[position + 1:]]
    forged_nodes = all_nodes(forged)
    assert not verify_consistency(first, second, old, root_of(forged), _consistency(forged_nodes, first, second))
    assert not verify_consistency(first, second, old, new, proof[:-1])
    assert not verify_consistency(first, second, old, new, [*proof, new])


def test_same_size_and_empty_consistency() -> None:
    leaves = _leaves(5)
    root = root_of(leaves)
    assert verify_consistency(5, 5, root, root, [])
    assert not verify_consistency(5, 5, root, root, [root])
    assert not verify_consistency(5, 5, root, _flip(root, 0), [])
    assert verify_consistency(0, 5, translog.EMPTY_ROOT, root, [])
    assert not verify_consistency(6, 5, root, root, [])
    assert not verify_inclusion(leaves[0], 5, 5, [], root)
    assert not verify_inclusion(leaves[0], 0, 5, ["x"], root)  # type: ignore[list-item]


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=200))
def test_extending_from_stored_peaks_builds_every_subtree_once(before: int, added: int) -> None:
    leaves = _leaves(before + added, 3)
    reference = all_nodes(leaves)
    stored = dict(all_nodes(leaves[:before]))
    emitted: list[tuple[int, int]] = []

    def emit(level: int, index: int, h: bytes) -> None:
        assert (level, index) not in stored  # never a node written twice
        stored[(level, index)] = h
        emitted.append((level, index))

    peak_hashes = [stored[p] for p in peaks(before)]
    new_peaks, size = extend(peak_hashes, before, leaves[before:], emit)
    for i in range(before, before + added):
        stored[(0, i)] = leaves[i]
    assert size == before + added
    assert stored == reference
    assert new_peaks == [reference[p] for p in peaks(size)]
    # A proof touches O(log n) stored nodes.
    if size:
        assert len(nodes_for(inclusion_ranges(size - 1, size))) <= 2 * size.bit_length()
    with pytest.raises(ValueError):
        extend(peak_hashes[:-1], before, []) if peak_hashes else extend([b"x" * 32], before, [])


def test_roots_at_many_sizes_in_one_pass() -> None:
    leaves = _leaves(300)
    blob = b"".join(leaves)
    sizes = [0, 1, 2, 3, 64, 65, 299, 300, 301]
    roots = roots_at(blob, sizes)
    assert 301 not in roots
    for size in sizes[:-1]:
        assert roots[size] == _mth(leaves[:size])


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=500, deadline=None)
@given(_text, _text, st.integers(min_value=0, max_value=2**53 - 1), _text)
def test_leaf_bytes_are_rfc8785(service, originator, version, chain) -> None:
    """The leaf's fixed template is JCS (RFC 8785, by the rfc8785 library), whatever the text."""
    data = leaf_data(service, originator, version, chain)
    assert data == rfc8785.dumps({"service": service, "originator_id": originator, "version": version,
                                  "chain_hash": chain})
    assert json.loads(data)["version"] == version


@settings(max_examples=200, deadline=None)
@given(st.uuids(), st.integers(min_value=1, max_value=2**53 - 1), st.binary(min_size=32, max_size=32),
       st.sampled_from(translog.SERVICES))
def test_the_write_paths_leaf_is_the_verifiers(originator, version, link, service) -> None:
    leaf = translog.trusted_leaf(service, str(originator), version, link)
    assert leaf == _sha(b"\x00" + rfc8785.dumps({"service": service, "originator_id": str(originator),
                                                 "version": version, "chain_hash": link.hex()}))
    assert leaf == translog.event_leaf(service, str(originator), version, link)


def test_an_event_leaf_commits_to_service_aggregate_version_and_link() -> None:
    args = ("registry", "8f0e6a6c-0000-4000-8000-000000000001", 3)
    link = "ab" * 32
    leaf = translog.event_leaf(*args, link)
    assert leaf == _sha(b'\x00{"chain_hash":"' + link.encode() + b'","originator_id":"' + args[1].encode()
                        + b'","service":"registry","version":3}')
    assert translog.event_leaf(*args, "ac" + "ab" * 31) != leaf
    assert translog.event_leaf("monitoring", *args[1:], link) != leaf
    assert translog.event_leaf(args[0], args[1], 4, link) != leaf


def test_head_payload_is_canonical() -> None:
    payload = translog.head_payload(5, b"\x01" * 32, "2026-01-01T00:00:00+00:00", "abcd")
    assert payload == rfc8785.dumps({"format": translog.HEAD_FORMAT, "size": 5, "root": "01" * 32,
                                     "signed_at": "2026-01-01T00:00:00+00:00", "key_id": "abcd"})
