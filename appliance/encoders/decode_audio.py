"""Decode audio bytes with soundfile (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF) to mono float32.

Duration, sample rate, channel count and frame count come from the header and are
checked before any sample is decoded, so a 10-hour clip or a tiny FLAC that declares 8
channels at 384 kHz costs nothing. Decoding then runs in blocks of ``BLOCK_FRAMES``,
each averaged to mono at once, so memory stays at the mono output plus one block
whatever the channel count. Float files that go past full scale are clipped (and
flagged); silence is flagged but embedded.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.errors import InvalidInputError
from appliance.settings import EncoderSettings

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 8
"""Default channel limit (7.1 surround); ``encoders.max_audio_channels``."""
MAX_FRAMES = 28_800_000
"""Default decoded-frame limit (600 s at 48 kHz); ``encoders.max_audio_samples``."""
BLOCK_FRAMES = 16_384
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


def _reason(exc: BaseException) -> str:
    """libsndfile's words without the Python object repr it embeds."""
    text = getattr(exc, "error_string", "") or str(exc) or type(exc).__name__
    return re.sub(r"<[\w.]+ object at 0x[0-9a-fA-F]+>", "the input", text).strip()[:160]


def _check_header(
    rate: int, frames: int, channels: int, fmt: str, limits: tuple[float, int, int]
) -> None:
    max_seconds, max_channels, max_frames = limits
    if frames <= 0:
        raise InvalidInputError(f"audio ({fmt}) has no samples")
    if channels > max_channels:
        raise InvalidInputError(
            f"audio has {channels} channels, over the limit of {max_channels}",
            remedy="mix down to mono or stereo, or raise encoders.max_audio_channels",
        )
    seconds = frames / rate if rate > 0 else float("inf")
    if seconds > max_seconds:
        raise InvalidInputError(
            f"audio is {seconds:.1f} s long, over the limit of {max_seconds:g} s",
            remedy="cut the recording into shorter clips, or raise encoders.max_audio_seconds",
        )
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InvalidInputError(
            f"audio sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    if frames > max_frames:
        raise InvalidInputError(
            f"audio declares {frames:,} samples per channel ({rate} Hz), over the limit of "
            f"{max_frames:,}",
            remedy="resample to 48 kHz or less, cut the clip, or raise encoders.max_audio_samples",
        )


def decode_audio(
    data: bytes,
    *,
    max_seconds: float,
    max_channels: int = MAX_CHANNELS,
    max_frames: int = MAX_FRAMES,
) -> DecodedAudio:
    """Decode ``data`` or raise ``InvalidInputError`` naming the problem."""
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as handle:
            rate, frames, channels = (
                int(handle.samplerate),
                int(handle.frames),
                int(handle.channels),
            )
            _check_header(
                rate, frames, channels, handle.format, (max_seconds, max_channels, max_frames)
            )
            mono = np.empty(frames, dtype=np.float32)
            filled = 0
            finite = True
            for block in handle.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):
                count = min(block.shape[0], frames - filled)
                if count <= 0:
                    break
                part = block[:count]
                finite = finite and bool(np.isfinite(part).all())
                mono[filled : filled + count] = part.mean(axis=1) if channels > 1 else part[:, 0]
                filled += count
            samples = mono[:filled]
    except InvalidInputError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError) as exc:
        raise InvalidInputError(
            f"bytes are not audio this appliance can decode, or the file is truncated "
            f"({_reason(exc)})",
            remedy="send WAV, FLAC, OGG or MP3",
        ) from exc
    if samples.shape[0] == 0:
        raise InvalidInputError("audio has no decodable samples (truncated file)")
    if not finite:
        raise InvalidInputError("audio contains NaN or infinite samples")
    mono = samples
    notes: dict[str, Any] = {
        "seconds": round(len(mono) / rate, 3),
        "sample_rate": rate,
        "channels": channels,
    }
    if len(mono) < frames:
        notes["short_read"] = True
    peak = max(float(mono.max()), -float(mono.min()))
    if peak > 1.0:
        np.clip(mono, -1.0, 1.0, out=mono)
    full_scale = float(np.count_nonzero((mono >= 0.999) | (mono <= -0.999))) / len(mono)
    if peak > 1.0 or full_scale > CLIPPING_FRACTION:
        notes["clipped"] = True
    if peak < SILENCE_PEAK:
        notes["silent"] = True
    return DecodedAudio(np.ascontiguousarray(mono, dtype=np.float32), rate, notes)


def decode_audio_bounded(data: bytes, settings: EncoderSettings) -> DecodedAudio:
    """``decode_audio`` under the configured limits (``encoders.max_audio_*``)."""
    return decode_audio(
        data,
        max_seconds=settings.max_audio_seconds,
        max_channels=settings.max_audio_channels,
        max_frames=settings.max_audio_samples,
    )
