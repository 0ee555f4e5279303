"""Linear adapters: map one tower's (L2-normalised) vectors into the anchor space.

An adapter directory holds ``adapter.json`` (``from_model``, ``modality``, ``in_dim``,
``out_dim``) and ``adapter.safetensors`` with ``weight`` ``(out_dim, in_dim)`` and an
optional ``bias`` ``(out_dim,)``. The alignment trainer writes them; the store hashes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from appliance.encoders import offline  # noqa: F401
from appliance.encoders.base import Encoder, Prepared
from appliance.encoders.common import normalise_rows
from appliance.errors import IntegrityError


class LinearAdapter(torch.nn.Module):
    """``y = W x + b`` applied to normalised tower vectors."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.bias = torch.nn.Parameter(bias, requires_grad=False) if bias is not None else None

    @property
    def in_dim(self) -> int:
        """Width of the vectors it takes."""
        return int(self.weight.shape[1])

    @property
    def out_dim(self) -> int:
        """Width of the vectors it gives."""
        return int(self.weight.shape[0])

    @classmethod
    def load(cls, adapter_dir: Path, device: str) -> LinearAdapter:
        """Read ``adapter.safetensors`` (safetensors only) onto ``device``."""
        from safetensors.torch import load_file

        tensors = load_file(str(adapter_dir / "adapter.safetensors"), device="cpu")
        weight = tensors.get("weight")
        if weight is None or weight.ndim != 2:
            raise IntegrityError(f"adapter {adapter_dir.name!r}: 'weight' must be a matrix")
        bias = tensors.get("bias")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise IntegrityError(f"adapter {adapter_dir.name!r}: 'bias' does not match 'weight'")
        return cls(weight.float(), None if bias is None else bias.float()).to(device).eval()

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """Normalise, then map."""
        unit = torch.nn.functional.normalize(vectors.to(torch.float32), dim=-1)
        return torch.nn.functional.linear(unit, self.weight, self.bias)


class AdaptedEncoder:
    """An encoder whose vectors pass through an adapter into the space's dimension."""

    def __init__(self, inner: Encoder, adapter: LinearAdapter, adapter_name: str) -> None:
        if adapter.in_dim != inner.dimension:
            raise IntegrityError(
                f"adapter {adapter_name!r} takes {adapter.in_dim} dims, "
                f"{inner.name!r} gives {inner.dimension}"
            )
        self.inner = inner
        self.adapter = adapter
        self.name = f"{inner.name}+{adapter_name}"
        self.modality = inner.modality
        self.dimension = adapter.out_dim
        self.device = inner.device
        self.max_batch_size = inner.max_batch_size
        self.semantic = inner.semantic

    def prepare(self, raw: bytes | str) -> Prepared:
        """As the inner encoder."""
        return self.inner.prepare(raw)

    def collate(self, prepared: Sequence[Prepared]) -> Any:
        """As the inner encoder."""
        return self.inner.collate(prepared)

    def forward(self, batch: Any) -> torch.Tensor:
        """Inner tower, then the adapter, on the device."""
        with torch.inference_mode():
            return self.adapter(self.inner.forward(batch))

    def finish(self, output: Any) -> np.ndarray:
        """Float32 numpy rows, L2-normalised in the space's dimension."""
        array = output.detach().to("cpu", torch.float32).numpy()
        return normalise_rows(array).astype(np.float32, copy=False)
