"""The SciFact nDCG@10 column of ``appliance bench risk --section inversion``: every text
defence level the sweep ran, priced by exact nDCG@10 of the real MiniLM on BEIR SciFact
(``appliance.risk.scifact_utility``), joined to the inversion rows on (defence, level)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def add_scifact_ndcg(
    result: dict[str, Any],
    scifact: Path,
    public_vectors: np.ndarray,
    extra_sigmas: Sequence[float] = (),
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
    rewrites: Sequence[Any] = (),
) -> None:
    """Measure every level of ``text_defences(public_vectors)`` (the PCA bases fitted on the
    same public text as the sweep's) and add ``ndcg@10`` / ``ndcg@10_kept`` to
    ``result["rows"]``; the whole utility result goes to ``result["scifact_ndcg"]``.
    ``rewrites``: the sweep's text-rewrite levels (``text_defences``' third argument where
    it has one), so they are priced too."""
    from appliance.encoders.tokenizer_files import minilm_dir
    from appliance.risk import inversion_sweep, scifact_utility

    defences = inversion_sweep.text_defences(public_vectors, extra_sigmas, rewrites)
    utility = scifact_utility.measure(
        scifact,
        defences,
        scifact_utility.minilm_embedder(),
        scifact_utility.model_dir_hash(minilm_dir()),
        os.urandom(32),
        cache_dir=cache_dir or scifact_utility.DEFAULT_CACHE,
        progress=progress,
    )
    scifact_utility.join(result["rows"], utility)
    result["scifact_ndcg"] = utility
