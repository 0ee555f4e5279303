"""Erasure by crypto-shredding: keys destroyed, rows unreadable, results gone at once."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sqlalchemy import select

from appliance.crypto.kek import load_kek, locate_kek
from appliance.crypto.keyring import KeyRing
from appliance.crypto.records import RecordBinding, open_item_fields, open_item_vector
from appliance.domain.types import Actor
from appliance.errors import IntegrityError, KeyUnavailableError
from appliance.index import load_snapshot
from appliance.services.indexes import index_owner
from appliance.store import keys as key_rows
from appliance.store.database import Database, create_store_engine
from appliance.store.schema import collections, items
from appliance.wiring import Appliance
from tests.services.helpers import DIMENSION, new_items, read_all_vectors, unit_vectors

OPERATOR = Actor.operator()
SPACE = "s1"


def _populate(app: Appliance) -> tuple[np.ndarray, np.ndarray]:
    app.collections.create("notes", DIMENSION, OPERATOR)
    app.collections.create("scans", DIMENSION, OPERATOR)
    gone, kept = unit_vectors(5, seed=10), unit_vectors(5, seed=11)
    app.items.store("notes", new_items("MRN-GONE", gone[:3], "g"), actor=OPERATOR, space=SPACE)
    app.items.store("scans", new_items("MRN-GONE", gone[3:], "gs"), actor=OPERATOR, space=SPACE)
    app.items.store("notes", new_items("MRN-KEPT", kept, "k"), actor=OPERATOR, space=SPACE)
    app.indexes.snapshot_all()
    return gone, kept


def test_search_never_returns_erased_subject(appliance: Appliance) -> None:
    """Right after erasure, no search in any collection returns the subject's items."""
    gone, _ = _populate(appliance)
    assert appliance.erasure.erase_subject("MRN-GONE", actor=OPERATOR) == 5
    for collection in ("notes", "scans"):
        for query in gone:
            hits = appliance.items.search(collection, query, k=10, actor=OPERATOR, space=SPACE)
            assert all(not h.item_id.startswith("g") for h in hits)
    assert len(appliance.items.search("notes", gone[0], k=10, actor=OPERATOR, space=SPACE)) == 5


def test_erasure_is_idempotent_and_audited(appliance: Appliance) -> None:
    """Erasing twice erases nothing the second time; both are audited by pseudonym only."""
    _populate(appliance)
    assert appliance.erasure.erase_subject("MRN-GONE", actor=OPERATOR) == 5
    assert appliance.erasure.erase_subject("MRN-GONE", actor=OPERATOR) == 0
    trail = (appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()
    assert trail.count('"subjects.erase"') == 2
    assert "MRN-GONE" not in trail


def test_no_remaining_key_decrypts_a_backup_of_erased_rows(appliance: Appliance) -> None:
    """A pre-erasure copy of the store is undecryptable with every key left afterwards."""
    _populate(appliance)
    backup = appliance.settings.data_dir.parent / "backup.db"
    appliance.database.checkpoint_wal()
    shutil.copy(appliance.settings.data_dir / "appliance.db", backup)
    subject = appliance.pseudonymize("MRN-GONE")
    assert len(read_all_vectors(appliance.settings, backup)) == 10  # readable before erasure
    appliance.erasure.erase_subject("MRN-GONE", actor=OPERATOR)

    copy = Database(create_store_engine(f"sqlite:///{backup}"))
    with copy.read() as connection:
        query = (
            select(items, collections.c.name)
            .join(collections, collections.c.id == items.c.collection_id)
            .where(items.c.subject == subject)
        )
        sealed = [
            (
                bytes(r.vector_ct),
                bytes(r.metadata_ct),
                RecordBinding.of_row(r, r.name),
            )
            for r in connection.execute(query)
        ]
    copy.dispose()
    assert len(sealed) == 5
    ring = KeyRing(load_kek(locate_kek(appliance.settings.data_dir, environ={})), appliance.clock)
    with appliance.database.read() as connection:
        remaining = [ring.unwrap_row(row) for row in key_rows.iter_all(connection)]
    candidates = [*remaining, *ring.kek.keys.values()]
    for vector_ct, metadata_ct, binding in sealed:
        for key in candidates:
            with pytest.raises(IntegrityError):
                open_item_vector(key, vector_ct, binding)
            with pytest.raises(IntegrityError):
                open_item_fields(key, metadata_ct, binding)


def test_backups_are_shredded_by_the_next_kek_rotation(appliance: Appliance) -> None:
    """A backup still holds the wrapped key; after a rotation the KEK that unwraps it is gone."""
    _populate(appliance)
    backup = appliance.settings.data_dir.parent / "backup.db"
    appliance.database.checkpoint_wal()
    shutil.copy(appliance.settings.data_dir / "appliance.db", backup)
    appliance.erasure.erase_subject("MRN-GONE", actor=OPERATOR)
    assert len(read_all_vectors(appliance.settings, backup)) == 10  # old KEK still unwraps
    appliance.keys.rotate(actor=OPERATOR)
    with pytest.raises(KeyUnavailableError, match="KEK version 1"):
        read_all_vectors(appliance.settings, backup)
    assert len(read_all_vectors(appliance.settings)) == 5


def test_snapshots_after_erasure_hold_no_erased_vector(appliance: Appliance) -> None:
    """Rewritten snapshots, decrypted, contain none of the erased vectors' bytes."""
    gone, _ = _populate(appliance)
    appliance.erasure.erase_subject("MRN-GONE", actor=OPERATOR)
    for collection in ("notes", "scans"):
        path = appliance.indexes.snapshot_path(collection, SPACE)
        with appliance.database.write() as connection:
            from appliance.crypto.keyring import KeyKind

            _, key = appliance.keyring.get(
                connection, KeyKind.INDEX, index_owner(collection, SPACE)
            )
        index = load_snapshot(path, key, collection=collection, space=SPACE)
        live = {int(k) for k in index.keys().tolist()}
        assert len(live) == (5 if collection == "notes" else 0)
        stored = index.vectors_for(np.asarray(sorted(live), dtype=np.int64)) if live else None
        if stored is not None:
            for vector in gone:
                assert not np.any(np.all(np.isclose(stored, vector, atol=1e-6), axis=1))


def test_store_after_erasure_elsewhere_seals_under_a_fresh_key(appliance: Appliance) -> None:
    """A second opened appliance (another process) erases a subject whose key this one has
    cached; the next item of that subject is sealed under a new key and stays readable."""
    from appliance.wiring import open_appliance

    appliance.collections.create("notes", DIMENSION, OPERATOR)
    first, later = unit_vectors(2, seed=40)
    appliance.items.store(
        "notes", new_items("MRN-X", first[None], "x"), actor=OPERATOR, space=SPACE
    )
    other = open_appliance(appliance.settings, clock=appliance.clock, environ={})
    try:
        assert other.erasure.erase_subject("MRN-X", actor=OPERATOR) == 1
    finally:
        other.close()
    appliance.items.store(
        "notes", new_items("MRN-X", later[None], "y"), actor=OPERATOR, space=SPACE
    )
    assert set(read_all_vectors(appliance.settings)) == {"y-0"}
    hits = appliance.items.search("notes", first, k=5, actor=OPERATOR, space=SPACE)
    assert [h.item_id for h in hits] == ["y-0"]


def test_erasure_elsewhere_leaves_this_processs_index_and_key_cache(appliance: Appliance) -> None:
    """After another process erases a subject, this process's next search drops their rows
    from its live index and their key from its cache (the change log)."""
    from appliance.crypto.keyring import KeyKind
    from appliance.wiring import open_appliance

    gone, _ = _populate(appliance)
    gone_rows = _row_ids_of(appliance, "g")
    other = open_appliance(appliance.settings, clock=appliance.clock, environ={})
    try:
        other.erasure.erase_subject("MRN-GONE", actor=OPERATOR)
    finally:
        other.close()
    appliance.items.search("notes", gone[0], k=3, actor=OPERATOR, space=SPACE)
    index = appliance.indexes.get(appliance.collections.get("notes"), SPACE)
    assert not any(row in index for row in gone_rows)
    pseudonym = appliance.pseudonymize("MRN-GONE")
    with appliance.database.read() as connection, pytest.raises(KeyUnavailableError):
        appliance.keyring.get(connection, KeyKind.SUBJECT, pseudonym)


def test_purge_gives_the_index_a_new_key_version_and_destroys_the_old(
    appliance: Appliance,
) -> None:
    """Erasure replaces every touched index key by the next version; an old snapshot no
    longer opens with any index key the store holds."""
    _populate(appliance)
    old_snapshot = appliance.settings.data_dir.parent / "old.snap"
    shutil.copy(appliance.indexes.snapshot_path("notes", SPACE), old_snapshot)
    appliance.erasure.erase_subject("MRN-GONE", actor=OPERATOR)
    with appliance.database.read() as connection:
        rows = [r for r in key_rows.iter_all(connection) if r.owner == index_owner("notes", SPACE)]
        assert [r.version for r in rows] == [2]
        keyring = KeyRing(load_kek(locate_kek(appliance.settings.data_dir, {})), appliance.clock)
        key = keyring.unwrap_row(rows[0])
    with pytest.raises(IntegrityError):
        load_snapshot(old_snapshot, key, collection="notes", space=SPACE)
    assert len(load_snapshot(appliance.indexes.snapshot_path("notes", SPACE), key,
                             collection="notes", space=SPACE)) == 5  # fmt: skip


def test_an_item_without_its_key_is_reported_not_dropped_silently(appliance: Appliance) -> None:
    """A stored item whose subject key is missing is counted, logged and audited when the
    index is rebuilt, never skipped in silence."""
    from appliance.store.repository import count_items_without_key
    from appliance.wiring import open_appliance
    from tests.log_capture import capture_events

    _populate(appliance)
    pseudonym = appliance.pseudonymize("MRN-GONE")
    with appliance.database.write() as connection:
        key_rows.delete_keys(connection, "subject", pseudonym)  # damage, not an erasure
        assert count_items_without_key(connection) == 5
    appliance.close()
    for path in (appliance.settings.data_dir / "index").rglob("*.snap"):
        path.unlink()
    reopened = open_appliance(appliance.settings, clock=appliance.clock, environ={})
    try:
        with capture_events() as events:
            reopened.indexes.get(reopened.collections.get("notes"), SPACE)
        assert reopened.indexes.items_without_key == 3
        assert sum(e["event"] == "index.item_key_missing" for e in events) == 3
    finally:
        reopened.close()
    trail = (appliance.settings.data_dir / "audit" / "trail.jsonl").read_text()
    assert trail.count('"items.key_missing"') == 3


def _row_ids_of(app: Appliance, prefix: str) -> list[int]:
    with app.database.read() as connection:
        return [
            int(r.row_id)
            for r in connection.execute(select(items.c.row_id, items.c.item_id))
            if r.item_id.startswith(prefix)
        ]
