"""What every torch-backed encoder shares: checkpoint loading, device, dtype, finishing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from appliance.domain.types import Modality
from appliance.encoders import offline  # noqa: F401  (flags before transformers)
from appliance.errors import IntegrityError


@dataclass(frozen=True)
class Runtime:
    """Where and how an encoder runs."""

    device: str
    dtype: torch.dtype
    max_batch_size: int


def quiet_transformers() -> None:
    """No progress bars or load reports on stdout/stderr (the service logs JSON)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def load_checkpoint(
    cls: Any,
    model_dir: Path,
    runtime: Runtime,
    *,
    ignore_missing: tuple[str, ...] = (),
    **kwargs: Any,
) -> Any:
    """Load a safetensors checkpoint offline (no hub, no remote code) and refuse partial loads.

    A weight the class expects but the file lacks would silently stay random: that is an
    integrity failure, not a warning.
    """
    quiet_transformers()
    try:
        model, info = cls.from_pretrained(
            str(model_dir),
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
            dtype=runtime.dtype,
            output_loading_info=True,
            **kwargs,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise IntegrityError(
            f"model in {model_dir.name!r} could not be loaded: {exc}",
            remedy="re-import the model from a trusted copy",
        ) from exc
    missing = [k for k in info.get("missing_keys", []) if not k.startswith(ignore_missing)]
    mismatched = list(info.get("mismatched_keys", []))
    if missing or mismatched:
        raise IntegrityError(
            f"checkpoint in {model_dir.name!r} lacks or mis-sizes weights: "
            f"{(missing + mismatched)[:5]}",
            remedy="the weights do not match config.json; re-export the model",
        )
    return model.to(runtime.device).eval()


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise each row (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class TorchEncoder:
    """Base of the concrete encoders: fields of the ``Encoder`` protocol plus ``finish``."""

    def __init__(
        self, *, name: str, modality: Modality, dimension: int, runtime: Runtime, semantic: bool
    ) -> None:
        self.name = name
        self.modality = modality
        self.dimension = dimension
        self.device = runtime.device
        self.dtype = runtime.dtype
        self.max_batch_size = runtime.max_batch_size
        self.semantic = semantic

    def finish(self, output: Any) -> np.ndarray:
        """Device tensor -> float32 numpy ``(n, dimension)``, rows L2-normalised."""
        array = output.detach().to("cpu", torch.float32).numpy()
        if array.ndim != 2 or array.shape[1] != self.dimension:
            raise IntegrityError(
                f"{self.name}: output shape {array.shape}, expected (n, {self.dimension})"
            )
        return normalise_rows(array).astype(np.float32, copy=False)

    def warmup(self, sample: bytes | str) -> None:
        """One forward pass so the first request does not pay for lazy initialisation."""
        self.finish(self.forward(self.collate([self.prepare(sample)])))  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind}({self.name!r}, {self.modality}, dim={self.dimension}, {self.device})"
