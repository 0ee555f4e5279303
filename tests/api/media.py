"""Small media made in memory for API tests (no shared data needed)."""

from __future__ import annotations

import base64
import io

import numpy as np
import soundfile
from PIL import Image


def data_uri(mime: str, payload: bytes) -> str:
    """A base64 data: URI."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


def png(seed: int = 0, size: int = 48) -> bytes:
    """A random-texture PNG with no face in it."""
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def tone_wav(frequency: float = 440.0, seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A pure tone (no speech) as WAV bytes."""
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.3 * np.sin(2 * np.pi * frequency * t), rate, format="WAV")
    return buffer.getvalue()
