"""Utility of a defence: the alignment audit's cross-modal retrieval on known matched pairs
(``appliance/align/audit.py``), measured with the defence applied to the stored side.

The pairs are the auditor's (an ``align audit`` pairs manifest: caption and media). The
media are what the appliance stores, so the defence is applied to them exactly as to the
probe set; the captions are queries. Defences the appliance also applies to queries (the
keyed rotation, a PCA projection) are applied to the captions too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.align.audit import audit_vectors, headline
from appliance.risk.attacks import unit

RECALL = "recall@10"


@dataclass
class UtilityPairs:
    """Known matched (caption, media) pairs, embedded: ``items[i]`` matches ``texts[i]``."""

    modality: str
    items: np.ndarray
    texts: np.ndarray
    keys: list[str]
    inputs: list[bytes | str]
    """The media each item row was embedded from (keys the deterministic noise)."""

    @property
    def direction(self) -> str:
        """The direction the utility goal is stated for: ``text->audio``, ``text->image``."""
        return f"text->{self.modality}"


Stored = Callable[[np.ndarray, Sequence[bytes | str]], np.ndarray]
Query = Callable[[np.ndarray], np.ndarray]


def measure(
    pairs: UtilityPairs, stored: Stored | None = None, query: Query | None = None
) -> dict[str, dict[str, Any]]:
    """Recall@1/5/10 and MRR in both directions with ``stored`` applied to the media
    vectors (and ``query`` to the captions' vectors when the appliance transforms queries)."""
    items = unit(pairs.items)
    texts = unit(pairs.texts)
    if stored is not None:
        items = stored(items, pairs.inputs)
    if query is not None:
        texts = query(texts)
    return headline(audit_vectors(pairs.modality, items, texts, pairs.keys))


def kept(
    defended: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]], direction: str
) -> float:
    """The share of the undefended recall@10 the defended vectors keep in ``direction``."""
    before = float(baseline[direction][RECALL])
    after = float(defended[direction][RECALL])
    return 1.0 if before <= 0 else after / before
