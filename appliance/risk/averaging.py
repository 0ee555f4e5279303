"""The averaging attack: what repeating a query buys against each noise defence.

Modes: ``fresh`` (new randomness per call), ``keyed_same_input`` (the appliance's keyed
noise, same input each time: one vector), ``keyed_altered_inputs`` (variants of one input
that embed the same draw independent keyed noise: the documented limit).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from appliance.risk import attacks
from appliance.risk import defences as d

AVERAGING_REPEATS = 32
AVERAGING_INPUTS = 8

AVERAGING_MODES = ("fresh", "keyed_same_input", "keyed_altered_inputs")


def _defended_answer(
    mode: str,
    vector: np.ndarray,
    payload: bytes | str,
    attempt: int,
    sigma: float,
    key: bytes,
    rng: np.random.Generator,
) -> np.ndarray:
    """The answer to the attacker's ``attempt``-th query of one input under ``mode``."""
    if mode == "fresh":
        return d.fresh_noise(vector[None, :], sigma, rng)[0]
    if mode == "keyed_same_input":
        return d.keyed_noise(vector[None, :], [payload], sigma, key)[0]
    return d.keyed_noise(vector[None, :], [_variant(payload, attempt)], sigma, key)[0]


def averaging(
    vectors: np.ndarray,
    inputs: Sequence[bytes | str],
    sigmas: Sequence[float],
    key: bytes,
    repeats: int = AVERAGING_REPEATS,
) -> list[dict[str, Any]]:
    """What repeating a query buys against each noise: fresh per call, keyed with the same
    input, keyed with altered inputs that embed the same (the documented limit)."""
    rng = np.random.default_rng(int.from_bytes(os.urandom(8), "big"))
    out = []
    count = min(AVERAGING_INPUTS, len(inputs))
    for sigma in sigmas:
        for mode in AVERAGING_MODES:
            results = []
            for j in range(count):
                vector, payload = vectors[j], inputs[j]
                answers = [
                    _defended_answer(mode, vector, payload, i, sigma, key, rng)
                    for i in range(repeats)
                ]
                results.append(attacks.averaging_attack(vector, answers.__getitem__, repeats))
            out.append(
                {
                    "sigma": sigma,
                    "mode": mode,
                    "repeats": repeats,
                    "single_distance": float(np.mean([r["single_distance"] for r in results])),
                    "averaged_distance": float(np.mean([r["averaged_distance"] for r in results])),
                }
            )
    return out


def _variant(payload: bytes | str, i: int) -> bytes | str:
    return f"{payload} #{i}" if isinstance(payload, str) else bytes(payload) + b"\0" * i
