"""Small helpers that build image and audio bytes for the encoder tests."""

from __future__ import annotations

import io

import numpy as np


def png_bytes(image: object, **save: object) -> bytes:
    """Encode a Pillow image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **save)  # type: ignore[attr-defined]
    return buffer.getvalue()


def wav_bytes(
    samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None
) -> bytes:
    """Encode samples (frames x channels or mono) with soundfile."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()
