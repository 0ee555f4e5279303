"""Fixtures of the alignment tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.align.toys import Toy, make_toy


@pytest.fixture
def toy() -> Toy:
    """48 pairs in 6 classes."""
    return make_toy()


@pytest.fixture(scope="session")
def test_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny non-semantic pack (CLIP text/image, CLAP audio), built once per session."""
    from appliance.encoders.testpack import write_test_pack

    return write_test_pack(tmp_path_factory.mktemp("pack") / "pack")
