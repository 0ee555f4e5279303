"""The conditional (GRU) decoder of ``appliance bench risk --conditional-epochs N``: trained
on the same public text as the roster bag-of-tokens decoder, attacking the same canary
notes at a few defence levels, with the same attacker (he reproduces a reproducible defence
on his public text and maps it back by least squares; a keyed rotation he cannot)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LEVELS = (
    ("none", "-"),
    ("keyed_noise", "sigma=0.02 (shipped)"),
    ("keyed_noise", "sigma=0.1"),
    ("pca", "dims=16"),
    ("rotation", "key unknown"),
)


def conditional_rows(
    public: tuple[np.ndarray, Sequence[str]],
    notes: tuple[np.ndarray, Sequence[Any]],
    epochs: int,
    progress: Callable[[str], None] = lambda _: None,
    levels: Sequence[tuple[str, str]] = LEVELS,
    hidden: int = 256,
) -> dict[str, Any]:
    """Train the conditional decoder on ``public`` and score it on each of ``levels``."""
    import torch

    from appliance.risk.conditional_decoder import (
        evaluate_conditional,
        train_conditional_decoder,
    )
    from appliance.risk.inversion_sweep import _map_back, text_defences

    progress(f"training the conditional decoder ({epochs} epochs)")
    started = time.perf_counter()
    decoder = train_conditional_decoder(public[0], public[1], epochs=epochs, hidden=hidden)
    seconds = time.perf_counter() - started
    key = os.urandom(32)
    note_vectors, note_list = notes
    texts = [n.text for n in note_list]
    rows = []
    for defence in text_defences(public[0]):
        if (defence.name, defence.level) not in levels:
            continue
        progress(f"conditional decoder: {defence.name} {defence.level}")
        stored = defence.apply(note_vectors, texts, key)
        if defence.reproducible and defence.name != "none":
            solution = _map_back(defence.apply(public[0], public[1], os.urandom(32)), public[0])
            stored = np.hstack([stored, np.ones((len(stored), 1))]) @ solution
        with torch.no_grad():
            figures = evaluate_conditional(decoder, np.asarray(stored, np.float32), note_list)
        rows.append({"defence": defence.name, "level": defence.level, **figures})
    return {
        "epochs": epochs,
        "final_loss": decoder.final_loss,
        "vocabulary": len(decoder.model.vocabulary),
        "train_seconds": round(seconds, 1),
        "rows": rows,
    }
