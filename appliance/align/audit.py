"""The alignment audit: query known matched pairs in both directions and report the rank of
the true match, recall@1/5/10 and MRR. Pairs that share a label (or text) are all true
matches of each other, so class-level captions ("the spoken digit seven") audit correctly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from appliance.align.metrics import first_relevant_ranks, summarise


def audit_vectors(
    modality: str,
    item_vectors: np.ndarray,
    text_vectors: np.ndarray,
    keys: Sequence[str],
) -> dict[str, Any]:
    """``item_vectors[i]`` and ``text_vectors[i]`` are pair ``i`` with match key ``keys[i]``.

    ``text->modality``: each distinct key's text against every item; ``modality->text``:
    each item against every distinct text."""
    keys = list(keys)
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    distinct = list(first)
    texts = text_vectors[[first[k] for k in distinct]]
    to_items = first_relevant_ranks(texts, item_vectors, distinct, keys)
    to_texts = first_relevant_ranks(item_vectors, texts, keys, distinct)
    return {
        f"text->{modality}": {**summarise(to_items), "ranks": to_items.tolist()},
        f"{modality}->text": {**summarise(to_texts), "ranks": to_texts.tolist()},
    }


def headline(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The report without the per-query ranks."""
    return {
        direction: {k: v for k, v in figures.items() if k != "ranks"}
        for direction, figures in report.items()
    }
