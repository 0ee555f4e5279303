"""Search helpers: usearch's answer normalised, expiry filtering with over-fetch, padding."""

from __future__ import annotations

import operator
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from usearch.index import BatchMatches, Index

from appliance.errors import InvalidInputError
from appliance.index._expiry import Deadlines

KeyArray = npt.NDArray[np.int64]
ScoreArray = npt.NDArray[np.float32]
Raw = tuple[KeyArray, npt.NDArray[np.float32], npt.NDArray[np.int64]]
Searcher = Callable[[npt.NDArray[np.float32], int], Raw]


def positive_int(value: object, name: str) -> int:
    """``value`` as an int if it is a positive integer (not a bool), else ``InvalidInputError``."""
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise InvalidInputError(f"{name} must be a positive integer (got {value!r})")
    return number


def raw_search(index: Index, query: npt.NDArray[np.float32], k: int, *, exact: bool = False) -> Raw:
    """usearch's answer as (keys, distances, counts) with one row per query.

    ``exact`` compares the query with every stored vector (brute force) instead of walking
    the graph.
    """
    result = index.search(query, k, exact=exact)
    if isinstance(result, BatchMatches):
        return result.keys.view(np.int64), result.distances, result.counts
    count = np.array([len(result.keys)], dtype=np.int64)
    return result.keys.view(np.int64)[None, :], result.distances[None, :], count


def pad(
    keys: KeyArray, distances: npt.NDArray[np.float32], counts: npt.NDArray[np.int64], k: int
) -> tuple[KeyArray, ScoreArray]:
    """(keys, scores) of width ``k``: missing results are key -1 and score NaN."""
    rows, width = keys.shape
    valid = np.arange(width)[None, :] < counts[:, None]
    out_keys = np.full((rows, k), -1, dtype=np.int64)
    out_scores = np.full((rows, k), np.nan, dtype=np.float32)
    out_keys[:, :width] = np.where(valid, keys, -1)
    np.subtract(1.0, distances, out=out_scores[:, :width], where=valid)
    return out_keys, out_scores


def filtered_search(
    search: Searcher,
    size: int,
    deadlines: Deadlines,
    query: npt.NDArray[np.float32],
    k: int,
    now: float,
    expired: int,
) -> Raw:
    """Like ``search`` (rows of width ``k``) without keys past their deadline at ``now``.

    ``expired`` keys are hidden in all, so fetching ``k + expired`` always suffices; start
    smaller and grow only the rows still short, until they are full or nothing is left.
    """
    batch = query.reshape(-1, query.shape[-1])
    rows = batch.shape[0]
    out_keys = np.full((rows, k), -1, dtype=np.int64)
    out_distances = np.full((rows, k), np.nan, dtype=np.float32)
    out_counts = np.zeros(rows, dtype=np.int64)
    limit = min(size, k + expired)
    fetch = min(limit, k + min(expired, max(k, 16)))
    pending = np.arange(rows)
    while pending.size and fetch > 0:
        keys, distances, counts = search(batch[pending], fetch)
        width = keys.shape[1]
        valid = np.arange(width)[None, :] < counts[:, None]
        live = valid & ~deadlines.expired_mask(keys, now)
        order = np.argsort(~live, axis=1, kind="stable")[:, :k]
        taken = np.minimum(live.sum(axis=1), k)
        keep = np.arange(order.shape[1])[None, :] < taken[:, None]
        picked_keys = np.take_along_axis(keys, order, axis=1)
        picked_distances = np.take_along_axis(distances, order, axis=1)
        columns = order.shape[1]
        out_keys[pending, :columns] = np.where(keep, picked_keys, -1)
        out_distances[pending, :columns] = np.where(keep, picked_distances, np.nan)
        out_counts[pending] = taken
        exhausted = (counts < fetch) | (fetch >= limit)
        pending = pending[(taken < k) & ~exhausted]
        fetch = min(limit, fetch * 4)
    return out_keys, out_distances, out_counts
