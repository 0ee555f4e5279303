"""Erasure beside a running server: a CLI erasure in another process reaches the server's
live index, key cache and snapshots; row ids are never reused.

The attack (reproduced on the code before the fix): the server ingests A, the CLI erases
A's subject, the server ingests B, which got A's row id back; a search with A's vector
then returned B with score 1.0, the next snapshot held A's vector under B's id, and a new
item of the erased subject was sealed under the server's cached (destroyed) key and
vanished after a restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.clock import SystemClock
from appliance.crypto.kek import load_kek, locate_kek
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.domain.types import Actor
from appliance.index import load_snapshot
from appliance.services.indexes import index_owner
from appliance.settings import Settings, load_settings
from appliance.store.database import Database, create_store_engine
from appliance.store.repository import count_items_without_key
from appliance.store.schema import items
from appliance.wiring import init_appliance, open_appliance

REPO = Path(__file__).resolve().parents[2]
DIMENSION = 16


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env["PYTHONPATH"] = str(REPO)
    return env


class ServerProcess:
    """The appliance held open in another process, as `appliance serve` holds it."""

    def __init__(self, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "security" / "server_process.py"), str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=REPO,
        )
        assert self._read() == {"ok": "ready"}

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the server process died"
        return json.loads(line)

    def call(self, **request: Any) -> Any:
        """Send one request; return its result or fail with the server's error."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = self._read()
        assert "error" not in reply, reply["error"]
        return reply["ok"]

    def close(self) -> None:
        """Close stdin: the process closes the appliance (final snapshot) and exits."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0


def _cli_erase(data_dir: Path, subject: str) -> dict[str, Any]:
    """`appliance subjects delete` in its own process, the id on stdin."""
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "--data-dir", str(data_dir), "subjects", "delete"],
        input=subject + "\n",
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _vector(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=DIMENSION).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """An initialised data dir with one collection (the server process opens it next)."""
    settings = load_settings(data_dir=tmp_path / "data", environ={})
    init_appliance(settings, environ={})
    app = open_appliance(settings, environ={})
    app.collections.create("notes", DIMENSION, Actor.operator())
    app.close()
    return settings


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerProcess]:
    """A running server process on the data dir."""
    process = ServerProcess(settings.data_dir)
    yield process
    if process.process.poll() is None:
        process.process.kill()
        process.process.wait()


def _references(server: ServerProcess) -> dict[str, str]:
    """Stored keyed reference -> client item id, for the ids the tests use."""
    clients = ("a", "a2", "b", "k")
    return {server.call(op="ref", collection="notes", item_id=c): c for c in clients}


def _row_ids(settings: Settings, refs: dict[str, str]) -> dict[str, int]:
    """Row id per client item id (the store keeps only keyed references to client ids)."""
    database = Database(create_store_engine(settings.database_url))
    try:
        with database.read() as connection:
            stored = {r.item_id: int(r.row_id) for r in connection.execute(items.select())}
    finally:
        database.dispose()
    assert set(stored) <= set(refs), "a row whose item is not one of the test's"
    return {refs[ref]: row for ref, row in stored.items()}


def test_cli_erasure_beside_running_server_leaks_nothing(
    settings: Settings, server: ServerProcess
) -> None:
    """Ingest A, CLI erase, ingest B: B gets a new row id; A's vector finds nothing of A and
    no score-1.0 impostor; the snapshot holds no A; the erased subject's next item survives."""
    a, b, a2 = _vector(1), _vector(2), _vector(3)
    refs = _references(server)
    server.call(op="store", collection="notes", subject="MRN-K", item_id="k", vector=_vector(9))
    server.call(op="store", collection="notes", subject="MRN-A", item_id="a", vector=a,
                metadata={"note": "A's diagnosis"})  # fmt: skip
    assert [h["id"] for h in server.call(op="search", collection="notes", vector=a, k=1)] == ["a"]
    row_a = _row_ids(settings, refs)["a"]

    assert _cli_erase(settings.data_dir, "MRN-A") == {"deleted": 1}

    server.call(op="store", collection="notes", subject="MRN-B", item_id="b", vector=b)
    assert _row_ids(settings, refs)["b"] > row_a  # A had the highest row id: SQLite would reuse it
    hits = server.call(op="search", collection="notes", vector=a, k=5)
    assert {h["id"] for h in hits} == {"b", "k"}
    assert all(h["score"] < 0.99 for h in hits), hits  # no impostor with A's vector

    # the erased subject comes back: sealed under a fresh key, not the server's cached one
    server.call(op="store", collection="notes", subject="MRN-A", item_id="a2", vector=a2)
    assert server.call(op="snapshot") >= 1
    server.close()

    database = Database(create_store_engine(settings.database_url))
    try:
        with database.read() as connection:
            assert count_items_without_key(connection) == 0
            keyring = KeyRing(load_kek(locate_kek(settings.data_dir, environ={})), SystemClock())
            _, index_key = keyring.get(connection, KeyKind.INDEX, index_owner("notes", "s1"))
    finally:
        database.dispose()
    snapshot = load_snapshot(
        settings.data_dir / "index" / "notes" / "s1.snap", index_key, collection="notes", space="s1"
    )
    rows = _row_ids(settings, refs)
    assert sorted(snapshot.keys().tolist()) == sorted(rows.values())
    assert row_a not in snapshot
    stored_b = snapshot.vectors_for([rows["b"]])[0]
    assert float(np.dot(stored_b, np.asarray(b))) > 0.999  # B's own vector, not A's

    restarted = ServerProcess(settings.data_dir)
    try:
        found = restarted.call(op="search", collection="notes", vector=a2, k=1)
        assert [h["id"] for h in found] == ["a2"] and found[0]["score"] > 0.99
    finally:
        restarted.close()


def test_server_timer_applies_a_cli_erasure_before_any_request(
    settings: Settings, server: ServerProcess
) -> None:
    """The server's maintenance tick alone drops a subject erased by another process from
    its live index (no search or ingest needed first), and its snapshot then lacks it."""
    refs = _references(server)
    server.call(op="store", collection="notes", subject="MRN-A", item_id="a", vector=_vector(1))
    server.call(op="store", collection="notes", subject="MRN-K", item_id="k", vector=_vector(2))
    assert server.call(op="snapshot") == 1
    _cli_erase(settings.data_dir, "MRN-A")
    server.call(op="maintain")
    assert server.call(op="snapshot") == 1  # the tick removed A: the index is dirty again
    server.close()
    assert "a" not in _row_ids(settings, refs)
