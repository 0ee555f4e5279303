"""The trainer: learns, spends no more privacy than asked, refuses what it cannot meet,
resumes exactly, and holds an existing alignment when fine-tuning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from appliance.align.metrics import retrieval
from appliance.align.privacy import BudgetError, default_delta, plan_budget
from appliance.align.towers import build_tower
from appliance.align.trainer import TrainConfig, train
from tests.align.toys import Toy, make_toy


def _recall(tower: torch.nn.Module, toy: Toy) -> float:
    with torch.no_grad():
        z = tower(torch.as_tensor(toy.x)).numpy()
    return retrieval(z, toy.prototypes, toy.labels, np.arange(len(toy.prototypes)))["recall@1"]


def test_training_beats_the_untrained_tower(toy: Toy) -> None:
    """Symmetric InfoNCE lifts modality->text recall@1 from chance to (nearly) perfect."""
    torch.manual_seed(0)
    untrained = build_tower("linear", 20, 16)
    config = TrainConfig(kind="linear", epochs=25, batch_size=16, temperature=0.1)
    result = train(toy.x, toy.t, toy.labels, config)
    assert _recall(untrained, toy) < 0.5
    assert _recall(result.tower, toy) >= 0.95
    assert result.losses[-1] < result.losses[0]


def test_private_run_spends_at_most_the_target_and_reports_it(toy: Toy) -> None:
    """DP-SGD with a public caption vocabulary: epsilon spent <= target, delta < 1/n, learns."""
    config = TrainConfig(
        kind="linear", epochs=8, batch_size=12, temperature=0.1, epsilon=8.0, lr=5e-3
    )
    result = train(
        toy.x, toy.t, toy.labels, config, vocabulary=toy.prototypes, vocab_index=toy.labels
    )
    assert result.plan is not None and result.epsilon_spent is not None
    assert 0 < result.epsilon_spent <= 8.0
    assert result.plan.delta < 1 / len(toy.x)
    assert result.privacy()["private"] is True
    assert _recall(result.tower, toy) > 1 / 6


def test_impossible_budget_is_refused_before_training() -> None:
    """A tiny epsilon over many epochs of few pairs is refused with a remedy."""
    with pytest.raises(BudgetError) as caught:
        plan_budget(epsilon=0.01, delta=None, n=48, batch_size=24, epochs=200)
    assert "epsilon" in caught.value.remedy


def test_delta_must_be_below_one_over_n() -> None:
    """delta >= 1/n is refused; the default is below 1/n."""
    with pytest.raises(BudgetError):
        plan_budget(epsilon=8, delta=0.05, n=48, batch_size=8, epochs=1)
    assert default_delta(48) < 1 / 48 and default_delta(10**9) < 1e-9


def test_resume_from_checkpoint_matches_an_uninterrupted_run(toy: Toy, tmp_path: Path) -> None:
    """Stopping after 3 of 6 epochs and resuming gives the same weights and epsilon."""
    config = TrainConfig(
        kind="mlp", hidden=16, epochs=6, batch_size=12, epsilon=4.0, temperature=0.1, seed=3
    )
    args = (toy.x, toy.t, toy.labels, config)
    extra = {"vocabulary": toy.prototypes, "vocab_index": toy.labels}
    whole = train(*args, **extra)
    checkpoint = tmp_path / "run.ckpt"
    first = train(*args, **extra, checkpoint=checkpoint, stop_after=3)
    assert first.epochs == 3
    resumed = train(*args, **extra, checkpoint=checkpoint)
    assert resumed.epochs == 6
    for key, value in whole.tower.state_dict().items():
        assert torch.equal(value, resumed.tower.state_dict()[key]), key
    assert resumed.epsilon_spent == pytest.approx(whole.epsilon_spent)
    assert resumed.losses == pytest.approx(whole.losses)


def test_keep_alignment_limits_drift_when_fine_tuning(toy: Toy) -> None:
    """Fine-tuning on shifted targets drifts less with the regulariser than without."""
    base_config = TrainConfig(kind="linear", epochs=25, batch_size=16, temperature=0.1)
    base = train(toy.x, toy.t, toy.labels, base_config)
    shifted = make_toy(seed=1)
    runs = {}
    for weight in (0.0, 50.0):
        config = TrainConfig(kind="linear", epochs=10, batch_size=16, keep_alignment=weight)
        runs[weight] = train(toy.x, shifted.t, toy.labels, config, init=base.tower)
    assert runs[0.0].drift_before == pytest.approx(0.0, abs=1e-6)
    assert runs[50.0].drift_after < 0.5 * runs[0.0].drift_after
    assert _recall(runs[50.0].tower, toy) >= 0.95
