"""The encoder contract the serving engine drives.

An encoder splits its work in three so that CPU pre-processing of the next batch
overlaps the device forward pass of the current one:

- ``prepare(raw)``: per item, on a CPU worker thread. Decode and validate one input
  (bytes or str) and return model-ready CPU tensors for it. Raises
  ``InvalidInputError`` naming the problem for bad input; one bad item never fails
  the batch.
- ``collate(prepared)``: pad and stack a list of prepared items into one batch.
- ``forward(batch)``: move to the device and run the model under
  ``torch.inference_mode``; returns device tensors.
- ``finish(output)``: back to the CPU as a float32 ``numpy`` array of shape
  ``(n, dimension)``, every row L2-normalised.

This module holds no torch import so that the engine's type-level code and the API
can depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from appliance.domain.types import Modality


@dataclass(frozen=True)
class Prepared:
    """One decoded, validated input ready for collation; ``notes`` carries flags such as
    ``truncated``."""

    payload: Any
    notes: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Encoder(Protocol):
    """A model that maps one modality into its embedding space."""

    name: str
    modality: Modality
    dimension: int
    device: str
    max_batch_size: int
    semantic: bool
    """False for random-weight test models: vectors carry no meaning."""

    def prepare(self, raw: bytes | str) -> Prepared: ...

    def collate(self, prepared: Sequence[Prepared]) -> Any: ...

    def forward(self, batch: Any) -> Any: ...

    def finish(self, output: Any) -> np.ndarray: ...


def encode_now(encoder: Encoder, inputs: Sequence[bytes | str]) -> np.ndarray:
    """Encode synchronously without the engine (tests, CLI one-offs, baselines)."""
    prepared = [encoder.prepare(raw) for raw in inputs]
    return encoder.finish(encoder.forward(encoder.collate(prepared)))
