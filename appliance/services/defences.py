"""Defences applied to vectors before they are stored or handed out.

A policy's ``apply_defence`` obligation names one; an unknown name fails closed (the
input is refused), so a typo in a site policy never silently ships raw vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from appliance.errors import ApplianceError

Defence = Callable[[np.ndarray, Mapping[str, Any], np.random.Generator], np.ndarray]


class UnknownDefenceError(ApplianceError):
    """A policy asked for a defence this appliance does not have."""

    code = "policy_denied"


def gaussian_noise(
    vectors: np.ndarray, params: Mapping[str, Any], rng: np.random.Generator
) -> np.ndarray:
    """Add isotropic Gaussian noise (``sigma`` per dimension) and re-normalise."""
    sigma = float(params.get("sigma", 0.02))
    if not 0 < sigma < 10:
        raise UnknownDefenceError(f"gaussian_noise: sigma {sigma} is out of range (0, 10)")
    noisy = vectors + rng.normal(0.0, sigma, size=vectors.shape).astype(np.float32)
    return _normalised(noisy)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


DEFENCES: dict[str, Defence] = {"gaussian_noise": gaussian_noise}


def apply_defences(
    vectors: np.ndarray,
    defences: list[tuple[str, Mapping[str, Any]]],
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Apply each named defence in order; ``UnknownDefenceError`` for a name we lack."""
    generator = rng or np.random.default_rng()
    out = np.asarray(vectors, dtype=np.float32)
    for name, params in defences:
        defence = DEFENCES.get(name)
        if defence is None:
            raise UnknownDefenceError(
                f"policy requires defence {name!r}, which this appliance does not provide",
                remedy=f"use one of {', '.join(sorted(DEFENCES))} in the policy files",
            )
        out = defence(out, params, generator)
    return out
