"""Generated test media: pictures without faces, and audio without speech."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw, ImageFont

NON_FACE_KINDS = ("noise", "gradient", "shapes", "text", "checkerboard", "blobs")
_WORDS = (
    "patient",
    "chest",
    "xray",
    "follow",
    "up",
    "dose",
    "mg",
    "bid",
    "lab",
    "results",
    "normal",
    "clinic",
)


def non_face_image(kind: str, rng: np.random.Generator) -> Image.Image:
    """One picture of ``kind`` (see ``NON_FACE_KINDS``) at a random size."""
    width, height = int(rng.integers(160, 640)), int(rng.integers(160, 640))
    if kind == "noise":
        return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    if kind == "gradient":
        x, y = np.linspace(0, 1, width)[None, :], np.linspace(0, 1, height)[:, None]
        angle = rng.uniform(0, np.pi)
        ramp = np.cos(angle) * x + np.sin(angle) * y
        ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-9)
        rgb = np.stack(
            [ramp * rng.uniform(100, 255), ramp * rng.uniform(0, 255), (1 - ramp) * 255], -1
        )
        return Image.fromarray(rgb.astype(np.uint8))
    if kind == "shapes":
        image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 12))):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            box = [
                x0,
                y0,
                x0 + int(rng.integers(10, width // 2)),
                y0 + int(rng.integers(10, height // 2)),
            ]
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.rectangle, draw.ellipse, draw.line)[int(rng.integers(0, 3))](box, fill=colour)
        return image
    if kind == "text":
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=int(rng.integers(12, 36)))
        top = 5
        while top < height - 20:
            draw.text((5, top), " ".join(rng.choice(_WORDS, 6)), fill="black", font=font)
            top += int(font.size * 1.4)
        return image
    if kind == "checkerboard":
        side = int(rng.integers(8, 40))
        yy, xx = np.mgrid[0:height, 0:width]
        return Image.fromarray((((yy // side) + (xx // side)) % 2 * 255).astype(np.uint8))
    coarse = rng.normal(size=(height // 16 + 1, width // 16 + 1))
    grey = ((coarse - coarse.min()) / np.ptp(coarse) * 255).astype(np.uint8)
    return Image.fromarray(grey).resize((width, height), Image.Resampling.BICUBIC)


def non_speech_clip(kind: str, rng: np.random.Generator, rate: int) -> np.ndarray:
    """A 0.5-3 s clip of ``tone``, ``white``, ``pink``, ``silence`` or ``warble``."""
    n = int(rate * rng.uniform(0.5, 3.0))
    t = np.arange(n) / rate
    if kind == "tone":
        x = 0.5 * np.sin(2 * np.pi * rng.uniform(100, min(3000, rate / 2.5)) * t)
    elif kind == "white":
        x = rng.normal(0, 0.2, n)
    elif kind == "pink":
        spectrum = np.fft.rfft(rng.normal(0, 1, n))
        spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
        x = np.fft.irfft(spectrum, n)
        x = 0.3 * x / np.abs(x).max()
    elif kind == "silence":
        x = np.zeros(n)
    else:  # an amplitude-modulated tone, syllable-like in rhythm
        carrier = np.sin(2 * np.pi * rng.uniform(200, 800) * t)
        x = 0.3 * carrier * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return x.astype(np.float32)


NON_SPEECH_KINDS = ("tone", "white", "pink", "silence", "warble")


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """16-bit PCM WAV bytes."""
    out = io.BytesIO()
    sf.write(out, samples, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    """PNG bytes of ``image``."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
