"""Two appliance nodes, each in its own process with its own index directory, on one
throwaway PostgreSQL store: writes and erasures on one reach the other's live index and
snapshots, audit appends from both make one valid chain, and a SIGKILLed node loses
nothing it acknowledged."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
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
from tests.scaling.nodes import NodeProcess, init_nodes, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def nodes(pg_url: str, tmp_path: Path) -> list[Settings]:
    """Two initialised node data dirs on one fresh PostgreSQL database."""
    return init_nodes(tmp_path, pg_url)


@pytest.fixture
def running(nodes: list[Settings]) -> Iterator[list[NodeProcess]]:
    """Both nodes running."""
    started: list[NodeProcess] = []
    try:
        for settings in nodes:
            started.append(NodeProcess(settings))
        yield started
    finally:
        for node in started:
            node.kill()


def _top(node: NodeProcess, seed: int) -> list[str]:
    """Ids of the near-exact hits (score > 0.99) for the vector of ``seed``."""
    return [h["id"] for h in node.call(op="search", seed=seed, k=3) if h["score"] > 0.99]


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


def test_a_write_on_node_a_is_found_by_node_b(running: list[NodeProcess]) -> None:
    """B's live index, opened before A's write, finds it at B's next search; B's
    maintenance tick alone also adds A's next write to B's live index."""
    a, b = running
    assert _top(b, 1) == []  # B's index is open (and empty) before A writes
    a.call(op="store", item_id="x1", subject="MRN-1", seed=1)
    assert _top(b, 1) == ["x1"]
    a.call(op="store", item_id="x2", subject="MRN-2", seed=2)
    before = b.call(op="index_keys")
    b.call(op="maintain")
    after = b.call(op="index_keys")
    assert len(after) == len(before) + 1
    assert _top(b, 2) == ["x2"]


def test_an_erasure_on_node_a_leaves_node_b_and_its_snapshots(
    nodes: list[Settings], running: list[NodeProcess]
) -> None:
    """An erasure on A: B's maintenance tick drops the rows from B's live index, B's next
    snapshot lacks them, and B's snapshot from before the erasure no longer opens."""
    a, b = running
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


def test_concurrent_audit_appends_from_two_nodes_make_one_chain(
    nodes: list[Settings], running: list[NodeProcess]
) -> None:
    """Two nodes append 150 entries each at the same time: every entry is kept, once, in
    one linear chain that `appliance audit verify` accepts."""
    a, b = running
    for node in running:
        node.send(op="audit_burst", count=150)
    assert a.read() == {"ok": True} and b.read() == {"ok": True}
    for node in running:
        node.close()
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
    assert len(burst) == 300
    done = run_cli(nodes[1], "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert f"audit trail intact: {len(entries)} entries" in done.stdout


def test_a_node_killed_mid_ingest_loses_nothing_it_acknowledged(
    nodes: list[Settings], running: list[NodeProcess]
) -> None:
    """SIGKILL node A while it ingests: every item A acknowledged is found on B, the audit
    chain verifies, B can still write, and A reopens and finds them too."""
    a, b = running
    a.send(op="ingest_stream", count=500, first_seed=1000)
    acked = [a.read()["ack"] for _ in range(25)]
    a.kill()
    for seed in acked:
        assert _top(b, seed) == [f"i{seed}"], seed
    b.call(op="store", item_id="after", subject="MRN-after", seed=5)  # no lock left behind
    done = run_cli(nodes[1], "audit", "verify")
    assert done.returncode == 0, done.stderr
    restarted = NodeProcess(nodes[0])
    try:
        assert all(_top(restarted, seed) == [f"i{seed}"] for seed in acked)
        assert _top(restarted, 5) == ["after"]
    finally:
        restarted.close()
