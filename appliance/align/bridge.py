"""Bridge mode: two models that each have a text tower (a CLIP and a CLAP, say). A linear
adapter learns, from text alone, to map the source model's text space onto the target's;
because the source's audio shares the source's space, the source's audio then lands in the
target's space through the same adapter, which the serving path loads like any other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from appliance.align.audit import audit_vectors, headline
from appliance.align.features import model_tower
from appliance.align.trainer import TrainConfig, TrainResult, train


@dataclass
class BridgeResult:
    """The trained adapter with its audit on held-out texts before and after training, and
    on the training texts after (how well the map fits; random towers share no structure to
    generalise from, real ones do)."""

    result: TrainResult
    before: dict[str, Any]
    after: dict[str, Any]
    fitted_before: dict[str, Any]
    fitted: dict[str, Any]
    train_texts: int
    held_out_texts: int


def _mapped(tower: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return tower(torch.as_tensor(x, dtype=torch.float32)).numpy()


def train_bridge(
    source_dir: Path,
    target_dir: Path,
    texts: list[str],
    config: TrainConfig,
    *,
    held_out: float = 0.2,
    progress: bool = False,
) -> BridgeResult:
    """Train ``source text -> target text`` on ``texts`` (distinct); audit on a held-out part."""
    texts = sorted(set(texts))
    order = np.random.default_rng(config.seed).permutation(len(texts))
    cut = max(1, round(len(texts) * (1 - held_out)))
    fit, test = order[:cut], order[cut:] if cut < len(texts) else order[:cut]
    source = model_tower(source_dir, "text")(texts)
    target = model_tower(target_dir, "text")(texts)
    keys = [str(i) for i in range(len(texts))]
    test_keys = [keys[i] for i in test]
    linear = TrainConfig(**{**config.to_json(), "kind": "linear"})
    torch.manual_seed(config.seed)
    from appliance.align.towers import build_tower

    fresh = build_tower("linear", source.shape[1], target.shape[1])
    before = audit_vectors("bridged", _mapped(fresh, source[test]), target[test], test_keys)
    result = train(source[fit], target[fit], fit, linear, progress=progress)
    after = audit_vectors("bridged", _mapped(result.tower, source[test]), target[test], test_keys)
    fit_keys = [keys[i] for i in fit]
    fitted_before = audit_vectors("bridged", _mapped(fresh, source[fit]), target[fit], fit_keys)
    fitted = audit_vectors("bridged", _mapped(result.tower, source[fit]), target[fit], fit_keys)
    return BridgeResult(
        result,
        headline(before),
        headline(after),
        headline(fitted_before),
        headline(fitted),
        len(fit),
        len(test),
    )
