"""IndexManager: replacement of a reused row id, periodic snapshots, settings after a load."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from appliance.clock import FixedClock
from appliance.domain.types import Actor
from appliance.settings import load_settings
from appliance.store import repository
from appliance.wiring import Appliance, init_appliance, open_appliance
from tests.services.helpers import DIMENSION, new_items, unit_vectors

SPACE = "x"


def _open(tmp_path: Path, clock: FixedClock, **index: str) -> Appliance:
    environ = {f"APPLIANCE_INDEX__{name.upper()}": value for name, value in index.items()}
    settings = load_settings(data_dir=tmp_path / "data", environ=environ)
    init_appliance(settings, clock=clock, environ={})
    return open_appliance(settings, clock=clock, environ={})


def _store(app: Appliance, vectors: np.ndarray, prefix: str) -> None:
    for n, vector in enumerate(vectors):
        items = new_items("S1", vector[None, :], f"{prefix}{n}")
        app.items.store("notes", items, actor=Actor.operator(), space=SPACE)


def test_add_for_a_row_id_already_indexed_replaces_its_vector(appliance: Appliance) -> None:
    """A second add under the same row id replaces the vector; the old one no longer matches."""
    appliance.collections.create("notes", DIMENSION, Actor.operator())
    old, new = unit_vectors(2, seed=5)
    _store(appliance, old[None, :], "a")
    with appliance.database.read() as connection:
        collection = repository.get_collection(connection, "notes")
    index = appliance.indexes.get(collection, SPACE)
    (row_id,) = index.keys().tolist()
    appliance.indexes.add(collection, SPACE, [row_id], new[None, :], [None])
    assert len(index) == 1
    keys, scores = index.search(new, 1, now=time.time())
    assert keys.tolist() == [row_id] and scores[0] == pytest.approx(1.0, abs=1e-5)
    _, scores = index.search(old, 1, now=time.time())
    assert scores[0] < 0.99
    assert np.allclose(index.vectors_for([row_id])[0], new, atol=1e-6)


def test_server_snapshots_after_every_n_writes(tmp_path: Path, clock: FixedClock) -> None:
    """With snapshot_every_writes=5, five writes produce a snapshot without any shutdown."""
    app = _open(tmp_path, clock, snapshot_every_writes="5", snapshot_every_seconds="0")
    try:
        app.collections.create("notes", DIMENSION, Actor.operator())
        app.indexes.start_periodic_snapshots()
        _store(app, unit_vectors(4, seed=1), "a")
        app.indexes.stop_periodic_snapshots()
        path = app.indexes.snapshot_path("notes", SPACE)
        assert not path.exists()  # four writes: not due yet
        app.indexes.start_periodic_snapshots()
        _store(app, unit_vectors(1, seed=2), "b")
        for _ in range(600):  # wait for the background save (bounded only to stop a hang)
            if path.exists():
                break
            time.sleep(0.05)
        app.indexes.stop_periodic_snapshots()
        assert path.exists()
        with app.database.read() as connection:
            row = connection.exec_driver_sql("SELECT count FROM index_snapshots").fetchone()
        assert row is not None and row[0] == 5
    finally:
        app.close()


def test_server_snapshots_every_so_many_seconds(tmp_path: Path, clock: FixedClock) -> None:
    """With snapshot_every_seconds set, one write is snapshotted by the timer alone."""
    app = _open(tmp_path, clock, snapshot_every_writes="0", snapshot_every_seconds="0.05")
    try:
        app.collections.create("notes", DIMENSION, Actor.operator())
        app.indexes.start_periodic_snapshots()
        _store(app, unit_vectors(1, seed=3), "a")
        path = app.indexes.snapshot_path("notes", SPACE)
        for _ in range(600):
            if path.exists():
                break
            time.sleep(0.05)
        app.indexes.stop_periodic_snapshots()
        assert path.exists()
    finally:
        app.close()


def test_a_loaded_snapshot_takes_todays_search_settings(tmp_path: Path, clock: FixedClock) -> None:
    """expansion_search and exact search come from the settings, not from an old snapshot."""
    app = _open(tmp_path, clock)
    app.collections.create("notes", DIMENSION, Actor.operator())
    _store(app, unit_vectors(3, seed=4), "a")
    app.close()
    settings = load_settings(
        data_dir=tmp_path / "data",
        environ={
            "APPLIANCE_INDEX__EXPANSION_SEARCH": "200",
            "APPLIANCE_INDEX__EXACT_SEARCH_MAX": "0",
        },
    )
    app = open_appliance(settings, clock=clock, environ={})
    try:
        with app.database.read() as connection:
            collection = repository.get_collection(connection, "notes")
        index = app.indexes.get(collection, SPACE)
        report = app.indexes.open_report("notes", SPACE)
        assert report is not None and report.from_snapshot and report.added == 0
        assert index.spec.expansion_search == 200 and index.spec.exact_search_max == 0
    finally:
        app.close()
