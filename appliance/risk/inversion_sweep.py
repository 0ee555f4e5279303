"""The inversion attack against each text defence level, priced in utility.

Threat model per row: the attacker holds the defended vectors of the canary notes and the
public model, and knows which defence is in force (the policy is not a secret) but not its
key. Where he can reproduce the defence on his own public text (keyed noise with his own
key, PCA, int8, binary) he does, and learns a linear map from defended back to clean vectors
on his public text (least squares) before decoding. The keyed rotation he cannot reproduce
without the key: he decodes the rotated vectors as they are, or, in the ``known pairs`` row,
learns the rotation back from 32 (clean, stored) pairs (orthogonal Procrustes).

Input defences (``redact_before_encode``) act before the encoder: the row's ``rewrite``
turns each note into the text the appliance would embed (the real text detector, then
``admission.redact_for_encoding``), the sweep re-embeds the rewritten texts with the
``embed`` callable it is given (the active space's text encoder), and the attacker decodes
those vectors as they are: they are genuine vectors of the redacted text, nothing to map back.

Utility is ``neighbour_recall`` (recall@10 of each vector's clean top-10 neighbours among
the defended vectors) on a separate utility set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.risk import attacks
from appliance.risk import defences as d
from appliance.risk.inversion import TrainedDecoder, evaluate
from appliance.risk.notes import Note
from appliance.risk.policy import REDACT

NOISE_SIGMAS = (0.01, 0.02, 0.03, 0.05, 0.1, 0.3)
SHIPPED_SIGMA = 0.02
"""``policies/site.toml``: research embeddings get ``gaussian_noise`` at sigma 0.02."""
PCA_DIMENSIONS = (64, 16)
KNOWN_PAIRS = 32

Transform = Callable[[np.ndarray, Sequence[str], bytes], np.ndarray]


@dataclass(frozen=True)
class TextDefence:
    """One defence level: how the appliance applies it, and whether the attacker can."""

    name: str
    level: str
    apply: Transform
    reproducible: bool = True
    rewrite: Callable[[str], str] | None = None
    """Text -> text before embedding (input defences); the sweep then re-embeds."""


Embed = Callable[[Sequence[str]], np.ndarray]
Rewrites = Sequence[tuple[str, Callable[[str], str]]]


def _unchanged(vectors: np.ndarray, _texts: Sequence[str], _key: bytes) -> np.ndarray:
    return np.asarray(vectors, np.float64)


def text_defences(
    public_vectors: np.ndarray, extra_sigmas: Sequence[float] = (), rewrites: Rewrites = ()
) -> list[TextDefence]:
    """Every level swept (PCA bases are fitted on public text, as a site would fit them);
    ``extra_sigmas`` (the levels the policy's text limits require) join the noise levels;
    each ``rewrites`` entry (level, text -> text) adds a ``redact_before_encode`` row."""
    rows = [TextDefence("none", "-", lambda v, _t, _k: np.asarray(v, np.float64))]
    for sigma in sorted({*NOISE_SIGMAS, *(float(s) for s in extra_sigmas)}):
        level = f"sigma={sigma:g}" + (" (shipped)" if sigma == SHIPPED_SIGMA else "")
        rows.append(
            TextDefence(
                "keyed_noise", level, lambda v, t, k, s=sigma: d.keyed_noise(v, list(t), s, k)
            )
        )
    for dims in PCA_DIMENSIONS:
        rows.append(
            TextDefence(
                "pca", f"dims={dims}", lambda v, _t, _k, n=dims: d.pca_reduce(v, n, public_vectors)
            )
        )
    rows.append(TextDefence("int8", "-", lambda v, _t, _k: d.int8_quantise(v)))
    rows.append(TextDefence("binary", "-", lambda v, _t, _k: d.binary_quantise(v)))
    rows.append(
        TextDefence(
            "rotation",
            "key unknown",
            lambda v, _t, k: attacks.unit(v) @ d.keyed_rotation(v.shape[1], k),
            reproducible=False,
        )
    )
    rows.append(
        TextDefence(
            "rotation",
            f"attacker knows {KNOWN_PAIRS} pairs",
            lambda v, _t, k: attacks.unit(v) @ d.keyed_rotation(v.shape[1], k),
            reproducible=False,
        )
    )
    for level, rewrite in rewrites:
        rows.append(TextDefence(REDACT, level, _unchanged, reproducible=False, rewrite=rewrite))
    return rows


def _map_back(defended_public: np.ndarray, public: np.ndarray) -> np.ndarray:
    """The attacker's least-squares linear map (with intercept) from defended to clean."""
    design = np.hstack([defended_public, np.ones((len(defended_public), 1))])
    solution, *_ = np.linalg.lstsq(design, public, rcond=None)
    return solution


def attack_row(
    defence: TextDefence,
    decoder: TrainedDecoder,
    public: tuple[np.ndarray, Sequence[str]],
    notes: tuple[np.ndarray, Sequence[Note]],
    utility: tuple[np.ndarray, Sequence[str]],
    key: bytes,
    embed: Embed | None = None,
) -> dict[str, Any]:
    """Attack success and utility of one defence level (``embed``: the text encoder, needed
    by a level that rewrites the text)."""
    note_vectors, note_list = notes
    texts = [n.text for n in note_list]
    utility_vectors, utility_texts = utility
    if defence.rewrite is not None:
        if embed is None:
            raise ValueError(f"{defence.name} rewrites the text: the sweep needs an embed")
        note_vectors = np.asarray(embed([defence.rewrite(t) for t in texts]), np.float32)
        defended_utility = np.asarray(
            embed([defence.rewrite(t) for t in utility_texts]), np.float32
        )
    else:
        defended_utility = defence.apply(utility_vectors, utility_texts, key)
    stored = defence.apply(note_vectors, texts, key)
    if defence.reproducible and defence.name != "none":
        attacker_key = os.urandom(32)  # he reproduces the defence, not the appliance's draws
        public_defended = defence.apply(public[0], public[1], attacker_key)
        solution = _map_back(public_defended, public[0])
        seen = np.hstack([stored, np.ones((len(stored), 1))]) @ solution
    elif defence.level.startswith("attacker knows"):
        rotation = d.learn_rotation(attacks.unit(note_vectors[:KNOWN_PAIRS]), stored[:KNOWN_PAIRS])
        seen = stored @ rotation.T
    else:
        seen = stored
    row: dict[str, Any] = {"defence": defence.name, "level": defence.level}
    row.update(evaluate(decoder, np.asarray(seen, np.float32), note_list))
    row["recall@10"] = attacks.neighbour_recall(utility_vectors, defended_utility)
    return row


def sweep(
    decoder: TrainedDecoder,
    public: tuple[np.ndarray, Sequence[str]],
    notes: tuple[np.ndarray, Sequence[Note]],
    utility: tuple[np.ndarray, Sequence[str]],
    progress: Callable[[str], None] = lambda _: None,
    extra_sigmas: Sequence[float] = (),
    rewrites: Rewrites = (),
    embed: Embed | None = None,
) -> list[dict[str, Any]]:
    """One row per defence level (a fresh appliance key per sweep); ``rewrites`` (level,
    text -> text) add input-defence rows, re-embedded through ``embed``."""
    key = os.urandom(32)
    rows = []
    for defence in text_defences(public[0], extra_sigmas, rewrites):
        progress(f"{defence.name} {defence.level}")
        rows.append(attack_row(defence, decoder, public, notes, utility, key, embed))
    return rows


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """One short line per row (what the audit trail keeps)."""
    return [
        f"{r['defence']} {r['level']}: F1 {r['f1']:.3f} name {r['name_recovered']:.3f}"
        f"/{r['name_closed_top1']:.3f} mrn {r['mrn_recovered']:.3f}/{r['mrn_closed_top1']:.3f}"
        f" R@10 {r['recall@10']:.3f}"
        for r in rows
    ]
