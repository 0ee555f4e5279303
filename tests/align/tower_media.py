"""Tiny media for the tower tests: handwritten digits (scikit-learn's bundled set) as PNGs
and class-coded synthetic clips as WAVs, each with one caption per class."""

from __future__ import annotations

import base64
import io

import numpy as np
import soundfile as sf
from PIL import Image

WORDS = ("zero", "one", "two", "three")


def caption(label: int) -> str:
    """The shared caption of a class (audio and image are trained on it separately)."""
    return f"the digit {WORDS[label]}"


def digit_pngs(per_class: int, offset: int = 0) -> list[tuple[int, bytes]]:
    """``per_class`` handwritten digits 0-3 (from ``offset`` on), upscaled 4x, as PNGs."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    out: list[tuple[int, bytes]] = []
    for label in range(len(WORDS)):
        rows = np.flatnonzero(digits.target == label)[offset : offset + per_class]
        for row in rows:
            grey = (digits.images[row] * 255 / 16).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(grey).resize((32, 32), Image.Resampling.NEAREST).save(buffer, "PNG")
            out.append((label, buffer.getvalue()))
    return out


def class_clips(per_class: int, seed: int = 0) -> list[tuple[int, bytes]]:
    """``per_class`` noisy clips of four kinds: low hum, high whistle, rising sweep, noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 16_000, dtype=np.float32)
    out: list[tuple[int, bytes]] = []
    for label in range(len(WORDS)):
        for _ in range(per_class):
            wave = [
                np.sin(2 * np.pi * 110 * t),
                np.sin(2 * np.pi * 3_000 * t),
                np.sin(2 * np.pi * (200 + 2_000 * t) * t),
                rng.normal(size=t.shape),
            ][label] * 0.5 + 0.02 * rng.normal(size=t.shape)
            buffer = io.BytesIO()
            sf.write(buffer, wave.astype(np.float32), 16_000, format="WAV")
            out.append((label, buffer.getvalue()))
    return out


def data_uri(mime: str, payload: bytes) -> str:
    """A base64 data: URI."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"
