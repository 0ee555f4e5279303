"""Fixtures for the encoder tests: tiny random checkpoints (written once) and loaded encoders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.settings import EncoderSettings

SHARED_DATA = Path(
    os.environ.get("APPLIANCE_TEST_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random CLIP, SigLIP, CLAP and BERT-style checkpoints with real tokenizer files."""
    from appliance.encoders.testpack import write_random_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {f: write_random_model(f, "tiny", root / f) for f in ("clip", "siglip", "clap", "bert")}


@pytest.fixture(scope="session")
def settings() -> EncoderSettings:
    """Default encoder settings on the CPU."""
    return EncoderSettings(device="cpu")


@pytest.fixture(scope="session")
def load(tiny_models: dict[str, Path], settings: EncoderSettings):
    """Load (and cache) ``(family, modality)`` encoders with default settings."""
    from appliance.encoders.factory import load_encoder

    cache: dict[tuple[str, str], object] = {}

    def get(family: str, modality: str):
        key = (family, modality)
        if key not in cache:
            cache[key] = load_encoder(tiny_models[family], settings=settings, modality=modality)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def fsdd() -> Path:
    """The Free Spoken Digit recordings (8 kHz WAV); skipped if absent, but FAIL under CI=true."""
    recordings = SHARED_DATA / "fsdd" / "recordings"
    if not (recordings.is_dir() and any(recordings.glob("*.wav"))):
        message = f"FSDD recordings not found under {recordings} (set APPLIANCE_TEST_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return recordings
