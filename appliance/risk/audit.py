"""The sweep: every defence at every level, attack success and utility in one row each.

Threat model of the rows (see docs/risk-audit.md):
* ``top1``/``top5``/``eer``/``probe``: the attacker holds some stored vectors with known
  identities and links the others to them (leave-one-out among the defended vectors).
* ``cross_top1``: the attacker embeds his own samples with the public model (clean vectors)
  and links the stored, defended vectors to them; only where the dimension is kept.
* ``recall@10``: utility, the defended vectors' top-10 neighbours against the clean ones'.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.errors import InvalidInputError
from appliance.risk import attacks
from appliance.risk import defences as d

NOISE_SIGMAS = (0.01, 0.03, 0.1, 0.3)
PCA_DIMENSIONS = (64, 16, 4)
IDENTITY_DIRECTIONS = (1, 2, 4, 8)
KNOWN_PAIRS = (2, 8, 32)
AVERAGING_REPEATS = 32
AVERAGING_INPUTS = 8


@dataclass
class ProbeSet:
    """The auditor's labelled probe set, embedded: one row per sample."""

    vectors: np.ndarray
    labels: list[str]
    inputs: list[bytes | str]
    """What each row was embedded from (keys the deterministic noise, never stored)."""
    attributes: dict[str, list[str | None]] = field(default_factory=dict)


Progress = Callable[[str], None]


def _row(
    defence: str,
    level: str,
    clean: np.ndarray,
    defended: np.ndarray,
    probe: ProbeSet,
    cross: np.ndarray | None = None,
    on: str = "all",
) -> dict[str, Any]:
    labels = probe.labels
    linkage = attacks.identification(defended, labels)
    row: dict[str, Any] = {
        "defence": defence,
        "level": level,
        "on": on,
        "top1": linkage["top1"],
        "top5": linkage["top5"],
        "chance_top1": linkage["chance_top1"],
        "chance_top5": linkage["chance_top5"],
        "cross_top1": None,
        "recall@10": attacks.neighbour_recall(clean, defended),
    }
    if cross is not None:
        row["cross_top1"] = attacks.identification(clean, labels, queries=cross)["top1"]
    row.update(attacks.verification(defended, labels))
    try:
        probe_figures = attacks.identity_probe(defended, labels)
        row["probe_accuracy"] = probe_figures["accuracy"]
        row["probe_majority"] = probe_figures["majority"]
    except ValueError:
        row["probe_accuracy"] = row["probe_majority"] = None
    row["attributes"] = {}
    for name, values in probe.attributes.items():
        keep = [i for i, v in enumerate(values) if v is not None]
        try:
            row["attributes"][name] = attacks.attribute_probe(
                defended[keep], [values[i] for i in keep]
            )["auc"]
        except ValueError:
            row["attributes"][name] = None
    return row


def _subset(probe: ProbeSet, rows: np.ndarray) -> ProbeSet:
    return ProbeSet(
        vectors=probe.vectors[rows],
        labels=[probe.labels[i] for i in rows],
        inputs=[probe.inputs[i] for i in rows],
        attributes={k: [v[i] for i in rows] for k, v in probe.attributes.items()},
    )


def _halves(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Alternate each identity's samples between a fit half and an evaluation half."""
    seen: dict[str, int] = {}
    fit, evaluate = [], []
    for i, label in enumerate(labels):
        (fit if seen.get(label, 0) % 2 == 0 else evaluate).append(i)
        seen[label] = seen.get(label, 0) + 1
    return np.array(fit, dtype=int), np.array(evaluate, dtype=int)


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
    probe: ProbeSet, sigmas: Sequence[float], key: bytes, repeats: int = AVERAGING_REPEATS
) -> list[dict[str, Any]]:
    """What repeating a query buys against each noise: fresh per call, keyed with the same
    input, keyed with altered inputs that embed the same (the documented limit)."""
    rng = np.random.default_rng(int.from_bytes(os.urandom(8), "big"))
    out = []
    count = min(AVERAGING_INPUTS, len(probe.labels))
    for sigma in sigmas:
        for mode in AVERAGING_MODES:
            results = []
            for j in range(count):
                vector, payload = probe.vectors[j], probe.inputs[j]
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


def run_audit(
    probe: ProbeSet, key: bytes | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """The whole audit of one probe set: the sweep table and the averaging section."""
    _require_auditable(probe.labels)
    key = key or os.urandom(32)
    step = progress or (lambda _name: None)
    clean = attacks.unit(probe.vectors)
    dimension = clean.shape[1]
    rows: list[dict[str, Any]] = []
    step("no defence")
    rows.append(_row("none", "-", clean, clean, probe, cross=clean))
    for sigma in NOISE_SIGMAS:
        step(f"keyed noise sigma={sigma}")
        noisy = d.keyed_noise(clean, probe.inputs, sigma, key)
        rows.append(_row("keyed_noise", f"sigma={sigma}", clean, noisy, probe, cross=noisy))
    for dims in PCA_DIMENSIONS:
        if dims >= min(dimension, len(clean)):
            continue
        step(f"PCA to {dims}")
        rows.append(_row("pca", f"dims={dims}", clean, d.pca_reduce(clean, dims), probe))
    step("int8")
    int8 = d.int8_quantise(clean)
    rows.append(_row("int8", "-", clean, int8, probe, cross=int8))
    step("binary")
    binary = d.binary_quantise(clean)
    rows.append(_row("binary", "-", clean, binary, probe, cross=binary))
    step("keyed rotation")
    rotation = d.keyed_rotation(dimension, key)
    rotated = clean @ rotation
    rows.append(_row("rotation", "key unknown", clean, rotated, probe, cross=rotated))
    for known in KNOWN_PAIRS:
        if known >= len(clean):
            continue
        learned = d.learn_rotation(clean[:known], rotated[:known])
        undone = rotated @ learned.T
        row = _row("rotation", f"attacker knows {known} pairs", clean, rotated, probe, undone)
        rows.append(row)
    fit, evaluate = _halves(probe.labels)
    if len(fit) and len(evaluate):
        held_out = _subset(probe, evaluate)
        held_clean = clean[evaluate]
        for count in IDENTITY_DIRECTIONS:
            step(f"identity directions removed: {count}")
            directions = d.identity_directions(clean[fit], [probe.labels[i] for i in fit], count)
            removed = d.remove_directions(held_clean, directions)
            level = f"directions={count}"
            rows.append(
                _row("identity_removal", level, held_clean, removed, held_out, removed, "held-out")
            )
    step("averaging attack")
    return {
        "samples": len(probe.labels),
        "identities": len(set(probe.labels)),
        "dimension": dimension,
        "rows": rows,
        "averaging": averaging(probe, NOISE_SIGMAS, key),
    }


def _require_auditable(labels: Sequence[str]) -> None:
    """Linkage and verification need two identities with at least two samples each."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    if (counts >= 2).sum() < 2:
        raise InvalidInputError(
            "the probe set needs at least two identities with two or more samples each",
            remedy="add more samples per identity to the manifest",
        )


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """Flat figures for the audit trail (scalars and flat lists of short strings)."""
    base = result["rows"][0]
    return {
        "samples": result["samples"],
        "identities": result["identities"],
        "dimension": result["dimension"],
        "baseline_top1": round(base["top1"], 4),
        "chance_top1": round(base["chance_top1"], 4),
        "baseline_eer": round(base["eer"], 4),
        "rows": [
            f"{r['defence']}[{r['level']}] top1={r['top1']:.3f} "
            f"cross_top1={'-' if r['cross_top1'] is None else format(r['cross_top1'], '.3f')} "
            f"eer={r['eer']:.3f} recall@10={r['recall@10']:.3f}"
            for r in result["rows"]
        ],
    }
