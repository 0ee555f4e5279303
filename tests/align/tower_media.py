"""Tower test kit: handwritten digits (scikit-learn's bundled set) as PNGs and class-coded
synthetic clips as WAVs with one caption per class, tiny tower training, and the full app
served over HTTP."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image

from appliance.align.pairs import Pair
from appliance.align.trainer import TrainConfig
from appliance.domain.types import Actor
from appliance.models import ModelStore
from appliance.wiring import Appliance
from tests.api.conftest import LiveServer, serve

WORDS = ("zero", "one", "two", "three")
TINY = TrainConfig(kind="mlp", hidden=32, epochs=40, batch_size=16, lr=5e-3, seed=0)
Media = list[tuple[int, bytes]]


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


def train_tower(store: ModelStore, name: str, modality: str, media: Media) -> None:
    """Train a tiny from-scratch tower on class captions into the MiniLM text space."""
    from appliance.align.pipeline import train_from_pairs

    pairs = [Pair(caption(label), payload) for label, payload in media]
    features = "logmel" if modality == "audio" else "pixels"
    train_from_pairs(
        store, pairs, name=name, modality=modality, features=features, config=TINY,
        held_out=0.0,
    )  # fmt: skip


def serve_state(appliance: Appliance) -> Iterator[tuple[LiveServer, Any]]:
    """The full app (`server.build_state`) over real HTTP, with one token per role."""
    from appliance.server import build_state

    tokens = {
        role: appliance.tokens.create(role, actor=Actor.operator())
        for role in ("admin", "ingest", "query", "auditor")
    }
    state = build_state(appliance)
    try:
        for url in serve(state):
            yield LiveServer(url, tokens, appliance), state
    finally:
        if state.encoders is not None:
            state.encoders.close()  # type: ignore[attr-defined]
