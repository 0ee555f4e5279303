"""``bench align``'s speech section: towers trained only on spoken digits eSpeak NG
synthesised on-premise, evaluated on the real human recordings of FSDD's official test
split (recordings 0-4 of every speaker and digit).

- ``logmel``: the from-scratch MLP tower the quickstart serves (same plan: 100 clips per
  digit plus one augmented variation each);
- ``speech-embedding``: openWakeWord 0.4.0's frozen speech-embedding ONNX backbone (Google's
  speech_embedding, re-implemented; 96 values per 0.76 s window at 16 kHz, mean- and
  max-pooled over the clip) under a linear adapter, when the ``openwakeword`` wheel is
  installed (it carries the ONNX files; nothing is downloaded). Benchmark only: its
  README places "all of the included pre-trained models" under CC BY-NC-SA 4.0, so the
  appliance does not serve it (docs/alignment.md).

No private runs: the training data is synthetic and public, there is nobody to protect.
"""

from __future__ import annotations

import importlib.util
import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

WINDOW_FRAMES, STEP_FRAMES, BACKBONE_RATE = 76, 8, 16_000
CLIP_SECONDS = 1.3
"""Clips are centred in this much silence so that short words still fill several windows."""


def backbone_available() -> bool:
    """True when the ``openwakeword`` wheel (with its ONNX files) is installed."""
    return importlib.util.find_spec("openwakeword") is not None


class SpeechEmbedding:
    """openWakeWord's mel-spectrogram and speech-embedding ONNX models, run with
    onnxruntime on the CPU, pooled to 192 values per clip."""

    def __init__(self) -> None:
        import onnxruntime as ort

        spec = importlib.util.find_spec("openwakeword")
        assert spec is not None and spec.origin is not None
        models = Path(spec.origin).parent / "resources" / "models"
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        cpu = ["CPUExecutionProvider"]
        self.mel = ort.InferenceSession(str(models / "melspectrogram.onnx"), options, cpu)
        self.embedding = ort.InferenceSession(str(models / "embedding_model.onnx"), options, cpu)

    def __call__(self, wave: np.ndarray, rate: int) -> np.ndarray:
        """Mean and max of the clip's window embeddings."""
        from scipy.signal import resample_poly

        if rate != BACKBONE_RATE:
            common = math.gcd(BACKBONE_RATE, rate)
            wave = resample_poly(wave, BACKBONE_RATE // common, rate // common)
        wave = wave / max(float(np.abs(wave).max()), 1e-6) * 0.5
        pad = max(0, int(BACKBONE_RATE * CLIP_SECONDS) - len(wave))
        wave = np.concatenate([np.zeros(pad // 2), wave, np.zeros(pad - pad // 2)])
        samples = (wave * 32767).astype(np.float32)[None]
        spec = np.squeeze(self.mel.run(None, {"input": samples})[0]) / 10 + 2
        starts = range(0, spec.shape[0] - WINDOW_FRAMES + 1, STEP_FRAMES)
        windows = np.stack([spec[i : i + WINDOW_FRAMES] for i in starts])[..., None]
        vectors = self.embedding.run(None, {"input_1": windows.astype(np.float32)})[0]
        vectors = vectors.reshape(len(windows), -1)
        return np.concatenate([vectors.mean(0), vectors.max(0)]).astype(np.float32)


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

    out["logmel"] = evaluate("logmel", "mlp", logmel_from_wave)
    if backbone_available():
        out["speech-embedding"] = evaluate("speech-embedding", "linear", SpeechEmbedding())
    else:
        out["speech-embedding"] = {"skipped": "openwakeword 0.4.0 is not installed"}
    return out
