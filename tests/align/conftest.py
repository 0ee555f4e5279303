"""Fixtures of the alignment tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.models import ModelStore
from appliance.wiring import Appliance
from tests.align.tower_media import class_clips, digit_pngs, train_tower
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


@pytest.fixture(scope="session")
def starter_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter pack: the real MiniLM text anchor, random image and audio towers."""
    from appliance.encoders.starter import write_starter_pack

    return write_starter_pack(tmp_path_factory.mktemp("starter") / "pack")


@pytest.fixture
def towers(appliance: Appliance, starter_pack: Path) -> ModelStore:
    """The starter space with a trained audio tower and a trained image tower (into MiniLM),
    both active."""
    from appliance.align.record import activate

    store = ModelStore(appliance.settings.models_dir)
    store.import_path(starter_pack)
    train_tower(store, "hum-tower", "audio", class_clips(6, seed=1))
    train_tower(store, "digit-tower", "image", digit_pngs(10))
    activate(store, "audio", None, "hum-tower")
    activate(store, "image", "digit-tower", None)
    return store
