"""Device and precision chosen at run time: cuda when present (or asked for), else cpu."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from appliance.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from appliance.encoders.common import Runtime


def resolve_device(choice: str) -> str:
    """``auto``: ``cuda`` if a GPU is visible, else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "encoders.device is 'cuda' but no CUDA device is visible",
            remedy="set encoders.device to 'auto' or 'cpu', or check the GPU driver",
        )
    if choice not in {"cpu", "cuda"}:
        raise ConfigError(f"encoders.device must be auto, cpu or cuda (got {choice!r})")
    return choice


def resolve_dtype(precision: str, device: str) -> torch.dtype:
    """``auto``: bf16 on GPUs that support it, else fp16; fp32 on the CPU."""
    import torch

    if precision == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(
        precision
    )
    if dtype is None:
        raise ConfigError(
            f"encoders.precision must be auto, float32, float16 or bfloat16 (got {precision!r})"
        )
    if dtype is torch.float16 and not device.startswith("cuda"):
        raise ConfigError(
            "encoders.precision float16 needs a GPU",
            remedy="use 'auto' or 'float32' (or 'bfloat16') on the CPU",
        )
    return dtype


def resolve_text_runtime(choice: str, runtime: Runtime, derived_dir: Path | None = None) -> str:
    """``auto``: ``onnx`` (ONNX Runtime) for float32 on the CPU when it is installed and
    there is a ``derived_dir`` for the exported graph (a model store), else ``torch``;
    ``onnx`` on a GPU or in another precision is an error."""
    import torch

    from appliance.encoders.text_onnx import onnx_available, require_onnx

    on_cpu = runtime.device == "cpu" and runtime.dtype == torch.float32
    if choice == "auto":
        usable = on_cpu and derived_dir is not None and onnx_available()
        return "onnx" if usable else "torch"
    if choice == "onnx":
        if not on_cpu:
            raise ConfigError(
                "encoders.text_runtime 'onnx' runs float32 on the CPU only",
                remedy="set encoders.text_runtime to 'auto' or 'torch' on a GPU",
            )
        require_onnx()
    elif choice != "torch":
        raise ConfigError(f"encoders.text_runtime must be auto, torch or onnx (got {choice!r})")
    return choice


def apply_thread_setting(threads: int) -> None:
    """``encoders.torch_threads`` > 0: torch's intra-op threads for this process."""
    if threads > 0:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
