"""Membership inference against adapters trained by the appliance's own trainer: the loss
threshold and shadow models find memorised members, DP training caps them, and the
theoretical (epsilon, delta) bound is computed right."""

from __future__ import annotations

import math

import numpy as np
import pytest

from appliance.align.trainer import TrainConfig
from appliance.risk.membership import PairSet, dp_bound, membership_attack, roc_auc, tpr_at_fpr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_pairs(n: int, seed: int) -> PairSet:
    """Features with no relation to their (random) captions: only memorising helps."""
    rng = np.random.default_rng(seed)
    captions = rng.normal(size=(10, 8)).astype(np.float32)
    return PairSet(
        rng.normal(size=(n, 16)).astype(np.float32), rng.integers(0, 10, size=n), captions
    )


def _pools() -> tuple[PairSet, PairSet]:
    pool = _random_pairs(480, 0)
    rows = np.arange(480)
    return pool.take(rows[:240]), pool.take(rows[240:])


def test_dp_bound_matches_the_closed_form() -> None:
    """epsilon 0 allows nothing beyond chance; the TPR bound is e^eps FPR + delta where that
    is the binding side; the AUC bound grows with epsilon and stays in [0.5, 1]."""
    assert dp_bound(0.0, 0.0)["auc"] == pytest.approx(0.5, abs=1e-6)
    assert dp_bound(0.0, 0.0)["tpr_at_fpr"] == pytest.approx(0.01)
    assert dp_bound(1.0, 1e-5)["tpr_at_fpr"] == pytest.approx(math.e * 0.01 + 1e-5)
    aucs = [dp_bound(e, 1e-5)["auc"] for e in (0.5, 1.0, 2.0, 8.0)]
    assert aucs == sorted(aucs) and aucs[0] > 0.5 and aucs[-1] <= 1.0
    assert dp_bound(8.0, 1e-5)["auc"] > 0.99  # epsilon 8 alone promises almost nothing


def test_roc_figures_on_known_scores() -> None:
    """Perfectly separated scores give AUC 1 and TPR 1; identical ones AUC 0.5, TPR 0."""
    assert roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert roc_auc(np.ones(4), np.ones(4)) == 0.5
    assert tpr_at_fpr(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert tpr_at_fpr(np.ones(4), np.ones(4)) == 0.0


def test_attacks_find_members_of_a_memorising_adapter() -> None:
    """A non-private MLP adapter that memorises random captions: both attacks tell its
    training pairs from unseen ones far above chance (AUC 0.5)."""
    target, shadow = _pools()
    config = TrainConfig(kind="mlp", hidden=128, epochs=60, batch_size=32, lr=3e-3, seed=0)
    result = membership_attack(target, shadow, config, shadows=1)
    assert result["loss_threshold"]["auc"] > 0.8, result
    assert result["shadow"]["auc"] > 0.8, result
    assert result["bound"]["auc"] == 1.0  # no DP, no bound


def test_dp_training_keeps_membership_within_its_bound() -> None:
    """The same recipe under DP-SGD at epsilon 1: both attacks stay near chance and under
    the AUC bound of the epsilon actually spent."""
    target, shadow = _pools()
    config = TrainConfig(
        kind="mlp", hidden=128, epochs=10, batch_size=60, lr=3e-3, seed=0, epsilon=1.0, delta=1e-3
    )
    result = membership_attack(target, shadow, config, shadows=1)
    assert result["epsilon_spent"] <= 1.0 + 1e-6
    for attack in ("loss_threshold", "shadow"):
        assert result[attack]["auc"] < 0.65, result
        assert result[attack]["auc"] <= result["bound"]["auc"]
