"""One HNSW index (usearch, cosine) per collection and space, keyed by item row ids.

Removed items vanish from results at once (usearch tombstones them); items past their
deadline are filtered at search time until they are removed. Adding a key already present
replaces its vector. Every inserted key is searched for with its own vector; the few the
graph cannot find are scored exactly at every search (see ``_reach``), and small
collections are searched exactly, so every stored vector is its own top match.

A tombstoned vector's bytes stay inside usearch's memory and serialization until
``compact`` rebuilds the graph from live vectors, so snapshots compact first (see
``appliance.index.snapshot``).

Concurrency: searches run in parallel; mutations are serialised and exclude searches
only while usearch itself changes (``compact`` builds the new graph beside the old one).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import numpy.typing as npt
from usearch.index import Index, MetricKind, ScalarKind

from appliance.errors import InvalidInputError, NotFoundError
from appliance.index._checks import ReadWriteLock, as_deadlines, as_keys, as_vectors
from appliance.index._expiry import Deadlines
from appliance.index._reach import Unreachable, unfindable
from appliance.index._search import (
    KeyArray,
    Raw,
    ScoreArray,
    filtered_search,
    pad,
    positive_int,
    raw_search,
)
from appliance.index.spec import SCALARS, IndexSpec

__all__ = ["IndexSpec", "VectorIndex"]

_COMPACT_BLOCK = 65_536


class VectorIndex:
    """The vector index of one collection in one embedding space."""

    def __init__(self, spec: IndexSpec, *, collection: str, space: str) -> None:
        self._spec = spec
        self._collection = collection
        self._space = space
        self._index = spec.new_usearch()
        self._deadlines = Deadlines()
        self._unreachable = Unreachable()
        self._tombstones = 0
        self._mutate = threading.RLock()
        self._rw = ReadWriteLock()

    @classmethod
    def from_serialized(
        cls,
        spec: IndexSpec,
        buffer: bytes | bytearray | memoryview,
        *,
        collection: str,
        space: str,
        unreachable: npt.ArrayLike | None = None,
    ) -> VectorIndex:
        """Load what ``serialize`` (or a bare usearch ``save()``) produced, checked by ``spec``.

        A buffer of another dimension, dtype, metric or connectivity raises ``InvalidInputError``.
        ``unreachable``: the keys a self-check found unfindable when it was saved (see
        ``unreachable_keys``); without it, every key is checked again now.
        """
        try:
            meta = Index.metadata(buffer)
        except (ValueError, RuntimeError) as exc:
            raise InvalidInputError(f"not a usearch index: {exc}") from exc
        if not meta:
            raise InvalidInputError("not a usearch index")
        found = (meta["dimensions"], meta["kind_metric"], meta["kind_scalar"])
        wanted = (spec.dimension, MetricKind.Cos, SCALARS[spec.dtype])
        if found != wanted:
            raise InvalidInputError(f"serialized index is {found}, expected {wanted}")
        index = spec.new_usearch()
        try:
            index.load(buffer)
        except (ValueError, RuntimeError) as exc:
            raise InvalidInputError(f"serialized index does not load: {exc}") from exc
        if index.connectivity != spec.connectivity:
            raise InvalidInputError(
                f"serialized index has connectivity {index.connectivity}, "
                f"expected {spec.connectivity}"
            )
        result = cls(spec, collection=collection, space=space)
        result._index = index
        result._tombstones = int(meta["count_deleted"])
        if unreachable is None:
            result._unreachable.include(result._check_all(result._index))
        else:
            result._unreachable.include(as_keys(unreachable, what="unreachable"))
        return result

    @property
    def spec(self) -> IndexSpec:
        """Dimension, dtype and HNSW parameters."""
        return self._spec

    @property
    def collection(self) -> str:
        """The collection this index serves."""
        return self._collection

    @property
    def space(self) -> str:
        """The embedding space of its vectors."""
        return self._space

    def unreachable_keys(self) -> KeyArray:
        """Keys the graph cannot find from their own vector (scored exactly at every search)."""
        with self._mutate:
            return self._unreachable.keys()

    def tune(self, current: IndexSpec) -> None:
        """Take ``current``'s search and build behaviour (``IndexSpec.tuned``) after a load."""
        with self._mutate, self._rw.writing():
            self._spec = self._spec.tuned(current)
            self._index.expansion_search = self._spec.expansion_search

    @property
    def tombstones(self) -> int:
        """Removed vectors still held by usearch (bytes included) until ``compact``."""
        return self._tombstones

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, bool) or not isinstance(key, int | np.integer) or key < 0:
            return False
        return bool(self._index.contains(int(key)))

    def keys(self) -> KeyArray:
        """The keys present (removed ones excluded, expired ones included until removed)."""
        self._rw.acquire_read()
        try:
            return np.asarray(self._index.keys, dtype=np.uint64).view(np.int64)
        finally:
            self._rw.release_read()

    def vectors_for(self, keys: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Stored vectors as float32 rows (f16/i8 dequantized); absent keys: ``NotFoundError``."""
        wanted = as_keys(keys)
        self._rw.acquire_read()
        try:
            self._require_present(wanted, NotFoundError)
            if wanted.size == 0:
                return np.empty((0, self._spec.dimension), dtype=np.float32)
            rows = self._index.get(wanted.view(np.uint64), dtype=ScalarKind.F32)
            return np.vstack(rows).astype(np.float32, copy=False)
        finally:
            self._rw.release_read()

    def add(self, keys: npt.ArrayLike, vectors: npt.ArrayLike) -> int:
        """Insert vectors; a key already present is replaced (its old vector and deadline go).

        Returns how many keys were replaced. Each new key is then searched for with its own
        vector, and one the graph cannot find is scored exactly by every later search.
        """
        new_keys = as_keys(keys)
        matrix = as_vectors(vectors, self._spec.dimension, what="vectors", allow_1d=False)
        if matrix.shape[0] != new_keys.size:
            raise InvalidInputError(f"{new_keys.size} keys but {matrix.shape[0]} vectors")
        if np.unique(new_keys).size != new_keys.size:
            raise InvalidInputError("keys: the same row id appears twice in one batch")
        if new_keys.size == 0:
            return 0
        with self._mutate:
            with self._rw.writing():
                present = np.atleast_1d(self._index.contains(new_keys.view(np.uint64)))
                replaced = new_keys[present]
                if replaced.size:
                    self._drop(replaced)
                self._index.add(new_keys.view(np.uint64), matrix, threads=self._spec.build_threads)
            missed = unfindable(self._index, new_keys, matrix)
            if missed.size:
                with self._rw.writing():
                    self._unreachable.include(missed)
        return int(replaced.size)

    def remove(self, keys: npt.ArrayLike) -> int:
        """Remove keys (absent ones are ignored); they stop appearing in results at once."""
        gone = as_keys(keys)
        if gone.size == 0:
            return 0
        with self._mutate, self._rw.writing():
            return self._drop(gone)

    def _drop(self, gone: KeyArray) -> int:
        """Remove keys from usearch, deadlines and the unreachable set (write lock held)."""
        removed = int(np.sum(self._index.remove(gone.view(np.uint64))))
        self._deadlines.drop(gone)
        self._unreachable.drop(gone)
        self._tombstones += removed
        return removed

    def set_deadlines(self, keys: npt.ArrayLike, deadlines: npt.ArrayLike) -> None:
        """Items are never returned once ``now >= deadline`` (POSIX seconds; ``inf`` clears)."""
        targets = as_keys(keys)
        values = as_deadlines(deadlines, targets.size)
        with self._mutate, self._rw.writing():
            self._require_present(targets, InvalidInputError)
            self._deadlines.set(targets, values)

    def deadlines(self) -> tuple[KeyArray, npt.NDArray[np.float64]]:
        """Every (key, deadline) pair held, sorted by key."""
        with self._mutate:
            return self._deadlines.export()

    def expired(self, now: float) -> KeyArray:
        """Keys past their deadline at ``now`` (still present, never returned by ``search``)."""
        with self._mutate:
            return self._deadlines.expired_keys(now)

    def remove_expired(self, now: float) -> KeyArray:
        """Remove every key past its deadline at ``now``; returns them."""
        with self._mutate:
            keys = self._deadlines.expired_keys(now)
            self.remove(keys)
            return keys

    def compact(self) -> int:
        """Rebuild usearch from live vectors only, so removed vectors' bytes are gone.

        Returns the number of tombstones dropped. Searches keep running on the old graph
        while the new one is built and checked; mutations wait.
        """
        with self._mutate:
            if self._tombstones == 0:
                return 0
            old = self._index
            fresh = self._spec.new_usearch()
            keys = np.asarray(old.keys, dtype=np.uint64)
            for start in range(0, keys.size, _COMPACT_BLOCK):
                block = keys[start : start + _COMPACT_BLOCK]
                fresh.add(
                    block,
                    np.vstack(old.get(block)),
                    dtype=SCALARS[self._spec.dtype],
                    threads=self._spec.build_threads,
                )
            missed = self._check_all(fresh)
            dropped = self._tombstones
            with self._rw.writing():
                self._index = fresh
                self._tombstones = 0
                self._unreachable.clear()
                self._unreachable.include(missed)
            old.reset()
            return dropped

    def _check_all(self, index: Index) -> KeyArray:
        """Every key of ``index`` that its own vector's approximate search does not find."""
        keys = np.asarray(index.keys, dtype=np.uint64)
        missed = [np.empty(0, dtype=np.int64)]
        for start in range(0, keys.size, _COMPACT_BLOCK):
            block = keys[start : start + _COMPACT_BLOCK]
            vectors = np.vstack(index.get(block, dtype=ScalarKind.F32)).astype(np.float32)
            missed.append(unfindable(index, block.view(np.int64), vectors))
        return np.concatenate(missed)

    def serialize(self) -> bytearray:
        """The usearch serialization (plaintext: callers must encrypt it, see ``snapshot``)."""
        self._rw.acquire_read()
        try:
            buffer = self._index.save()
        finally:
            self._rw.release_read()
        return buffer if isinstance(buffer, bytearray) else bytearray(buffer)

    def export_state(
        self, *, now: float | None = None
    ) -> tuple[bytearray, int, KeyArray, npt.NDArray[np.float64], KeyArray]:
        """One consistent (serialization, count, deadline keys, deadlines, unreachable keys).

        Compacts first, so no removed vector's bytes are in the serialization; with ``now``,
        items past their deadline are removed (and compacted away) first as well.
        """
        with self._mutate:
            if now is not None:
                self.remove_expired(now)
            self.compact()
            keys, deadlines = self._deadlines.export()
            unreachable = self._unreachable.keys()
            return self.serialize(), len(self._index), keys, deadlines, unreachable

    def search(self, queries: npt.ArrayLike, k: int, *, now: float) -> tuple[KeyArray, ScoreArray]:
        """The ``k`` nearest live items by cosine similarity (``1 - distance``), best first.

        A 1-D query gives 1-D arrays of up to ``k`` results; a 2-D batch gives ``(n, k)``
        arrays where missing results are key ``-1`` and score NaN. Removed items and items
        whose deadline is at or before ``now`` never appear; the search over-fetches until
        ``k`` live results are found or none are left.
        """
        query = as_vectors(queries, self._spec.dimension, what="queries", allow_1d=True)
        k = positive_int(k, "k")
        if not math.isfinite(now):
            raise InvalidInputError(f"now must be finite POSIX seconds (got {now!r})")
        if query.shape[0] == 0:
            return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
        self._rw.acquire_read()
        try:
            expired = self._deadlines.expired_count(now)
            if expired == 0:
                keys, distances, counts = self._candidates(query, k)
            else:
                keys, distances, counts = filtered_search(
                    self._candidates, len(self._index), self._deadlines, query, k, now, expired
                )
        finally:
            self._rw.release_read()
        if query.ndim == 1:
            return keys[0, : counts[0]], 1.0 - distances[0, : counts[0]]
        if keys.shape[1] == k and int(counts.min()) >= k:
            return keys, 1.0 - distances
        return pad(keys, distances, counts, k)

    def _candidates(self, query: npt.NDArray[np.float32], k: int) -> Raw:
        """The ``k`` nearest: exact for a small collection or a large ``k``, else the graph's
        answer with the unreachable keys scored exactly and merged in (read lock held)."""
        size = len(self._index)
        if size <= self._spec.exact_search_max or 4 * k >= size:
            return raw_search(self._index, query, k, exact=True)
        found = raw_search(self._index, query, k)
        return self._unreachable.merge(self._index, query, found, k)

    def _require_present(
        self, keys: KeyArray, error: type[InvalidInputError | NotFoundError]
    ) -> None:
        if keys.size == 0:
            return
        present = np.atleast_1d(self._index.contains(keys.view(np.uint64)))
        if not present.all():
            missing = int(keys[np.flatnonzero(~present)[0]])
            raise error(f"key {missing} is not in index {self._collection}/{self._space}")
