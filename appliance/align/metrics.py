"""Cross-modal retrieval figures: rank of the first true match, recall@k and MRR."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def first_relevant_ranks(
    queries: np.ndarray, candidates: np.ndarray, query_labels: Sequence[Any], labels: Sequence[Any]
) -> np.ndarray:
    """1-based rank of the best-ranked candidate whose label equals the query's (cosine on
    L2-normalised rows; ties broken by candidate order)."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True).clip(1e-12)
    c = candidates / np.linalg.norm(candidates, axis=1, keepdims=True).clip(1e-12)
    scores = q @ c.T
    order = np.argsort(-scores, axis=1, kind="stable")
    cand = np.asarray(labels, dtype=object)
    ranks = np.empty(len(q), dtype=np.int64)
    for i, label in enumerate(query_labels):
        hits = np.flatnonzero(cand[order[i]] == label)
        ranks[i] = hits[0] + 1 if len(hits) else len(c) + 1
    return ranks


def summarise(ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k (share of queries whose true match is in the top k) and mean reciprocal rank."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {f"recall@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["mrr"] = float(np.mean(1.0 / ranks))
    out["queries"] = len(ranks)
    return out


def retrieval(
    queries: np.ndarray,
    candidates: np.ndarray,
    query_labels: Sequence[Any],
    labels: Sequence[Any],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """``summarise`` of ``first_relevant_ranks``."""
    return summarise(first_relevant_ranks(queries, candidates, query_labels, labels), ks)
