"""Fixtures for the vector index tests: random unit vectors, small specs, built indexes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from appliance.crypto.aead import new_key
from appliance.index import IndexSpec, VectorIndex

DIM = 32


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def unit_vectors() -> Callable[..., np.ndarray]:
    """Factory: ``unit_vectors(rows, dim=32, seed=0)`` gives float32 unit rows."""

    def make(rows: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
        return _unit(rows, dim, seed)

    return make


@pytest.fixture
def build_index() -> Callable[..., tuple[VectorIndex, np.ndarray]]:
    """Factory: ``build_index(n, dtype, collection, space, seed, **spec)`` -> (index, vectors)."""

    def make(
        n: int,
        dtype: str = "f32",
        collection: str = "notes",
        space: str = "clip",
        seed: int = 0,
        **spec: int,
    ) -> tuple[VectorIndex, np.ndarray]:
        vectors = _unit(n, DIM, seed)
        index = VectorIndex(IndexSpec(DIM, dtype=dtype, **spec), collection=collection, space=space)
        index.add(np.arange(n, dtype=np.int64), vectors)
        return index, vectors

    return make


@pytest.fixture
def key() -> bytes:
    """A fresh 256-bit snapshot key."""
    return new_key()
