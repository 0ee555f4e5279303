"""Input validation and small helpers shared by the index modules."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from appliance.errors import InvalidInputError

_INT64_MAX = np.iinfo(np.int64).max


def as_keys(keys: npt.ArrayLike, *, what: str = "keys") -> npt.NDArray[np.int64]:
    """Validate item row ids: a 1-D array (or one int) of non-negative integers, as int64."""
    array = np.asarray(keys)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise InvalidInputError(f"{what}: expected a 1-D array of row ids, got shape {array.shape}")
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise InvalidInputError(f"{what}: row ids must be integers, got dtype {array.dtype}")
    if array.dtype.kind == "u" and int(array.max()) > _INT64_MAX:
        raise InvalidInputError(f"{what}: row ids must fit in int64")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if int(array.min()) < 0:
        raise InvalidInputError(f"{what}: row ids must be non-negative")
    return array


def as_vectors(
    vectors: npt.ArrayLike, dimension: int, *, what: str, allow_1d: bool
) -> npt.NDArray[np.float32]:
    """Validate vectors: floating point, ``(n, dimension)`` (or 1-D if allowed), finite, non-zero.

    Returns a C-contiguous float32 array (no copy when the input already is one).
    """
    array = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors)
    if array.dtype.kind != "f":
        raise InvalidInputError(f"{what}: expected floating point values, got dtype {array.dtype}")
    if array.ndim == 1 and allow_1d:
        if array.shape[0] != dimension:
            raise InvalidInputError(
                f"{what}: expected dimension {dimension}, got a vector of {array.shape[0]}"
            )
        array = np.ascontiguousarray(array, dtype=np.float32)
        square = float(np.dot(array, array))
        if not (0.0 < square < np.inf):
            raise InvalidInputError(f"{what}: the vector must be finite and non-zero")
        return array
    if array.ndim != 2:
        shape = "1-D or 2-D" if allow_1d else "2-D"
        raise InvalidInputError(f"{what}: expected a {shape} array, got shape {array.shape}")
    if array.shape[1] != dimension:
        raise InvalidInputError(
            f"{what}: expected dimension {dimension}, got vectors of {array.shape[1]}"
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    squares = np.einsum("ij,ij->i", array, array)
    bad = ~((squares > 0.0) & (squares < np.inf))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{what}: row {row} is not finite or is the zero vector")
    return array


def as_deadlines(deadlines: npt.ArrayLike, count: int) -> npt.NDArray[np.float64]:
    """Validate POSIX-second deadlines: one per key (or one for all); ``inf`` means none."""
    array = np.asarray(deadlines, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(count, float(array))
    if array.shape != (count,):
        raise InvalidInputError(f"deadlines: expected {count} values, got shape {array.shape}")
    if np.isnan(array).any():
        raise InvalidInputError("deadlines: must be POSIX seconds or inf, not NaN")
    return array


class ReadWriteLock:
    """Many concurrent readers (searches) or one writer (a mutation); waiting writers go first."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    def acquire_read(self) -> None:
        """Take the lock shared; pair with ``release_read`` in a ``finally``."""
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        """Give back a shared hold."""
        with self._cond:
            self._readers -= 1
            if self._readers == 0:
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the lock exclusively for the body."""
        with self._cond:
            self._waiting_writers += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
