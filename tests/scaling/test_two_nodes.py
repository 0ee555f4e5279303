"""Two appliance nodes, each in its own process with its own index directory, on one
throwaway PostgreSQL store: writes and erasures on one reach the other's live index and
snapshots, and audit appends from both make one valid chain. (A SIGKILLed node:
``test_serve_nodes``.)"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.clock import SystemClock
from appliance.crypto.kek import load_kek, locate_kek
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.errors import IntegrityError
from appliance.index import load_snapshot
from appliance.services.indexes import index_owner
from appliance.settings import Settings
from appliance.store.database import Database, create_store_engine
from appliance.store.schema import audit_lines
from tests.conftest import run_appliance
from tests.scaling.nodes import NodeProcess, init_nodes
from tests.scaling.pg_cluster import PgCluster

pytestmark = pytest.mark.slow


@dataclass
class Pair:
    """Two initialised nodes on one fresh PostgreSQL database, both running."""

    settings: list[Settings]
    nodes: list[NodeProcess]


@contextmanager
def _pair(cluster: PgCluster, root: Path) -> Iterator[Pair]:
    settings = init_nodes(root, cluster.create_database())
    started: list[NodeProcess] = []
    try:
        for node in settings:
            started.append(NodeProcess(node))
        yield Pair(settings, started)
    finally:
        for node in started:
            node.kill()


@pytest.fixture(scope="module")
def shared_pair(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One running pair for the tests that leave both nodes up (distinct items each)."""
    with _pair(pg_cluster, tmp_path_factory.mktemp("pair")) as pair:
        yield pair


def _top(node: NodeProcess, seed: int) -> list[str]:
    """Ids of the near-exact hits (score > 0.99) for the vector of ``seed``."""
    return [h["id"] for h in node.call(op="search", seed=seed, k=3) if h["score"] > 0.99]


def _cli(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
) -> tuple[int, str, str]:
    """`appliance --data-dir NODE ARGV` in-process, the node's store and KEK from the
    environment (as a systemd unit passes them)."""
    monkeypatch.setenv("APPLIANCE_DATABASE__URL", settings.database_url)
    monkeypatch.setenv("APPLIANCE_KEYS__KEK_FILE", str(settings.keys.kek_file))
    return run_appliance(capsys, "--data-dir", str(settings.data_dir), *argv)


def _snapshot_keys(settings: Settings, path: Path) -> list[int]:
    """Row ids in a node's snapshot file, opened with the index key the store holds now."""
    database = Database(create_store_engine(settings.database_url))
    try:
        kek = load_kek(locate_kek(settings.data_dir, {}, kek_file=settings.keys.kek_file))
        with database.read() as connection:
            _, key = KeyRing(kek, SystemClock()).get(
                connection, KeyKind.INDEX, index_owner("notes", "s1")
            )
    finally:
        database.dispose()
    snapshot = load_snapshot(path, key, collection="notes", space="s1")
    return sorted(int(k) for k in snapshot.keys().tolist())


def test_a_write_on_node_a_is_found_by_node_b(shared_pair: Pair) -> None:
    """B's live index, opened before A's write, finds it at B's next search; B's
    maintenance tick alone also adds A's next write to B's live index."""
    a, b = shared_pair.nodes
    assert _top(b, 1) == []  # B's index is open (and empty) before A writes
    a.call(op="store", item_id="x1", subject="MRN-1", seed=1)
    assert _top(b, 1) == ["x1"]
    a.call(op="store", item_id="x2", subject="MRN-2", seed=2)
    before = b.call(op="index_keys")
    b.call(op="maintain")
    after = b.call(op="index_keys")
    assert len(after) == len(before) + 1
    assert _top(b, 2) == ["x2"]


def test_an_erasure_on_node_a_leaves_node_b_and_its_snapshots(shared_pair: Pair) -> None:
    """An erasure on A: B's maintenance tick drops the rows from B's live index, B's next
    snapshot lacks them, and B's snapshot from before the erasure no longer opens."""
    (a, b), nodes = shared_pair.nodes, shared_pair.settings
    a.call(op="store", item_id="gone", subject="MRN-A", seed=3)
    a.call(op="store", item_id="kept", subject="MRN-K", seed=4)
    assert _top(b, 3) == ["gone"]
    held = b.call(op="index_keys")
    assert b.call(op="snapshot") == 1
    b_snapshot = nodes[1].data_dir / "index" / "notes" / "s1.snap"
    before = b_snapshot.with_name("before-erasure.snap")
    shutil.copyfile(b_snapshot, before)
    assert _snapshot_keys(nodes[1], b_snapshot) == held

    assert a.call(op="erase", subject="MRN-A") == 1
    b.call(op="maintain")  # the server's timer, before any request reaches B
    remaining = b.call(op="index_keys")
    assert len(remaining) == len(held) - 1
    assert b.call(op="snapshot") == 1
    assert _snapshot_keys(nodes[1], b_snapshot) == remaining
    with pytest.raises(IntegrityError):  # the index key it was sealed under is destroyed
        _snapshot_keys(nodes[1], before)
    assert _top(b, 3) == [] and _top(b, 4) == ["kept"]


@pytest.mark.usefixtures("isolated_cli")
def test_concurrent_audit_appends_from_two_nodes_make_one_chain(
    shared_pair: Pair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two nodes append 60 entries each at the same time: every entry is kept, once, in
    one linear chain that `appliance audit verify` accepts and `audit export` writes out."""
    (a, b), nodes = shared_pair.nodes, shared_pair.settings
    for node in (a, b):
        node.send(op="audit_burst", count=60)
    assert a.read() == {"ok": True} and b.read() == {"ok": True}
    database = Database(create_store_engine(nodes[0].database_url))
    try:
        with database.read() as connection:
            lines = connection.execute(
                audit_lines.select().where(audit_lines.c.stream == "trail.jsonl")
            ).all()
    finally:
        database.dispose()
    entries = [json.loads(bytes(r.line)) for r in sorted(lines, key=lambda r: r.line_no)]
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    burst = [e for e in entries if e["action"] == "test.burst"]
    assert len(burst) == 120
    assert sorted(e["details"]["n"] for e in burst) == sorted(list(range(60)) * 2)
    code, out, err = _cli(nodes[1], monkeypatch, capsys, "audit", "verify")
    assert code == 0, err
    assert f"audit trail intact: {len(entries)} entries" in out
    code, out, err = _cli(nodes[0], monkeypatch, capsys, "audit", "export")
    assert code == 0, err
    assert out.count("test.burst") == 120
