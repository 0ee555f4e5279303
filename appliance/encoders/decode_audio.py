"""Decode audio bytes with soundfile (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF) to mono float32.

The duration comes from the header and is checked before any sample is decoded, so a
10-hour clip costs nothing. Channels are averaged; float files that go past full scale
are clipped (and flagged); silence is flagged but embedded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.errors import InvalidInputError

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
SILENCE_PEAK = 1e-4
"""Peak amplitude below which a clip counts as silent (-80 dBFS)."""
CLIPPING_FRACTION = 0.001
"""Share of samples at full scale above which a clip counts as clipped."""


@dataclass(frozen=True)
class DecodedAudio:
    """Mono samples in [-1, 1] at their native rate, with notes (``silent``, ``clipped``)."""

    samples: np.ndarray
    sample_rate: int
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.samples) / self.sample_rate


def decode_audio(data: bytes, *, max_seconds: float) -> DecodedAudio:
    """Decode ``data`` or raise ``InvalidInputError`` naming the problem."""
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as handle:
            rate, frames, channels = (
                int(handle.samplerate),
                int(handle.frames),
                int(handle.channels),
            )
            fmt = handle.format
            if frames <= 0:
                raise InvalidInputError(f"audio ({fmt}) has no samples")
            seconds = frames / rate if rate > 0 else float("inf")
            if seconds > max_seconds:
                raise InvalidInputError(
                    f"audio is {seconds:.1f} s long, over the limit of {max_seconds:g} s",
                    remedy="cut the recording into shorter clips, "
                    "or raise encoders.max_audio_seconds",
                )
            if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
                raise InvalidInputError(
                    f"audio sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
                )
            samples = handle.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError) as exc:
        raise InvalidInputError(
            f"bytes are not audio this appliance can decode, or the file is truncated: {exc}",
            remedy="send WAV, FLAC, OGG or MP3",
        ) from exc
    if samples.shape[0] == 0:
        raise InvalidInputError("audio has no decodable samples (truncated file)")
    if not np.isfinite(samples).all():
        raise InvalidInputError("audio contains NaN or infinite samples")
    mono = samples.mean(axis=1) if channels > 1 else samples[:, 0]
    notes: dict[str, Any] = {
        "seconds": round(len(mono) / rate, 3),
        "sample_rate": rate,
        "channels": channels,
    }
    if len(mono) < frames:
        notes["short_read"] = True
    peak = float(np.abs(mono).max())
    if peak > 1.0:
        mono = np.clip(mono, -1.0, 1.0)
    full_scale = float(np.mean(np.abs(mono) >= 0.999))
    if peak > 1.0 or full_scale > CLIPPING_FRACTION:
        notes["clipped"] = True
    if peak < SILENCE_PEAK:
        notes["silent"] = True
    return DecodedAudio(np.ascontiguousarray(mono, dtype=np.float32), rate, notes)
