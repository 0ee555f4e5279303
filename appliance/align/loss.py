"""Losses: symmetric InfoNCE with in-batch negatives (pairs with the same text count as
positives), the per-sample form DP-SGD needs, and the drift regulariser."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symmetric_info_nce(
    z: torch.Tensor, t: torch.Tensor, text_ids: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean of modality->text and text->modality InfoNCE over the batch.

    ``z``: normalised tower outputs ``(b, d)``; ``t``: normalised anchor text vectors
    ``(b, d)``; ``text_ids``: equal ids mark the same text, so duplicates are positives too
    (multi-positive log-likelihood) instead of false negatives.
    """
    logits = z @ t.T / temperature
    positive = (text_ids[:, None] == text_ids[None, :]).to(logits.dtype)
    forward = -(torch.log_softmax(logits, dim=1) * positive).sum(1) / positive.sum(1)
    backward = -(torch.log_softmax(logits, dim=0) * positive).sum(0) / positive.sum(0)
    return 0.5 * (forward.mean() + backward.mean())


def per_sample_loss(
    z: torch.Tensor,
    t: torch.Tensor,
    vocabulary: torch.Tensor | None,
    targets: torch.Tensor | None,
    temperature: float,
) -> torch.Tensor:
    """A loss in which each sample's term depends on that sample alone (what DP-SGD's
    per-sample clipping bounds): InfoNCE against a fixed public vocabulary of texts when one
    is given (``targets`` index it), else the cosine distance to the sample's own text."""
    if vocabulary is not None and targets is not None:
        return F.cross_entropy(z @ vocabulary.T / temperature, targets)
    return (1.0 - (z * t).sum(1)).mean()


def drift_penalty(z: torch.Tensor, z_before: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between the adapter's outputs now and before fine-tuning."""
    return ((z - z_before) ** 2).sum(1).mean()
