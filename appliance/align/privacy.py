"""The (epsilon, delta) budget of a DP-SGD run: plan the noise before training, refuse a
budget that cannot be met, and report what was spent (opacus accountants, RDP or PRV)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from appliance.errors import InvalidInputError

ACCOUNTANTS = ("rdp", "prv")
MAX_NOISE_MULTIPLIER = 20.0
"""Above this the noise drowns every gradient: the run would spend the budget and learn nothing."""


class BudgetError(InvalidInputError):
    """The operator's privacy budget cannot be met with this data and schedule."""


def default_delta(n: int) -> float:
    """A delta below 1/n: ``min(1e-5, 1 / (10 n))``."""
    return min(1e-5, 1.0 / (10 * max(n, 1)))


@dataclass(frozen=True)
class DpPlan:
    """What a private run will do: noise, clipping, sampling and the target budget."""

    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    epochs: int
    accountant: str

    @property
    def steps(self) -> int:
        """Optimiser steps the accountant is told about (epochs / sample rate)."""
        return int(self.epochs / self.sample_rate)


def plan_budget(
    *,
    epsilon: float,
    delta: float | None,
    n: int,
    batch_size: int,
    epochs: int,
    max_grad_norm: float = 1.0,
    accountant: str = "rdp",
    max_noise_multiplier: float = MAX_NOISE_MULTIPLIER,
) -> DpPlan:
    """The noise multiplier meeting (epsilon, delta) after ``epochs`` of Poisson sampling with
    expected batch ``batch_size`` out of ``n``; ``BudgetError`` with a remedy if impossible."""
    from opacus.accountants.utils import get_noise_multiplier

    if accountant not in ACCOUNTANTS:
        raise InvalidInputError(
            f"unknown accountant {accountant!r}", remedy=f"choose {' or '.join(ACCOUNTANTS)}"
        )
    if n < 2:
        raise BudgetError(f"{n} training pairs: too few for differential privacy")
    delta = default_delta(n) if delta is None else delta
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise BudgetError(f"epsilon must be a positive number, not {epsilon}")
    if not 0 < delta < 1.0 / n:
        raise BudgetError(
            f"delta {delta:g} is not below 1/n = {1.0 / n:g} for {n} pairs",
            remedy=f"leave --delta out (default {default_delta(n):g}) or pass one below 1/n",
        )
    sample_rate = min(1.0, batch_size / n)
    remedy = (
        "raise --epsilon, train fewer --epochs, use a smaller --batch-size, or collect more pairs"
    )
    from opacus.accountants.utils import create_accountant

    ceiling = create_accountant(mechanism=accountant)
    ceiling.history = [(max_noise_multiplier, sample_rate, int(epochs / sample_rate))]
    best = ceiling.get_epsilon(delta=delta)
    if best > epsilon:  # even the most noise worth adding spends more than the budget
        raise BudgetError(
            f"epsilon {epsilon:g} cannot be met with {n} pairs and {epochs} epochs: even noise "
            f"multiplier {max_noise_multiplier:g} (beyond which the adapter learns nothing) "
            f"spends epsilon {best:.2f}",
            remedy=remedy,
        )
    try:
        sigma = get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            epochs=epochs,
            accountant=accountant,
        )
    except ValueError as exc:
        raise BudgetError(
            f"no noise level meets epsilon {epsilon:g}, delta {delta:g} ({exc})", remedy=remedy
        ) from exc
    if sigma > max_noise_multiplier:
        raise BudgetError(
            f"epsilon {epsilon:g} with {n} pairs and {epochs} epochs needs noise multiplier "
            f"{sigma:.1f} (over {max_noise_multiplier:g}): the adapter would learn nothing",
            remedy=remedy,
        )
    return DpPlan(epsilon, delta, sigma, max_grad_norm, sample_rate, epochs, accountant)
