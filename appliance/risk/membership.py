"""Membership inference against adapters the appliance trains (``appliance/align``).

The attacker holds a trained adapter (tower) and a pair (features, caption) and asks: was
this pair in the training set? Two attacks, each scored by ROC AUC and TPR at FPR 1% over a
balanced set of members (training pairs) and non-members (pairs of the same distribution
the adapter never saw):

* **loss threshold** (Yeom et al. 2018): the lower the pair's loss under the adapter, the
  likelier a member. The loss is the cross-entropy of the pair's caption among the public
  caption vocabulary (``loss.per_sample_loss``, the same for private and non-private
  adapters).
* **shadow models** (Shokri et al. 2017): the attacker trains shadow adapters with the
  same recipe on data he holds (half in, half out for each), learns a logistic-regression
  classifier from per-pair outputs (loss, cosine to the own caption, margin to the best
  other caption) to in/out, and applies it to the target adapter.

Next to the measured figures, ``dp_bound``: for an (epsilon, delta)-DP training run no
attack can do better than TPR <= min(e^eps FPR + delta, 1 - e^-eps (1 - delta - FPR)) at
any FPR (Kairouz et al. 2015); the AUC bound is the area under that curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from appliance.align.trainer import TrainConfig, train


@dataclass(frozen=True)
class PairSet:
    """Frozen features, the caption index of each pair, and the caption vocabulary."""

    features: np.ndarray
    labels: np.ndarray
    captions: np.ndarray
    """(classes, d) anchor vectors of the public captions."""

    def take(self, rows: np.ndarray) -> PairSet:
        """The pairs at ``rows``."""
        return PairSet(self.features[rows], self.labels[rows], self.captions)


def roc_auc(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    """P(score of a member > score of a non-member), ties counted half."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(scores_in)), np.zeros(len(scores_out))]
    return float(roc_auc_score(y, np.r_[scores_in, scores_out]))


def tpr_at_fpr(scores_in: np.ndarray, scores_out: np.ndarray, fpr: float = 0.01) -> float:
    """The share of members scoring above the threshold that at most ``fpr`` of the
    non-members exceed (with fewer than 1/fpr non-members: above every non-member)."""
    ordered = np.sort(np.asarray(scores_out))[::-1]
    allowed = math.floor(fpr * len(ordered))
    threshold = ordered[allowed] if allowed < len(ordered) else -np.inf
    return float((np.asarray(scores_in) > threshold).mean())


def dp_bound(epsilon: float, delta: float, fpr: float = 0.01) -> dict[str, float]:
    """The best any membership attack can do against an (epsilon, delta)-DP run: TPR at
    ``fpr`` and the ROC AUC of the optimal attack."""

    def tpr(alpha: np.ndarray | float) -> Any:
        return np.minimum(
            1.0,
            np.minimum(
                math.exp(epsilon) * alpha + delta,
                1.0 - math.exp(-epsilon) * (1.0 - delta - alpha),
            ),
        )

    grid = np.linspace(0.0, 1.0, 100_001)
    return {"tpr_at_fpr": float(tpr(fpr)), "auc": float(np.trapezoid(tpr(grid), grid))}


def pair_outputs(tower: torch.nn.Module, pairs: PairSet, temperature: float) -> np.ndarray:
    """Per pair: (loss, cosine to its caption, margin to the best other caption)."""
    with torch.no_grad():
        z = F.normalize(tower(torch.as_tensor(pairs.features, dtype=torch.float32)), dim=-1)
        vocabulary = F.normalize(torch.as_tensor(pairs.captions, dtype=torch.float32), dim=-1)
        cosines = z @ vocabulary.T
        y = torch.as_tensor(pairs.labels, dtype=torch.long)
        loss = F.cross_entropy(cosines / temperature, y, reduction="none")
        own = cosines.gather(1, y[:, None])[:, 0]
        others = cosines.scatter(1, y[:, None], -2.0).max(dim=1).values
    return torch.stack([loss, own, own - others], dim=1).numpy()


def train_adapter(pairs: PairSet, config: TrainConfig) -> tuple[torch.nn.Module, float | None]:
    """An adapter trained by the appliance's trainer on ``pairs`` (the private loss uses the
    caption vocabulary, as ``align train --vocabulary`` does); with the epsilon it spent."""
    private = config.epsilon is not None
    result = train(
        pairs.features,
        pairs.captions[pairs.labels],
        pairs.labels,
        config,
        vocabulary=pairs.captions if private else None,
        vocab_index=pairs.labels if private else None,
    )
    return result.tower, result.epsilon_spent


def _split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 : 2 * (n // 2)])


def membership_attack(
    target_pool: PairSet,
    shadow_pool: PairSet,
    config: TrainConfig,
    *,
    shadows: int = 2,
    fpr: float = 0.01,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train the target adapter on a random half of ``target_pool`` (members; the other half
    are non-members), attack it with the loss threshold and with ``shadows`` shadow adapters
    trained on halves of ``shadow_pool`` (the attacker's own data); the figures, the epsilon
    spent and the DP bound."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    members, outsiders = _split(len(target_pool.labels), rng)
    progress("training the target adapter")
    tower, spent = train_adapter(target_pool.take(members), config)
    t = config.temperature
    out_in = pair_outputs(tower, target_pool.take(members), t)
    out_out = pair_outputs(tower, target_pool.take(outsiders), t)
    result: dict[str, Any] = {
        "epsilon_target": config.epsilon,
        "epsilon_spent": spent,
        "delta": config.delta,
        "members": len(members),
        "non_members": len(outsiders),
        "loss_threshold": {
            "auc": roc_auc(-out_in[:, 0], -out_out[:, 0]),
            "tpr_at_fpr": tpr_at_fpr(-out_in[:, 0], -out_out[:, 0], fpr),
        },
        "train_accuracy": float((out_in[:, 2] > 0).mean()),
        "held_out_accuracy": float((out_out[:, 2] > 0).mean()),
    }
    features, targets = [], []
    for number in range(shadows):
        progress(f"training shadow adapter {number + 1}/{shadows}")
        shadow_in, shadow_out = _split(len(shadow_pool.labels), rng)
        shadow_config = TrainConfig(**{**config.to_json(), "seed": config.seed + 1 + number})
        shadow, _ = train_adapter(shadow_pool.take(shadow_in), shadow_config)
        for rows, label in ((shadow_in, 1), (shadow_out, 0)):
            features.append(pair_outputs(shadow, shadow_pool.take(rows), t))
            targets.append(np.full(len(rows), label))
    scaler = StandardScaler().fit(np.vstack(features))
    classifier = LogisticRegression(max_iter=1000).fit(
        scaler.transform(np.vstack(features)), np.concatenate(targets)
    )
    score_in = classifier.decision_function(scaler.transform(out_in))
    score_out = classifier.decision_function(scaler.transform(out_out))
    result["shadow"] = {
        "auc": roc_auc(score_in, score_out),
        "tpr_at_fpr": tpr_at_fpr(score_in, score_out, fpr),
        "shadows": shadows,
    }
    result["fpr"] = fpr
    if config.epsilon is not None:
        result["bound"] = dp_bound(float(spent or config.epsilon), float(config.delta or 0), fpr)
    else:
        result["bound"] = {"tpr_at_fpr": 1.0, "auc": 1.0}
    return result
