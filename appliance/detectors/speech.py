"""Speech in audio with Silero VAD's ONNX model, run by onnxruntime (no torch, no pickle).

The model file ships inside the ``silero-vad`` wheel; it is located without importing
that package (whose ``__init__`` imports torch) and run as one ONNX call per block of
512 frames (32 ms each at 16 kHz), carrying the LSTM state between blocks. Audio is
resampled to 16 kHz mono first. Speech segments come from the per-frame probabilities
with hysteresis (on at 0.5, off below 0.35), a 150 ms minimum and 100 ms gaps merged,
after half a second of silence is added at both ends.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality

MODEL_FILE = "silero_vad_16k_sequence.onnx"
SAMPLE_RATE = 16_000
FRAME = 512
CONTEXT = 64
BLOCK_FRAMES = 512
ON_THRESHOLD = 0.5
OFF_THRESHOLD = 0.35
MIN_SPEECH_S = 0.15
PAD_S = 0.5
"""Silence added before and after a clip: the LSTM needs a little context before an onset
(FSDD clips start on the word), and it keeps tones and noise well below the threshold."""
MIN_GAP_S = 0.1
MAX_SEGMENTS = 256


@dataclass(frozen=True)
class SpeechSegment:
    """A stretch of speech, in seconds from the start, with its peak probability."""

    start: float
    end: float
    peak: float


def model_path() -> Path:
    """Where the wheel keeps the sequence ONNX model (the package itself is not imported)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the silero-vad wheel is not installed; speech detection cannot run")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise RuntimeError(f"silero-vad does not ship {MODEL_FILE} at {path}")
    return path


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of mono float samples to ``target`` Hz."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    divisor = gcd(rate, target)
    return resample_poly(samples, target // divisor, rate // divisor).astype(np.float32)


def _blocks(audio: np.ndarray) -> list[np.ndarray]:
    """Frames of 512 samples, each prefixed by the previous frame's last 64 samples."""
    count = max(1, -(-audio.size // FRAME))
    frames = np.zeros((count, FRAME), dtype=np.float32)
    frames.reshape(-1)[: audio.size] = audio
    context = np.zeros((count, CONTEXT), dtype=np.float32)
    context[1:] = frames[:-1, -CONTEXT:]
    joined = np.concatenate((context, frames), axis=1)
    return [joined[i : i + BLOCK_FRAMES] for i in range(0, count, BLOCK_FRAMES)]


def segments_from_probs(
    probs: np.ndarray, frame_s: float = FRAME / SAMPLE_RATE
) -> list[SpeechSegment]:
    """Hysteresis over per-frame probabilities -> merged speech segments."""
    raw: list[list[float]] = []
    start, peak = None, 0.0
    for index, value in enumerate(probs.tolist()):
        if start is None and value >= ON_THRESHOLD:
            start, peak = index, value
        elif start is not None:
            peak = max(peak, value)
            if value < OFF_THRESHOLD:
                raw.append([start * frame_s, index * frame_s, peak])
                start = None
    if start is not None:
        raw.append([start * frame_s, len(probs) * frame_s, peak])
    merged: list[list[float]] = []
    for segment in raw:
        if merged and segment[0] - merged[-1][1] < MIN_GAP_S:
            merged[-1][1], merged[-1][2] = segment[1], max(merged[-1][2], segment[2])
        else:
            merged.append(segment)
    return [
        SpeechSegment(round(s, 3), round(e, 3), round(p, 3))
        for s, e, p in merged
        if e - s >= MIN_SPEECH_S
    ]


class SpeechDetector:
    """Voice activity detection. Build once and share: ``probabilities`` is thread-safe."""

    name = "speech"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None

    def load(self) -> None:
        """Open the ONNX session on the CPU (the model is small; 1 thread per call)."""
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
            )

    def probabilities(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Per-32 ms-frame speech probability of mono ``samples`` at ``rate`` Hz."""
        self.load()
        audio = resample(np.asarray(samples, dtype=np.float32), rate)
        hidden = np.zeros((1, 1, 128), dtype=np.float32)
        cell = np.zeros((1, 1, 128), dtype=np.float32)
        out = []
        for block in _blocks(audio):
            values, hidden, cell = self._session.run(
                ["speech_probs", "hn", "cn"], {"input": block, "h": hidden, "c": cell}
            )
            out.append(np.asarray(values, dtype=np.float32).reshape(-1))
        return np.concatenate(out)

    def segments(self, samples: np.ndarray, rate: int) -> list[SpeechSegment]:
        """Speech segments (seconds from the start of ``samples``)."""
        pad = np.zeros(int(PAD_S * rate), dtype=np.float32)
        padded = np.concatenate((pad, np.asarray(samples, dtype=np.float32), pad))
        duration = len(samples) / rate
        out = []
        for seg in segments_from_probs(self.probabilities(padded, rate)):
            start = max(0.0, seg.start - PAD_S)
            end = math.floor(min(duration, seg.end - PAD_S) * 1000) / 1000
            if end > start:
                out.append(SpeechSegment(round(start, 3), end, seg.peak))
        return out

    def findings(self, samples: np.ndarray, rate: int) -> tuple[list[Finding], dict[str, Any]]:
        """SPEECH findings (time ranges) and facts (speech seconds and share)."""
        segments = self.segments(samples, rate)
        if len(segments) > MAX_SEGMENTS:  # keep reports bounded: fold the tail into one
            tail = segments[MAX_SEGMENTS - 1 :]
            segments = [
                *segments[: MAX_SEGMENTS - 1],
                SpeechSegment(tail[0].start, tail[-1].end, max(s.peak for s in tail)),
            ]
        duration = len(samples) / rate if rate else 0.0
        speech = sum(s.end - s.start for s in segments)
        facts = {
            "speech_seconds": round(speech, 3),
            "speech_fraction": round(speech / duration, 3) if duration else 0.0,
        }
        findings = [
            Finding(
                kind=FindingKind.SPEECH,
                detector="speech:silero-vad-onnx",
                modality=Modality.AUDIO,
                score=s.peak,
                location={"start_s": s.start, "end_s": s.end},
            )
            for s in segments
        ]
        return findings, facts
