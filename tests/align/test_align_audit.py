"""The alignment audit on constructed cases whose answer is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.align.audit import audit_vectors
from appliance.align.metrics import first_relevant_ranks, summarise


def test_ranks_recall_and_mrr_on_a_hand_built_case() -> None:
    """Three pairs on axes; the third item is rotated so its text ranks it second."""
    texts = np.eye(3, dtype=np.float32)
    items = np.array([[1, 0, 0], [0, 1, 0], [0, 0.9, 0.4]], dtype=np.float32)
    report = audit_vectors("image", items, texts, ["a", "b", "c"])
    # text c: cos(c, item b) = 0, cos(c, item c) > 0 -> rank 1; item c -> texts: b (0.9) first
    assert report["text->image"]["ranks"] == [1, 1, 1]
    assert report["image->text"]["ranks"] == [1, 1, 2]
    assert report["image->text"]["recall@1"] == pytest.approx(2 / 3)
    assert report["image->text"]["recall@5"] == 1.0
    assert report["image->text"]["mrr"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_shared_labels_count_every_member_as_a_true_match() -> None:
    """Two items with the same caption: the caption's first hit is either one (rank 1)."""
    texts = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    items = np.array([[0.2, 1], [1, 0], [0.6, 0.8]], dtype=np.float32)
    report = audit_vectors("audio", items, texts, ["x", "x", "y"])
    assert report["text->audio"]["ranks"] == [1, 2]  # y ranks item 0 (an x) above item 2
    assert report["audio->text"]["ranks"] == [2, 1, 1]


def test_summary_of_known_ranks() -> None:
    """Ranks 1, 3, 12 give recall@1 1/3, @5 2/3, @10 2/3 and MRR (1 + 1/3 + 1/12) / 3."""
    figures = summarise(np.array([1, 3, 12]))
    assert figures["recall@1"] == pytest.approx(1 / 3)
    assert figures["recall@5"] == pytest.approx(2 / 3)
    assert figures["recall@10"] == pytest.approx(2 / 3)
    assert figures["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 12) / 3)


def test_a_query_without_any_match_ranks_past_the_end() -> None:
    """No candidate shares the label: rank n + 1 (counts as a miss at every k)."""
    ranks = first_relevant_ranks(np.eye(2), np.eye(2), ["z", "a"], ["a", "b"])
    assert ranks.tolist() == [3, 2]
