"""Merkle tree hashing, inclusion and consistency proofs, as RFC 6962 section 2.1 defines them.

Leaf hash ``SHA-256(0x00 || leaf)``, interior node ``SHA-256(0x01 || left || right)``; a list
of ``n > 1`` leaves splits at ``k``, the largest power of two smaller than ``n``. The hash of
the empty tree is ``SHA-256("")``. Verification follows the algorithms of RFC 9162 2.1.3.2
and 2.1.4.2 (the same trees; 9162 spells out how a client checks a proof).

The module-level functions are the direct recursive definitions over a list of leaves.
``MerkleTree`` gives the same answers incrementally: it keeps the hash of every complete,
aligned subtree (64 bytes per leaf in all) so that roots and proofs for any prefix cost
``O(log^2 n)`` hashes instead of ``O(n)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes]) -> bytes:
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash (MTH) of ``leaves`` (raw leaf data, not leaf hashes)."""
    return _mth([leaf_hash(leaf) for leaf in leaves])


def _path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, hashes[:k]), _mth(hashes[k:])]
    return [*_path(m - k, hashes[k:]), _mth(hashes[:k])]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path PATH(index, D[n]) for leaf ``index`` of ``leaves``."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaves)} leaves")
    return _path(index, [leaf_hash(leaf) for leaf in leaves])


def _subproof(m: int, hashes: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [_mth(hashes)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, hashes[:k], complete), _mth(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), _mth(hashes[:k])]


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): shows the tree of the first ``m`` leaves is a prefix of ``leaves``.

    Empty when ``m`` is 0 or ``len(leaves)`` (nothing to prove).
    """
    n = len(leaves)
    if not 0 <= m <= n:
        raise ValueError(f"old size {m} is outside 0..{n}")
    if m in (0, n):
        return []
    return _subproof(m, [leaf_hash(leaf) for leaf in leaves], True)


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """True when ``proof`` shows ``leaf`` (raw data) is leaf ``index`` of the tree ``root_hash``."""
    return verify_inclusion_hash(index, tree_size, leaf_hash(leaf), proof, root_hash)


def verify_inclusion_hash(
    index: int, tree_size: int, leaf_digest: bytes, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """As ``verify_inclusion``, given the leaf hash instead of the leaf (RFC 9162 2.1.3.2)."""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf_digest
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows tree ``old_root`` (size ``old_size``) is a prefix of ``new_root``.

    Sizes 0 and ``old_size == new_size`` need an empty proof (RFC 9162 2.1.4.2 otherwise).
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if not path:
        return False
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a proof node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
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
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class MerkleTree:
    """An append-only RFC 6962 tree that answers for any prefix of its leaves.

    ``_levels[h]`` holds, back to back, the hashes of the complete subtrees of ``2**h``
    leaves aligned at multiples of ``2**h``; every subtree RFC 6962 recursion visits on its
    left is such a subtree, so any range hash needs ``O(log n)`` node hashes.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> None:
        """Add raw leaf data."""
        self.append_hash(leaf_hash(leaf))

    def append_hash(self, digest: bytes) -> None:
        """Add a leaf by its leaf hash."""
        if len(digest) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        self._levels[0] += digest
        height = 0
        while (len(self._levels[height]) // HASH_SIZE) % 2 == 0:
            level = self._levels[height]
            parent = node_hash(level[-2 * HASH_SIZE : -HASH_SIZE], level[-HASH_SIZE:])
            if height + 1 == len(self._levels):
                self._levels.append(bytearray())
            self._levels[height + 1] += parent
            height += 1

    def leaf_hash_at(self, index: int) -> bytes:
        """The leaf hash of leaf ``index``."""
        self._check_size(index + 1)
        return bytes(self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def _range(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range that RFC 6962 recursion can reach."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            height = n.bit_length() - 1
            at = (start >> height) * HASH_SIZE
            return bytes(self._levels[height][at : at + HASH_SIZE])
        k = _split(n)
        return node_hash(self._range(start, start + k), self._range(start + k, end))

    def _check_size(self, tree_size: int) -> None:
        if not 0 <= tree_size <= self.size:
            raise ValueError(f"tree size {tree_size} is outside 0..{self.size}")

    def root(self, tree_size: int | None = None) -> bytes:
        """The root of the first ``tree_size`` leaves (all of them by default)."""
        n = self.size if tree_size is None else tree_size
        self._check_size(n)
        return EMPTY_ROOT if n == 0 else self._range(0, n)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """PATH(index, D[tree_size])."""
        n = self.size if tree_size is None else tree_size
        self._check_size(n)
        if not 0 <= index < n:
            raise ValueError(f"leaf index {index} is outside a tree of {n} leaves")
        proof: list[bytes] = []
        start, end = 0, n
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                proof.append(self._range(start + k, end))
                end = start + k
            else:
                proof.append(self._range(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, tree_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[tree_size]); empty when ``old_size`` is 0 or ``tree_size``."""
        n = self.size if tree_size is None else tree_size
        self._check_size(n)
        if not 0 <= old_size <= n:
            raise ValueError(f"old size {old_size} is outside 0..{n}")
        if old_size in (0, n):
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, n, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._range(start + k, end))
                end = start + k
            else:
                proof.append(self._range(start, start + k))
                start, m, complete = start + k, m - k, False
        if not complete:
            proof.append(self._range(start, end))
        proof.reverse()
        return proof
