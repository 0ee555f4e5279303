"""Synthetic paired data for the trainer tests: a few dozen pairs in a handful of classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Toy:
    """Features ``x`` whose class shows through noise, anchor targets ``t`` per class."""

    x: np.ndarray
    t: np.ndarray
    labels: np.ndarray
    prototypes: np.ndarray


def make_toy(n: int = 48, classes: int = 6, seed: int = 0) -> Toy:
    """``n`` pairs: class-dependent features (dim 20) plus noise, class anchors (dim 16)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(classes, 16)).astype(np.float32)
    labels = np.arange(n) % classes
    mixing = rng.normal(size=(classes, 20))
    x = (mixing[labels] + 0.3 * rng.normal(size=(n, 20))).astype(np.float32)
    return Toy(x, prototypes[labels], labels, prototypes)
