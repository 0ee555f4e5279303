"""KEK rotation in a group of nodes on one PostgreSQL store: a node whose ring copy is older
than the store's fails closed with the remedy (never serves partial results, never wraps a
key the others cannot open), works again once the ring is copied; rotations are serialised
store-wide; only the designated node's timer rotates. In-process nodes, separate data dirs."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from appliance.crypto.kek import load_kek, locate_kek
from appliance.crypto.keyring import KekRingStaleError
from appliance.domain.types import Actor
from appliance.server import readiness_service
from appliance.settings import Settings, load_settings
from appliance.wiring import Appliance, init_appliance, open_appliance
from tests.scaling.node_process import DIMENSION, _store, vector
from tests.scaling.nodes import node_environ
from tests.scaling.pg_cluster import PgCluster

OPERATOR = Actor.operator()


def _settings(root: Path, name: str, kek: Path, url: str, rotate: str | None) -> Settings:
    environ = {**node_environ(kek, url), "APPLIANCE_KEYS__SHRED_AFTER_ERASURE_HOURS": "0"}
    if rotate is not None:
        environ["APPLIANCE_KEYS__ROTATE_ON_THIS_NODE"] = rotate
    return load_settings(data_dir=root / name, environ=environ)


def _copy_ring(source: Path, target: Path) -> None:
    """What an operator does: install a copy of a ring file (0600, atomically)."""
    temp = target.with_name(target.name + ".new")
    shutil.copyfile(source, temp)
    os.chmod(temp, 0o600)
    os.replace(temp, target)


@contextmanager
def _group(
    cluster: PgCluster, root: Path, *, rotate: tuple[str | None, str | None], shared_ring: bool
) -> Iterator[tuple[Appliance, Appliance]]:
    """Nodes A and B on a fresh database; B's ring is A's file or a copy of it."""
    url = cluster.create_database()
    kek_a = root / "kek-a"
    a_settings = _settings(root, "a", kek_a, url, rotate[0])
    init_appliance(a_settings, environ={})
    kek_b = kek_a if shared_ring else root / "kek-b"
    if not shared_ring:
        _copy_ring(kek_a, kek_b)
    b_settings = _settings(root, "b", kek_b, url, rotate[1])
    init_appliance(b_settings, environ={})
    a = open_appliance(a_settings, environ={})
    b = open_appliance(b_settings, environ={})
    try:
        a.collections.create("notes", DIMENSION, OPERATOR)
        yield a, b
    finally:
        a.close()
        b.close()


def _ids(app: Appliance, seed: int) -> list[str]:
    hits = app.items.search("notes", vector(seed), k=3, actor=OPERATOR, space="s1")
    return [h.item_id for h in hits if h.score > 0.99]


def _ring(app: Appliance) -> tuple[int, tuple[int, ...]]:
    ring = load_kek(locate_kek(app.settings.data_dir, {}, kek_file=app.settings.keys.kek_file))
    return ring.active, tuple(sorted(ring.keys))


def _key_problems(app: Appliance) -> list[str]:
    return [p for p in readiness_service(app, None).problems() if p.startswith("keys:")]


def test_a_node_with_an_old_ring_copy_fails_closed_until_the_ring_is_copied(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """A shreds (rotates) after an erasure; B, holding its own copy of the old ring, refuses
    to search (no partial results), to store (no key A could not open) and to rotate (no
    forked ring), with the remedy, and /readyz fails; once the ring is copied B serves again
    and A reads what B stores (before: B silently left A's new items out of its results and
    wrapped new keys under the retired version)."""
    with _group(pg_cluster, tmp_path, rotate=("yes", "yes"), shared_ring=False) as (a, b):
        _store(a, "one", "MRN-1", 1)
        _store(a, "gone", "MRN-X", 9)
        assert _ids(b, 1) == ["one"] and _key_problems(b) == []
        assert a.erasure.erase_subject("MRN-X", actor=OPERATOR) == 1
        a.maintain()  # A's timer: the shred is due at once
        assert _ring(a) == (2, (2,)) and _ring(b) == (1, (1,))
        _store(a, "three", "MRN-3", 3)  # a key B has never seen, wrapped under version 2

        with pytest.raises(KekRingStaleError) as searched:
            _ids(b, 3)
        assert "older than the store's (version 2" in searched.value.message
        assert "copy the KEK ring from the node that rotated" in searched.value.remedy
        with pytest.raises(KekRingStaleError):
            _store(b, "four", "MRN-4", 4)
        with pytest.raises(KekRingStaleError):
            b.keys.rotate(actor=OPERATOR)
        assert _ring(b) == (1, (1,))  # B's ring was not forked
        problems = _key_problems(b)
        assert len(problems) == 1 and "older than the store's (version 2" in problems[0]

        _copy_ring(Path(a.settings.keys.kek_file), Path(b.settings.keys.kek_file))
        assert _key_problems(b) == []
        assert _ids(b, 3) == ["three"] and _ids(b, 1) == ["one"] and _ids(b, 9) == []
        _store(b, "four", "MRN-4", 4)
        assert _ids(a, 4) == ["four"]


def _advisory_waiters(app: Appliance) -> int:
    with app.database.read() as connection:
        query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        return int(connection.execute(text(query)).scalar_one())


def test_two_nodes_racing_to_shred_rotate_once(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """Both nodes may rotate and share one ring: while A rotates, B's shred waits on the
    store-wide lock and then finds nothing due, so the KEK rotates once (before: the lock was
    per data dir and B rotated the same ring beside A)."""
    with _group(pg_cluster, tmp_path, rotate=("yes", "yes"), shared_ring=True) as (a, b):
        _store(a, "one", "MRN-1", 1)
        _store(a, "gone", "MRN-X", 9)
        assert a.erasure.erase_subject("MRN-X", actor=OPERATOR) == 1
        inside, release = threading.Event(), threading.Event()
        real = a.keys._rotate_locked

        def paused(**kwargs: Any) -> Any:
            inside.set()
            assert release.wait(60)
            return real(**kwargs)

        a.keys._rotate_locked = paused  # type: ignore[method-assign]
        reports: dict[str, Any] = {}

        def shred(name: str, node: Appliance) -> None:
            reports[name] = node.keys.shred_due(actor=OPERATOR)

        ta = threading.Thread(target=shred, args=("a", a))
        ta.start()
        assert inside.wait(60)
        tb = threading.Thread(target=shred, args=("b", b))
        tb.start()
        deadline = time.monotonic() + 60
        while _advisory_waiters(a) == 0:  # B blocked on A's rotation lock
            assert tb.is_alive(), "B rotated without waiting for A's rotation"
            assert time.monotonic() < deadline, "B never waited for A's rotation lock"
            time.sleep(0.05)
        release.set()
        ta.join(60)
        tb.join(60)
        assert reports["a"] is not None and reports["a"].rotation.to_version == 2
        assert reports["b"] is None
        assert _ring(a) == (2, (2,))
        assert a.keys.status().shreds_pending == 0
        assert _ids(b, 1) == ["one"]


def test_only_the_designated_node_rotates(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """On PostgreSQL a node left at the default ("auto": no) reports the due shred as a
    readiness warning instead of rotating; the designated node's timer rotates and the
    other, re-reading the shared ring, keeps serving (before: every node's timer rotated)."""
    with _group(pg_cluster, tmp_path, rotate=("yes", None), shared_ring=True) as (a, b):
        _store(a, "one", "MRN-1", 1)
        _store(b, "gone", "MRN-X", 9)
        assert b.erasure.erase_subject("MRN-X", actor=OPERATOR) == 1
        b.maintain()
        assert _ring(b) == (1, (1,)) and b.keys.status().shreds_pending == 1
        warnings = readiness_service(b, None).warnings()
        assert any("keys.rotate_on_this_node" in w for w in warnings)
        a.maintain()
        assert _ring(a) == (2, (2,)) and b.keys.status().shreds_pending == 0
        assert b.keys.warnings() == []
        _store(b, "two", "MRN-2", 2)
        assert _ids(b, 1) == ["one"] and _ids(a, 2) == ["two"] and _key_problems(b) == []
