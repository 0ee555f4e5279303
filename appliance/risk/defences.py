"""Defences swept over their levels, and the attacker who undoes the keyed rotation.

Each defence maps clean vectors (n, d) to what the appliance would store or hand out. The
keyed noise is the appliance's own (``appliance.services.defences``): one draw per input,
keyed on the input's bytes, so repeating a query returns the same vector.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import numpy as np

from appliance.risk.attacks import unit
from appliance.services.defences import gaussian_noise, input_rng


def keyed_noise(
    vectors: np.ndarray,
    inputs: Sequence[bytes | str],
    sigma: float,
    key: bytes,
    space: str = "risk-audit",
    modality: str = "any",
) -> np.ndarray:
    """The appliance's deterministic keyed Gaussian noise, one input per row."""
    rows = [
        gaussian_noise(
            np.asarray(vector, dtype=np.float32)[None, :],
            {"sigma": sigma},
            input_rng(key, space, modality, payload),
        )[0]
        for vector, payload in zip(vectors, inputs, strict=True)
    ]
    return np.vstack(rows)


def fresh_noise(vectors: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise drawn afresh on every call (what the keyed noise replaces)."""
    return gaussian_noise(np.asarray(vectors, dtype=np.float32), {"sigma": sigma}, rng)


def pca_reduce(
    vectors: np.ndarray, dimensions: int, fit_on: np.ndarray | None = None
) -> np.ndarray:
    """Project onto the top ``dimensions`` principal directions (of ``fit_on``, default the
    vectors themselves) and renormalise."""
    basis_source = np.asarray(vectors if fit_on is None else fit_on, dtype=np.float64)
    mean = basis_source.mean(axis=0)
    _, _, vt = np.linalg.svd(basis_source - mean, full_matrices=False)
    basis = vt[: max(1, min(dimensions, vt.shape[0]))]
    return unit((np.asarray(vectors, dtype=np.float64) - mean) @ basis.T)


def int8_quantise(vectors: np.ndarray) -> np.ndarray:
    """Symmetric per-vector int8 quantisation, returned dequantised (what search sees)."""
    x = np.asarray(vectors, dtype=np.float64)
    scale = np.maximum(np.abs(x).max(axis=1, keepdims=True), 1e-12) / 127.0
    return unit(np.clip(np.round(x / scale), -127, 127) * scale)


def binary_quantise(vectors: np.ndarray) -> np.ndarray:
    """One bit per dimension (the sign), as a unit vector of +-1/sqrt(d)."""
    x = np.asarray(vectors, dtype=np.float64)
    return unit(np.where(x >= 0, 1.0, -1.0))


def keyed_rotation(dimension: int, key: bytes) -> np.ndarray:
    """A (d, d) orthogonal matrix drawn from a generator seeded by HMAC(key): apply as
    ``vectors @ R``. It preserves every distance, so it defends only against comparing the
    stored vectors with vectors the attacker embeds himself with the public model; it does
    nothing against linkage among the stored vectors, and ``learn_rotation`` undoes it."""
    seed = hmac.new(key, b"risk-rotation|%d" % dimension, hashlib.sha256).digest()
    rng = np.random.default_rng(int.from_bytes(seed, "big"))
    q, r = np.linalg.qr(rng.normal(size=(dimension, dimension)))
    return q * np.sign(np.diag(r))


def learn_rotation(clean: np.ndarray, rotated: np.ndarray) -> np.ndarray:
    """The attacker: from k known (clean, rotated) pairs, the orthogonal R minimising
    ||clean @ R - rotated|| (orthogonal Procrustes). Exact once the pairs span the space;
    with fewer pairs it is exact on their span, which is where embeddings live."""
    u, _, vt = np.linalg.svd(np.asarray(clean).T @ np.asarray(rotated), full_matrices=True)
    return u @ vt


def identity_directions(vectors: np.ndarray, labels: Sequence[Any], count: int) -> np.ndarray:
    """The ``count`` directions along which identity means differ most (the principal
    directions of the centred per-identity means), as orthonormal rows."""
    x = unit(vectors)
    y = np.asarray(labels)
    means = np.vstack([x[y == identity].mean(axis=0) for identity in np.unique(y)])
    _, _, vt = np.linalg.svd(means - means.mean(axis=0), full_matrices=False)
    return vt[: max(0, min(count, vt.shape[0]))]


def remove_directions(vectors: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Project ``directions`` out of the vectors and renormalise."""
    x = unit(vectors)
    if len(directions) == 0:
        return x
    return unit(x - (x @ directions.T) @ directions)
