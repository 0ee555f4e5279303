"""Train a tower (linear adapter or small MLP) from frozen features into the anchor text space.

Non-private runs use symmetric InfoNCE with in-batch negatives. Private runs use DP-SGD
through opacus (per-sample clipping, Poisson sampling, RDP or PRV accounting) with a loss in
which each sample's term depends on that sample only (see ``loss.per_sample_loss``): a
symmetric batch loss would let one record move every other record's gradient and void the
per-sample sensitivity bound. Every epoch starts from ``seed`` and the epoch number, so a run
resumed from its checkpoint ends where an uninterrupted one does.
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from appliance.align.loss import drift_penalty, per_sample_loss, symmetric_info_nce
from appliance.align.privacy import DpPlan, plan_budget
from appliance.align.towers import MlpTower, build_tower
from appliance.errors import InvalidInputError


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; all of them go into the adapter's provenance."""

    kind: str = "mlp"
    hidden: int = 256
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    temperature: float = 0.05
    seed: int = 0
    epsilon: float | None = None
    """None: no differential privacy."""
    delta: float | None = None
    max_grad_norm: float = 1.0
    accountant: str = "rdp"
    keep_alignment: float = 0.0
    """Weight of the drift regulariser when fine-tuning an existing adapter."""
    standardise: bool = True
    """Non-private fresh runs: train on standardised features, then fold the shift and
    scale into the first layer (the stored tower takes raw features)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class TrainResult:
    """The trained tower and what the run spent and measured."""

    tower: torch.nn.Module
    epochs: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    plan: DpPlan | None = None
    epsilon_spent: float | None = None
    drift_before: float | None = None
    drift_after: float | None = None

    def privacy(self) -> dict[str, Any]:
        """The DP budget record stored with the adapter."""
        if self.plan is None:
            return {"private": False}
        return {
            "private": True,
            "epsilon_target": self.plan.epsilon,
            "epsilon_spent": self.epsilon_spent,
            "delta": self.plan.delta,
            "noise_multiplier": self.plan.noise_multiplier,
            "max_grad_norm": self.plan.max_grad_norm,
            "sample_rate": self.plan.sample_rate,
            "accountant": self.plan.accountant,
            "mechanism": "DP-SGD (opacus), per-sample clipping, Poisson sampling",
        }


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def mean_drift(tower: torch.nn.Module, reference: torch.nn.Module, x: torch.Tensor) -> float:
    """Mean ``1 - cos`` between two towers' outputs on the same inputs (0: no drift)."""
    with torch.no_grad():
        return float((1 - (_unit(tower(x)) * _unit(reference(x))).sum(1)).mean())


class _Run:
    """One training run's tensors and state."""

    def __init__(
        self,
        features: np.ndarray,
        targets: np.ndarray,
        text_ids: np.ndarray,
        config: TrainConfig,
        vocabulary: np.ndarray | None,
        vocab_index: np.ndarray | None,
        init: torch.nn.Module | None,
    ) -> None:
        if not len(features) == len(targets) == len(text_ids):
            raise InvalidInputError("features, targets and text ids differ in length")
        self.config = config
        self.x = torch.as_tensor(features, dtype=torch.float32)
        self.t = _unit(torch.as_tensor(targets, dtype=torch.float32))
        self.ids = torch.as_tensor(text_ids, dtype=torch.long)
        self.vocab = None if vocabulary is None else _unit(torch.as_tensor(vocabulary).float())
        self.vocab_index = None if vocab_index is None else torch.as_tensor(vocab_index).long()
        self.shift: tuple[torch.Tensor, torch.Tensor] | None = None
        if init is None and config.epsilon is None and config.standardise:
            # statistics of private data would leak outside DP: only for non-private runs
            mean, scale = self.x.mean(0), self.x.std(0).clamp(min=1e-6)
            self.x = (self.x - mean) / scale
            self.shift = (mean, scale)
        torch.manual_seed(config.seed)
        if init is not None:
            self.tower = copy.deepcopy(init).train().requires_grad_(True)
            self.reference: torch.nn.Module | None = copy.deepcopy(init).eval()
            self.reference.requires_grad_(False)
        else:
            self.tower = build_tower(config.kind, self.x.shape[1], self.t.shape[1], config.hidden)
            self.reference = None

    def loss(self, module: torch.nn.Module, idx: torch.Tensor, private: bool) -> torch.Tensor:
        z = _unit(module(self.x[idx]))
        if private:
            targets = None if self.vocab_index is None else self.vocab_index[idx]
            loss = per_sample_loss(z, self.t[idx], self.vocab, targets, self.config.temperature)
        else:
            loss = symmetric_info_nce(z, self.t[idx], self.ids[idx], self.config.temperature)
        if self.reference is not None and self.config.keep_alignment > 0:
            with torch.no_grad():
                before = _unit(self.reference(self.x[idx]))
            loss = loss + self.config.keep_alignment * drift_penalty(z, before)
        return loss


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch + 1


def train(
    features: np.ndarray,
    targets: np.ndarray,
    text_ids: np.ndarray,
    config: TrainConfig,
    *,
    vocabulary: np.ndarray | None = None,
    vocab_index: np.ndarray | None = None,
    init: torch.nn.Module | None = None,
    checkpoint: Path | None = None,
    stop_after: int | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train on ``features`` (n, d_in) paired with anchor ``targets`` (n, d).

    ``text_ids`` mark equal texts; ``vocabulary``/``vocab_index``: a public text bank (and each
    pair's index in it) for the private loss; ``init``: an existing adapter to fine-tune
    (drift is measured and, with ``keep_alignment``, regularised); ``checkpoint``: saved after
    every epoch and resumed from when present; ``stop_after``: end after that many epochs
    (to simulate an interruption)."""
    import warnings

    from tqdm import tqdm

    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")

    run = _Run(features, targets, text_ids, config, vocabulary, vocab_index, init)
    n = len(run.x)
    private = config.epsilon is not None
    plan = None
    if private:
        plan = plan_budget(
            epsilon=float(config.epsilon),  # type: ignore[arg-type]
            delta=config.delta,
            n=n,
            batch_size=config.batch_size,
            epochs=config.epochs,
            max_grad_norm=config.max_grad_norm,
            accountant=config.accountant,
        )
    optimizer = torch.optim.Adam(run.tower.parameters(), lr=config.lr)
    module: torch.nn.Module = run.tower
    engine = None
    loader = None
    if plan is not None:
        from opacus import PrivacyEngine

        engine = PrivacyEngine(accountant=plan.accountant)
        base = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.arange(n)), batch_size=config.batch_size
        )
        module, optimizer, loader = engine.make_private(
            module=run.tower,
            optimizer=optimizer,
            data_loader=base,
            noise_multiplier=plan.noise_multiplier,
            max_grad_norm=plan.max_grad_norm,
            poisson_sampling=True,
        )
    start, losses = 0, []
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=True)
        run.tower.load_state_dict(state["tower"])
        getattr(optimizer, "original_optimizer", optimizer).load_state_dict(state["optimizer"])
        if engine is not None:
            engine.accountant.history = [tuple(h) for h in state["accountant"]]
        start, losses = int(state["epoch"]), list(state["losses"])
    drift_before = (
        mean_drift(run.tower, run.reference, run.x) if run.reference is not None else None
    )
    started = time.perf_counter()
    end = config.epochs if stop_after is None else min(config.epochs, start + stop_after)
    bar = tqdm(
        total=config.epochs, initial=start, desc="align", file=sys.stderr, disable=not progress
    )
    for epoch in range(start, end):
        torch.manual_seed(_epoch_seed(config.seed, epoch))
        module.train()
        batches = (
            (b[0] for b in loader)
            if loader is not None
            else torch.randperm(n).split(config.batch_size)
        )
        total, count = 0.0, 0
        for idx in batches:
            if len(idx) == 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss = run.loss(module, idx, private)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item(), count + 1
        losses.append(total / max(count, 1))
        if checkpoint is not None:
            _save_checkpoint(checkpoint, run, optimizer, engine, epoch + 1, losses)
        postfix = {"loss": f"{losses[-1]:.3f}"}
        if progress and engine is not None and plan is not None:
            postfix["eps"] = f"{engine.get_epsilon(plan.delta):.2f}"
        bar.set_postfix(postfix)
        bar.update(1)
    bar.close()
    run.tower.eval()
    result = TrainResult(
        tower=run.tower.requires_grad_(False),
        epochs=end,
        seconds=time.perf_counter() - started,
        losses=losses,
        plan=plan,
        drift_before=drift_before,
    )
    if engine is not None and plan is not None:
        result.epsilon_spent = float(engine.get_epsilon(plan.delta))
    if run.reference is not None:
        result.drift_after = mean_drift(run.tower, run.reference, run.x)
    if run.shift is not None:
        fold_standardisation(run.tower, *run.shift)
    if engine is not None:
        module.remove_hooks()  # type: ignore[operator]
    _strip_hooks(run.tower)
    return result


def fold_standardisation(tower: torch.nn.Module, mean: torch.Tensor, scale: torch.Tensor) -> None:
    """Make ``tower(x)`` equal what it computed on ``(x - mean) / scale``."""
    layer = tower.hidden if isinstance(tower, MlpTower) else tower
    with torch.no_grad():
        weight = layer.weight / scale
        layer.bias -= weight @ mean
        layer.weight.copy_(weight)


def _strip_hooks(tower: torch.nn.Module) -> None:
    """Drop opacus' per-sample attributes so the tower saves and runs as a plain module."""
    for p in tower.parameters():
        for name in ("grad_sample", "_forward_counter", "summed_grad"):
            if hasattr(p, name):
                delattr(p, name)


def _save_checkpoint(
    path: Path,
    run: _Run,
    optimizer: torch.optim.Optimizer,
    engine: Any,
    epoch: int,
    losses: list[float],
) -> None:
    """Atomically write the epoch's state (tower, optimiser, accountant history)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": epoch,
        "losses": losses,
        "tower": run.tower.state_dict(),
        "optimizer": getattr(optimizer, "original_optimizer", optimizer).state_dict(),
        "accountant": [list(h) for h in engine.accountant.history] if engine is not None else [],
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
