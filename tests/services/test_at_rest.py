"""Nothing sensitive on disk in the clear: vectors, metadata, raw subject ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.domain.types import Actor, Modality
from appliance.services.items import NewItem
from appliance.settings import Settings, load_settings
from appliance.wiring import init_appliance, open_appliance
from tests.services.helpers import DIMENSION, unit_vectors

SUBJECT = "MRN-7731-SENSITIVE"
NOTE = "Patient reports chest pain radiating to left arm"


def _all_bytes(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_no_plaintext_under_data_dir(tmp_path: Path, dtype: str) -> None:
    """After storing and snapshotting, no file holds a vector's float bytes, metadata or id."""
    settings: Settings = load_settings(
        data_dir=tmp_path / "data", environ={"APPLIANCE_INDEX__DTYPE": dtype}
    )
    init_appliance(settings, environ={})
    app = open_appliance(settings, environ={})
    vectors = unit_vectors(40, seed=99)
    app.collections.create("notes", DIMENSION, Actor.operator())
    app.items.store(
        "notes",
        [
            NewItem(SUBJECT, Modality.TEXT, v, {"note": NOTE, "ward": "cardiology-7"}, f"item-{n}")
            for n, v in enumerate(vectors)
        ],
        actor=Actor.operator(),
        space="s",
    )
    app.items.search("notes", vectors[0], k=5, actor=Actor.operator(), space="s")
    app.indexes.snapshot_all()
    snapshot = app.indexes.snapshot_path("notes", "s")
    app.close()

    assert snapshot.exists()
    needles = [SUBJECT.encode(), NOTE.encode(), b"cardiology-7", SUBJECT.encode("utf-16-le")]
    for vector in vectors:
        needles.append(vector.astype(np.float32).tobytes()[:32])
        needles.append(vector.astype(np.float16).tobytes()[:16])
    files = _all_bytes(settings.data_dir)
    assert any(p.name == "appliance.db" for p, _ in files)
    for path, content in files:
        for needle in needles:
            assert needle not in content, f"plaintext found in {path}"
