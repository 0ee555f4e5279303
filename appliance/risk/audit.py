"""The sweep: every defence at every level, attack success and utility in one row each.

Threat model of the rows (see docs/risk-audit.md):
* ``top1``/``top5``/``eer``/``probe``: the attacker holds some stored vectors with known
  identities and links the others to them (leave-one-out among the defended vectors).
* ``cross_top1``: the attacker embeds his own samples with the public model (clean vectors)
  and links the stored, defended vectors to them; only where the dimension is kept.
* ``recall@10``: utility, the defended vectors' top-10 neighbours against the clean ones'.
* ``utility`` / ``utility_kept`` (with ``UtilityPairs``): the alignment audit's cross-modal
  recall@10 with the defence on the stored side, and its share of the undefended value.
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
from appliance.risk.averaging import averaging
from appliance.risk.utility import RECALL, UtilityPairs, kept, measure

NOISE_SIGMAS = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
PCA_DIMENSIONS = (64, 16, 4)
IDENTITY_DIRECTIONS = (1, 2, 4, 8)
KNOWN_PAIRS = (2, 8, 32)


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


def run_audit(
    probe: ProbeSet,
    key: bytes | None = None,
    progress: Progress | None = None,
    *,
    utility: UtilityPairs | None = None,
    noise_sigmas: Sequence[float] = NOISE_SIGMAS,
) -> dict[str, Any]:
    """The whole audit of one probe set: the sweep table (with the cross-modal utility of
    ``utility`` per level when given) and the averaging section. BLAS runs one thread: the
    probes are small, and on a shared CPU more threads only contend (4x slower here)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _run_audit(probe, key, progress, utility, noise_sigmas)


def _run_audit(
    probe: ProbeSet,
    key: bytes | None,
    progress: Progress | None,
    utility: UtilityPairs | None,
    noise_sigmas: Sequence[float],
) -> dict[str, Any]:
    _require_auditable(probe.labels)
    key = key or os.urandom(32)
    step = progress or (lambda _name: None)
    clean = attacks.unit(probe.vectors)
    dimension = clean.shape[1]
    sigmas = sorted({float(s) for s in noise_sigmas})
    rows: list[dict[str, Any]] = []
    utility_base = measure(utility) if utility is not None else None

    def add(row: dict[str, Any], stored: Any = None, query: Any = None) -> None:
        """Append ``row``, priced in cross-modal utility with ``stored``/``query`` applied."""
        if utility is not None and utility_base is not None:
            figures = measure(utility, stored, query)
            row["utility"] = {k: v[RECALL] for k, v in figures.items()}
            row["utility_mrr"] = {k: v["mrr"] for k, v in figures.items()}
            row["utility_kept"] = kept(figures, utility_base, utility.direction)
        rows.append(row)

    step("no defence")
    add(_row("none", "-", clean, clean, probe, cross=clean))
    for sigma in sigmas:
        step(f"keyed noise sigma={sigma}")
        noisy = d.keyed_noise(clean, probe.inputs, sigma, key)
        add(
            _row("keyed_noise", f"sigma={sigma}", clean, noisy, probe, cross=noisy),
            lambda x, inputs, s=sigma: d.keyed_noise(x, inputs, s, key),
        )
    basis_source = clean if utility is None else np.vstack([clean, attacks.unit(utility.items)])
    for dims in PCA_DIMENSIONS:
        if dims >= min(dimension, len(clean)):
            continue
        step(f"PCA to {dims}")
        project = lambda x, n=dims: d.pca_reduce(x, n, fit_on=basis_source)  # noqa: E731
        add(
            _row("pca", f"dims={dims}", clean, project(clean), probe),
            lambda x, _inputs, f=project: f(x),
            project,
        )
    step("int8")
    int8 = d.int8_quantise(clean)
    add(_row("int8", "-", clean, int8, probe, cross=int8), lambda x, _i: d.int8_quantise(x))
    step("binary")
    binary = d.binary_quantise(clean)
    add(
        _row("binary", "-", clean, binary, probe, cross=binary),
        lambda x, _i: d.binary_quantise(x),
    )
    step("keyed rotation")
    rotation = d.keyed_rotation(dimension, key)
    rotated = clean @ rotation
    turn = (lambda x, _i: x @ rotation), (lambda x: x @ rotation)
    add(_row("rotation", "key unknown", clean, rotated, probe, cross=rotated), *turn)
    for known in KNOWN_PAIRS:
        if known >= len(clean):
            continue
        learned = d.learn_rotation(clean[:known], rotated[:known])
        undone = rotated @ learned.T
        add(_row("rotation", f"attacker knows {known} pairs", clean, rotated, probe, undone), *turn)
    fit, evaluate = _halves(probe.labels)
    if len(fit) and len(evaluate):
        held_out = _subset(probe, evaluate)
        held_clean = clean[evaluate]
        for count in IDENTITY_DIRECTIONS:
            step(f"identity directions removed: {count}")
            directions = d.identity_directions(clean[fit], [probe.labels[i] for i in fit], count)
            removed = d.remove_directions(held_clean, directions)
            level = f"directions={count}"
            add(
                _row("identity_removal", level, held_clean, removed, held_out, removed, "held-out"),
                lambda x, _i, v=directions: d.remove_directions(x, v),
            )
    step("averaging attack")
    result: dict[str, Any] = {
        "samples": len(probe.labels),
        "identities": len(set(probe.labels)),
        "dimension": dimension,
        "rows": rows,
        "averaging": averaging(probe.vectors, probe.inputs, sigmas, key),
    }
    if utility is not None:
        result["utility"] = {
            "modality": utility.modality,
            "direction": utility.direction,
            "pairs": len(utility.keys),
            "baseline": utility_base,
        }
    return result


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
