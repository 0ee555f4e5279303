"""A writer killed with SIGKILL loses no acknowledged write, and every one stays findable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.audit import verify_trail
from appliance.domain.types import Actor
from appliance.settings import Settings, load_settings
from appliance.store import repository
from appliance.wiring import init_appliance, open_appliance
from tests.services.helpers import DIMENSION, read_all_vectors

WRITER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from appliance.domain.types import Actor, Modality
    from appliance.services.items import NewItem
    from appliance.observability import configure_logging
    from appliance.settings import load_settings
    from appliance.wiring import open_appliance

    configure_logging(stream=sys.stderr)
    settings = load_settings(data_dir=sys.argv[1], environ=dict(os.environ))
    app = open_appliance(settings, environ={})
    app.indexes.start_periodic_snapshots()  # what the server does
    app.collections.create("stream", %(dim)d, Actor.operator())
    batch = int(sys.argv[2])
    n = 0
    while True:
        items = []
        for m in range(n, n + batch):
            vector = np.random.default_rng(m).normal(size=%(dim)d).astype(np.float32)
            items.append(NewItem(f"S{m %% 5}", Modality.TEXT, vector, {"n": m}, f"w-{m}"))
        app.items.store("stream", items, actor=Actor.operator(), space="x")
        print("\\n".join(f"w-{m}" for m in range(n, n + batch)), flush=True)
        n += batch
    """
) % {"dim": DIMENSION}


def _vector(n: int) -> np.ndarray:
    return np.random.default_rng(n).normal(size=DIMENSION).astype(np.float32)


def _kill_writer(
    settings: Settings,
    index_env: dict[str, str],
    stop: Callable[[int, Path], bool],
    *,
    batch: int,
) -> list[str]:
    """Run the writer until ``stop(acknowledged, db)`` says so, SIGKILL it; its acknowledged ids."""
    env = {
        **os.environ,
        **index_env,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(settings.data_dir), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acknowledged: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        acknowledged.append(line.strip())
        if stop(len(acknowledged), settings.data_dir / "appliance.db"):
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read() if process.stderr else ""
    return acknowledged


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _assert_each_finds_itself(settings: Settings, acknowledged: list[str]) -> None:
    """Reopen and search every acknowledged item's vector: it is its own top match."""
    app = open_appliance(settings, environ={})
    try:
        with app.database.read() as connection:
            collection = repository.get_collection(connection, "stream")
        index = app.indexes.get(collection, "x")
        queries = np.vstack([_vector(int(item_id.split("-")[1])) for item_id in acknowledged])
        keys, _ = index.search(queries, 1, now=time.time())
        assert (keys[:, 0] >= 0).all()
        top = index.vectors_for(keys[:, 0])
        itself = np.einsum("ij,ij->i", _unit(top), _unit(queries)) > 1 - 1e-5
        missed = [item_id for item_id, ok in zip(acknowledged, itself, strict=True) if not ok]
        assert missed == [], f"{len(missed)} of {len(acknowledged)} not their own top match"
        for item_id in acknowledged[:: max(len(acknowledged) // 10, 1)]:  # the service path too
            vector = _vector(int(item_id.split("-")[1]))
            hits = app.items.search("stream", vector, k=1, actor=Actor.operator(), space="x")
            assert hits[0].item_id == item_id
        report = verify_trail(settings.data_dir / "audit", app.signing_public_key)
        assert report.ok, report.problem
    finally:
        app.close()  # a clean stop: snapshots what was rebuilt


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_write_and_every_item_finds_itself(tmp_path: Path) -> None:
    """After SIGKILL (no snapshot: a full rebuild) and after a clean restart, every
    acknowledged item is stored and is its own top match, searched by the graph."""
    # The graph answers (no brute force), built the way that stranded items before: one
    # batch inserted by many threads at the old connectivity.
    graph_only = {
        "APPLIANCE_INDEX__EXACT_SEARCH_MAX": "0",
        "APPLIANCE_INDEX__BUILD_THREADS": "16",
        "APPLIANCE_INDEX__CONNECTIVITY": "16",
    }
    settings = load_settings(data_dir=tmp_path / "data", environ=graph_only)
    init_appliance(settings, environ={})
    never = {
        "APPLIANCE_INDEX__SNAPSHOT_EVERY_WRITES": "0",
        "APPLIANCE_INDEX__SNAPSHOT_EVERY_SECONDS": "0",
    }
    acknowledged = _kill_writer(settings, never, lambda count, _db: count >= 800, batch=20)

    stored = read_all_vectors(settings)
    for item_id in acknowledged:
        assert np.array_equal(stored[item_id], _vector(int(item_id.split("-")[1])))
    assert not (settings.data_dir / "index" / "stream" / "x.snap").exists()
    _assert_each_finds_itself(settings, acknowledged)  # rebuilt from the store in one batch
    _assert_each_finds_itself(settings, acknowledged)  # loaded from the snapshot just saved


def _recorded_snapshot_count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT count FROM index_snapshots").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_periodic_snapshot_leaves_only_the_tail_to_reconcile(tmp_path: Path) -> None:
    """The server's periodic snapshot after N writes exists before a SIGKILL; reopening
    loads it and reconciles only the items written after it."""
    settings = load_settings(data_dir=tmp_path / "data", environ={})
    init_appliance(settings, environ={})
    every = {
        "APPLIANCE_INDEX__SNAPSHOT_EVERY_WRITES": "60",
        "APPLIANCE_INDEX__SNAPSHOT_EVERY_SECONDS": "0",
    }
    seen: dict[str, int] = {}

    def after_first_snapshot(count: int, db: Path) -> bool:
        # Kill well before the next snapshot is due (120 writes), so no save is in flight.
        if "at" not in seen and count % 5 == 0 and _recorded_snapshot_count(db) >= 60:
            seen["at"] = count
        return "at" in seen and count >= seen["at"] + 10

    acknowledged = _kill_writer(settings, every, after_first_snapshot, batch=1)
    assert len(acknowledged) < 115, "the writer outran the test; the kill came too late"
    snapshot_count = _recorded_snapshot_count(settings.data_dir / "appliance.db")
    assert snapshot_count >= 60

    app = open_appliance(settings, environ={})
    try:
        app.items.search("stream", _vector(0), k=1, actor=Actor.operator(), space="x")
        report = app.indexes.open_report("stream", "x")
        assert report is not None and report.from_snapshot
        assert report.snapshot_count == snapshot_count
        assert report.removed == 0
        total = len(read_all_vectors(settings))
        assert report.added == total - snapshot_count < total
    finally:
        app.close()
    _assert_each_finds_itself(settings, acknowledged)
