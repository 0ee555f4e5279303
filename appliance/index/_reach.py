"""Keys the HNSW graph cannot find from their own vector, and their exact scoring.

HNSW does not guarantee that every node stays reachable from the entry point: the
neighbour-selection heuristic may prune every link into a node (near-duplicates in tight
clusters are the usual victims), and usearch's multi-threaded ``add`` strands nodes outright
(unum-cloud/USearch#735). So after every insertion the new keys are searched for with
their own vectors; a key that is not among its own top results is recorded here, and every
approximate search also scores these keys exactly and merges them in. Not synchronised:
the owning index mutates it under its write lock.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from usearch.index import Index, ScalarKind

from appliance.index._search import Raw, raw_search

SELF_CHECK_K = 10
_CHECK_BLOCK = 4096


def unfindable(index: Index, keys: npt.NDArray[np.int64], vectors: np.ndarray) -> np.ndarray:
    """The ``keys`` whose own vector's approximate search does not return them in its top 10."""
    if keys.size == 0 or len(index) == 0:
        return np.empty(0, dtype=np.int64)
    k = min(SELF_CHECK_K, len(index))
    missed: list[np.ndarray] = []
    for start in range(0, keys.size, _CHECK_BLOCK):
        block = keys[start : start + _CHECK_BLOCK]
        found = raw_search(index, vectors[start : start + _CHECK_BLOCK], k)[0]
        missed.append(block[~(found == block[:, None]).any(axis=1)])
    return np.concatenate(missed)


class Unreachable:
    """A small set of keys scored exactly at every approximate search."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)
        self._unit: npt.NDArray[np.float32] | None = None  # cached unit rows, by key order

    def __len__(self) -> int:
        return int(self._keys.size)

    def keys(self) -> npt.NDArray[np.int64]:
        """The keys held, sorted."""
        return self._keys.copy()

    def include(self, keys: npt.NDArray[np.int64]) -> None:
        """Add keys (already present ones are ignored)."""
        if keys.size:
            self._keys = np.union1d(self._keys, keys.astype(np.int64))
            self._unit = None

    def drop(self, keys: npt.NDArray[np.int64]) -> None:
        """Forget keys (removed or replaced items)."""
        if keys.size and self._keys.size:
            self._keys = np.setdiff1d(self._keys, keys, assume_unique=False)
            self._unit = None

    def clear(self) -> None:
        """Forget every key."""
        self._keys = np.empty(0, dtype=np.int64)
        self._unit = None

    def merge(self, index: Index, query: np.ndarray, raw: Raw, k: int) -> Raw:
        """``raw`` (approximate results of ``query``) with these keys scored exactly merged in."""
        keys, distances, counts = raw
        if self._keys.size == 0:
            return raw
        if self._unit is None:
            rows = np.vstack(index.get(self._keys.view(np.uint64), dtype=ScalarKind.F32))
            self._unit = _unit_rows(rows.astype(np.float32, copy=False))
        batch = _unit_rows(query.reshape(-1, query.shape[-1]).astype(np.float32))
        extra = (1.0 - batch @ self._unit.T).astype(np.float32)
        width = keys.shape[1]
        valid = np.arange(width)[None, :] < counts[:, None]
        seen = (np.where(valid, keys, -1)[:, :, None] == self._keys[None, None, :]).any(axis=1)
        extra[seen] = np.inf
        all_keys = np.concatenate([keys, np.broadcast_to(self._keys, extra.shape)], axis=1)
        all_distances = np.concatenate([np.where(valid, distances, np.inf), extra], axis=1)
        order = np.argsort(all_distances, axis=1, kind="stable")[:, :k]
        merged_distances = np.take_along_axis(all_distances, order, axis=1)
        merged_keys = np.take_along_axis(all_keys, order, axis=1)
        merged_counts = np.isfinite(merged_distances).sum(axis=1).astype(np.int64)
        return merged_keys, merged_distances.astype(np.float32), merged_counts


def _unit_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, np.finfo(np.float32).tiny)
