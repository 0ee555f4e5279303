"""The trainable part: a linear adapter or a small MLP tower over frozen features, and its
adapter directory (``adapter.json`` + ``adapter.safetensors``) as the model store imports it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from appliance.errors import IntegrityError, InvalidInputError

ADAPTER_FORMAT = "appliance-adapter/1"
KINDS = ("linear", "mlp")
PROVENANCE_FILE = "provenance.json"


class MlpTower(torch.nn.Module):
    """``Linear -> GELU -> Linear``: a small tower trained from scratch on frozen features."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(in_dim, hidden)
        self.out = torch.nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features to (unnormalised) anchor-space vectors."""
        return self.out(torch.nn.functional.gelu(self.hidden(x)))


class LinearTower(torch.nn.Module):
    """``y = W x + b`` with the store's key names (``weight``, ``bias``)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(out_dim, in_dim))
        self.bias = torch.nn.Parameter(torch.zeros(out_dim))
        torch.nn.init.xavier_uniform_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features to (unnormalised) anchor-space vectors."""
        return torch.nn.functional.linear(x, self.weight, self.bias)


def build_tower(kind: str, in_dim: int, out_dim: int, hidden: int = 256) -> torch.nn.Module:
    """A fresh ``linear`` adapter or ``mlp`` tower (random init from torch's global RNG)."""
    if kind == "linear":
        return LinearTower(in_dim, out_dim)
    if kind == "mlp":
        return MlpTower(in_dim, out_dim, hidden)
    raise InvalidInputError(f"unknown adapter kind {kind!r}", remedy=f"choose {', '.join(KINDS)}")


def tower_shape(module: torch.nn.Module) -> dict[str, Any]:
    """``kind``, ``in_dim``, ``out_dim`` (and ``hidden``) of a tower."""
    if isinstance(module, LinearTower):
        out_dim, in_dim = module.weight.shape
        return {"kind": "linear", "in_dim": int(in_dim), "out_dim": int(out_dim)}
    if isinstance(module, MlpTower):
        return {
            "kind": "mlp",
            "in_dim": module.hidden.in_features,
            "out_dim": module.out.out_features,
            "hidden": module.hidden.out_features,
        }
    raise TypeError(f"not a tower: {type(module).__name__}")


def write_adapter_dir(
    module: torch.nn.Module,
    out_dir: Path,
    *,
    from_model: str,
    modality: str,
    provenance: dict[str, Any],
    semantic: bool = True,
) -> Path:
    """Write the tower as an adapter directory with its provenance record."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in module.state_dict().items()
    }
    save_file(tensors, str(out_dir / "adapter.safetensors"))
    meta = {
        "format": ADAPTER_FORMAT,
        **tower_shape(module),
        "from_model": from_model,
        "modality": modality,
        "provenance": provenance.get("summary", ""),
    }
    for name, data in (("adapter.json", meta), (PROVENANCE_FILE, provenance)):
        (out_dir / name).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    (out_dir / "appliance_model.json").write_text(
        json.dumps({"semantic": semantic, "provenance": meta["provenance"]}), "utf-8"
    )
    return out_dir


def read_adapter_dir(adapter_dir: Path) -> torch.nn.Module:
    """Load a tower written by ``write_adapter_dir`` (safetensors only), frozen, on the CPU."""
    from safetensors.torch import load_file

    try:
        meta = json.loads((adapter_dir / "adapter.json").read_text("utf-8"))
        module = build_tower(
            str(meta.get("kind", "linear")),
            int(meta["in_dim"]),
            int(meta["out_dim"]),
            int(meta.get("hidden", 256)),
        )
        module.load_state_dict(load_file(str(adapter_dir / "adapter.safetensors")))
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise IntegrityError(f"adapter {adapter_dir.name!r} is unreadable: {exc}") from exc
    return module.eval().requires_grad_(False)
