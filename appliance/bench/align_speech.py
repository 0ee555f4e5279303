"""``bench align``'s speech section: towers trained only on spoken digits eSpeak NG
synthesised on-premise, evaluated on the real human recordings of FSDD's official test
split (recordings 0-4 of every speaker and digit).

- ``speech-embedding``: what the quickstart serves (``starter.speech_tower_plan``): the
  frozen pretrained speech-embedding backbone (``appliance/encoders/speech_backbone.py``,
  hash-pinned files of the ``openwakeword`` 0.4.0 wheel) under a linear adapter;
- ``logmel``: the from-scratch MLP tower the quickstart falls back to without the backbone.

Both use the quickstart's plan: 100 clips per digit plus one augmented variation each.
No private runs: the training data is synthetic and public, there is nobody to protect.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _fsdd_test(fsdd: Path) -> list[tuple[np.ndarray, int, int]]:
    import soundfile as sf

    clips = []
    for path in sorted((fsdd / "recordings").glob("*.wav")):
        digit, _speaker, index = path.stem.split("_")
        if int(index) < 5:
            wave, rate = sf.read(path, dtype="float32", always_2d=True)
            clips.append((wave.mean(axis=1), int(rate), int(digit)))
    return clips


def run_speech_section(
    fsdd: Path,
    captions: np.ndarray,
    image_vectors: np.ndarray,
    image_labels: np.ndarray,
    *,
    cache: Path,
    per_digit: int = 100,
    epochs: int = 30,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train on synthetic speech, test on FSDD's human test recordings."""
    import soundfile as sf

    from appliance.align.features import logmel_from_wave
    from appliance.align.metrics import retrieval
    from appliance.align.speech import espeak_available, speech_pairs, speech_plan, synthesise
    from appliance.align.trainer import TrainConfig, train
    from appliance.encoders.speech_backbone import backbone_available, speech_embedding

    if not espeak_available():
        return {"skipped": "eSpeak NG is not installed (pip install 'appliance[speech]')"}
    started = time.perf_counter()
    jobs = speech_plan(per_digit, seed)
    pairs = speech_pairs(synthesise(jobs, cache), jobs, augmented=1, seed=seed)
    waves = [sf.read(io.BytesIO(p.payload), dtype="float32") for p in pairs]
    y = np.array([int(p.label) for p in pairs])
    out: dict[str, Any] = {
        "train": {"synthetic_clips": len(jobs), "with_augmentation": len(pairs)},
        "synthesis_seconds": round(time.perf_counter() - started, 2),
    }
    test = _fsdd_test(fsdd)
    ty = np.array([digit for _, _, digit in test])
    out["test"] = {"fsdd_human_recordings": len(test)}
    labels = np.arange(10)

    def evaluate(
        name: str, kind: str, extract: Callable[[np.ndarray, int], np.ndarray]
    ) -> dict[str, Any]:
        progress(f"speech ({name}): features of {len(waves)} synthetic + {len(test)} human")
        t0 = time.perf_counter()
        x = np.stack([extract(w, r) for w, r in waves])
        tx = np.stack([extract(w, r) for w, r, _ in test])
        feature_s = time.perf_counter() - t0
        config = TrainConfig(kind=kind, hidden=256, epochs=epochs, batch_size=64, seed=seed)
        result = train(x, captions[y], y, config)
        import torch

        with torch.no_grad():
            a = result.tower(torch.as_tensor(tx)).numpy()
        ks: Sequence[int] = (1, 10)
        return {
            "tower": f"{kind} over {name} ({x.shape[1]} values)",
            "text->audio": retrieval(captions, a, labels, ty, ks),
            "audio->text": retrieval(a, captions, ty, labels, ks),
            "audio->image": retrieval(a, image_vectors, ty, image_labels, ks),
            "feature_seconds": round(feature_s, 2),
            "train_seconds": round(result.seconds, 2),
        }

    if backbone_available():
        out["speech-embedding"] = evaluate("speech-embedding", "linear", speech_embedding())
    else:
        out["speech-embedding"] = {"skipped": "openwakeword 0.4.0 is not installed"}
    out["logmel"] = evaluate("logmel", "mlp", logmel_from_wave)
    return out
