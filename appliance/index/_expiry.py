"""Per-item deadlines, with a sorted view so that searches filter expired keys vectorised."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


class Deadlines:
    """Deadlines in POSIX seconds by key; keys without one never expire.

    Not synchronised itself: the owning index mutates it under its write lock. The
    sorted view is rebuilt lazily by readers after a mutation.
    """

    def __init__(self) -> None:
        self._by_key: dict[int, float] = {}
        self._earliest = math.inf  # lower bound of every deadline held, exact after a rebuild
        self._view: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._by_key)

    def may_expire(self, now: float) -> bool:
        """False when no key can be expired at ``now`` (the fast path of a search)."""
        return now >= self._earliest

    def set(self, keys: npt.NDArray[np.int64], deadlines: npt.NDArray[np.float64]) -> None:
        """Set (or, with ``inf``, clear) the deadline of each key."""
        for key, deadline in zip(keys.tolist(), deadlines.tolist(), strict=True):
            if math.isinf(deadline) and deadline > 0:
                self._by_key.pop(key, None)
            else:
                self._by_key[key] = deadline
                self._earliest = min(self._earliest, deadline)
        self._view = None

    def drop(self, keys: npt.NDArray[np.int64]) -> None:
        """Forget the deadlines of ``keys`` (removed items)."""
        for key in keys.tolist():
            self._by_key.pop(key, None)
        self._view = None

    def clear(self) -> None:
        """Forget every deadline."""
        self._by_key.clear()
        self._earliest = math.inf
        self._view = None

    def _sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        view = self._view
        if view is None:
            keys = np.fromiter(self._by_key.keys(), dtype=np.int64, count=len(self._by_key))
            values = np.fromiter(self._by_key.values(), dtype=np.float64, count=len(self._by_key))
            order = np.argsort(keys, kind="stable")
            view = (keys[order], values[order], np.sort(values))
            self._earliest = float(view[2][0]) if len(values) else math.inf
            self._view = view
        return view

    def export(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """All (key, deadline) pairs, sorted by key."""
        keys, values, _ = self._sorted()
        return keys.copy(), values.copy()

    def expired_count(self, now: float) -> int:
        """How many keys are past their deadline at ``now``."""
        if not self.may_expire(now):
            return 0
        return int(np.searchsorted(self._sorted()[2], now, side="right"))

    def expired_keys(self, now: float) -> npt.NDArray[np.int64]:
        """The keys past their deadline at ``now``, sorted."""
        keys, values, _ = self._sorted()
        return keys[values <= now]

    def expired_mask(self, keys: npt.NDArray[np.int64], now: float) -> npt.NDArray[np.bool_]:
        """For an array of keys (any shape), whether each is past its deadline at ``now``."""
        sorted_keys, values, _ = self._sorted()
        if sorted_keys.size == 0:
            return np.zeros(keys.shape, dtype=bool)
        position = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
        return (sorted_keys[position] == keys) & (values[position] <= now)
