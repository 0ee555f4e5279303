"""RFC 6962 Merkle tree: hand-computed roots, the RFC's worked proofs, and properties."""

from __future__ import annotations

import hashlib
import random

import pytest

from appliance.audit import merkle
from appliance.audit.merkle import (
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [f"entry-{i}".encode() for i in range(8)]


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def lh(i: int) -> bytes:
    return sha(b"\x00" + LEAVES[i])


def nh(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


# The 7-leaf tree of RFC 6962 section 2.1.3 (leaves d0..d6, node names as in the RFC).
A, B, C, D, E, F, J = (lh(i) for i in range(7))
G, H, I = nh(A, B), nh(C, D), nh(E, F)  # noqa: E741 (the RFC's names)
K, L = nh(G, H), nh(I, J)
ROOT7 = nh(K, L)


def test_empty_and_single_leaf_roots():
    """The empty tree hashes to SHA-256("") and one leaf to SHA-256(0x00 || leaf)."""
    assert root([]) == sha(b"")
    assert root(LEAVES[:1]) == sha(b"\x00" + LEAVES[0])


def test_hand_computed_roots_for_small_trees():
    """Roots of 2, 3, 4, 5 and 7 leaves match hashes written out by hand (split at 2^k < n)."""
    assert root(LEAVES[:2]) == nh(A, B)
    assert root(LEAVES[:3]) == nh(nh(A, B), C)
    assert root(LEAVES[:4]) == nh(nh(A, B), nh(C, D))
    assert root(LEAVES[:5]) == nh(nh(nh(A, B), nh(C, D)), E)
    assert root(LEAVES[:7]) == ROOT7


def test_rfc_inclusion_examples():
    """Audit paths of d0, d3, d4, d6 in 7 leaves are the RFC's [b,h,l], [c,g,l], [f,j,k], [i,k]."""
    leaves = LEAVES[:7]
    assert inclusion_proof(0, leaves) == [B, H, L]
    assert inclusion_proof(3, leaves) == [C, G, L]
    assert inclusion_proof(4, leaves) == [F, J, K]
    assert inclusion_proof(6, leaves) == [I, K]


def test_rfc_consistency_examples():
    """Consistency proofs 3->7, 4->7 and 6->7 are the RFC's [c,d,g,l], [l] and [i,j,k]."""
    leaves = LEAVES[:7]
    assert consistency_proof(3, leaves) == [C, D, G, L]
    assert consistency_proof(4, leaves) == [L]
    assert consistency_proof(6, leaves) == [I, J, K]
    for m in (3, 4, 6):
        assert verify_consistency(m, 7, root(leaves[:m]), ROOT7, consistency_proof(m, leaves))


def test_trivial_consistency_cases():
    """Size 0 and equal sizes need an empty proof; a shrinking tree never verifies."""
    leaves = LEAVES[:5]
    assert consistency_proof(0, leaves) == []
    assert consistency_proof(5, leaves) == []
    assert verify_consistency(0, 5, merkle.EMPTY_ROOT, root(leaves), [])
    assert verify_consistency(5, 5, root(leaves), root(leaves), [])
    assert not verify_consistency(5, 5, root(leaves), root(leaves[:4]), [])
    assert not verify_consistency(5, 4, root(leaves), root(leaves[:4]), [])
    assert not verify_consistency(2, 5, root(leaves[:2]), root(leaves), [])


def test_out_of_range_requests_are_refused():
    """Proofs for an index or size outside the tree raise ValueError; verification says False."""
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(3, LEAVES[:3])
    with pytest.raises(ValueError, match="outside"):
        consistency_proof(4, LEAVES[:3])
    assert not verify_inclusion(3, 3, LEAVES[3], [], root(LEAVES[:3]))


def _tampered(proof: list[bytes]) -> list[list[bytes]]:
    variants = [proof[:-1], [*proof, proof[-1]]] if proof else [[sha(b"x")]]
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 1
        variants.append([*proof[:i], bytes(flipped), *proof[i + 1 :]])
    return variants


def test_every_inclusion_proof_verifies_and_tampering_fails():
    """For trees of 1..33 leaves every audit path verifies; flipped, cut or padded ones fail."""
    data = [f"leaf-{i}".encode() for i in range(33)]
    for n in range(1, 34):
        leaves, top = data[:n], root(data[:n])
        for i in range(n):
            proof = inclusion_proof(i, leaves)
            assert verify_inclusion(i, n, leaves[i], proof, top)
            assert not verify_inclusion(i, n, leaves[i] + b"!", proof, top)
            if n > 1:
                assert not verify_inclusion((i + 1) % n, n, leaves[i], proof, top)
            for bad in _tampered(proof):
                assert not verify_inclusion(i, n, leaves[i], bad, top)


def test_every_consistency_proof_verifies_and_tampering_fails():
    """For all 0 < m < n <= 33 the proof verifies; wrong roots and altered proofs fail."""
    data = [f"leaf-{i}".encode() for i in range(33)]
    roots = [root(data[:n]) for n in range(34)]
    for n in range(2, 34):
        for m in range(1, n):
            proof = consistency_proof(m, data[:n])
            assert verify_consistency(m, n, roots[m], roots[n], proof)
            assert not verify_consistency(m, n, roots[m - 1], roots[n], proof)
            assert not verify_consistency(m, n, roots[m], roots[n - 1], proof)
            assert not verify_consistency(m, n, sha(b"forged"), roots[n], proof)
            for bad in _tampered(proof):
                assert not verify_consistency(m, n, roots[m], roots[n], bad)


def test_incremental_tree_matches_the_recursive_definition():
    """MerkleTree gives the same roots and proofs as the RFC recursion for every prefix."""
    data = [f"leaf-{i}".encode() for i in range(70)]
    tree = MerkleTree()
    for leaf in data:
        tree.append(leaf)
    assert tree.size == 70
    for n in range(71):
        assert tree.root(n) == root(data[:n])
    for n in (1, 2, 7, 16, 33, 64, 70):
        for i in range(n):
            assert tree.inclusion_proof(i, n) == inclusion_proof(i, data[:n])
        for m in range(n + 1):
            assert tree.consistency_proof(m, n) == consistency_proof(m, data[:n])


def test_large_incremental_tree_proofs_verify():
    """In a 5000-leaf tree random inclusion and consistency proofs verify against its roots."""
    rng = random.Random(7)
    data = [f"leaf-{i}".encode() for i in range(5000)]
    tree = MerkleTree()
    for leaf in data:
        tree.append(leaf)
    for _ in range(200):
        n = rng.randint(1, 5000)
        i, m = rng.randrange(n), rng.randint(0, n)
        assert verify_inclusion(i, n, data[i], tree.inclusion_proof(i, n), tree.root(n))
        assert verify_consistency(m, n, tree.root(m), tree.root(n), tree.consistency_proof(m, n))
