"""Fixtures for the model store tests: one tiny random pack per session, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pack_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny non-semantic pack (CLIP, CLAP, BERT-style, adapter), written once."""
    from appliance.encoders.testpack import write_test_pack

    return write_test_pack(tmp_path_factory.mktemp("pack") / "pack")


@pytest.fixture
def pack_dir(pack_source: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny pack that a test may modify."""
    return Path(shutil.copytree(pack_source, tmp_path / "pack"))


@pytest.fixture
def clip_dir(pack_dir: Path) -> Path:
    """A private copy of the tiny CLIP model directory."""
    return pack_dir / "clip"


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """An empty model store directory."""
    return tmp_path / "data" / "models"
