"""The store on both backends: embedded SQLite and a throwaway PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from appliance.clock import FixedClock
from appliance.domain.types import Pseudonym
from appliance.errors import ConflictError, StorageUnavailableError
from appliance.store import changes, consents, keys, repository
from appliance.store.database import Database, create_store_engine
from appliance.store.migrations import MIGRATIONS, current_version, migrate, require_current
from appliance.store.repository import NewItemRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHARED_ONLY = {"audit_lines", "node_index_snapshots"}


def _row(item_id: str, subject: str = "ps_a", deadline: datetime | None = None) -> NewItemRow:
    return NewItemRow(
        item_id=item_id,
        subject=Pseudonym(subject),
        modality="text",
        policy_labels=("phi",),
        obligations=(),
        retention_deadline=deadline,
        space_version="s1",
        key_version=1,
        vector_ct=b"\x00vector\xff",
        metadata_ct=b"\x01meta",
    )


def _ready(database: Database) -> int:
    migrate(database, FixedClock(NOW))
    with database.write() as connection:
        repository.touch_subject(connection, Pseudonym("ps_a"), NOW)
        return repository.create_collection(connection, "notes", 4, NOW).id


def test_migrations_apply_once_on_each_backend(any_database: Database) -> None:
    """The whole chain applies once, in order, on SQLite and on PostgreSQL alike."""
    assert current_version(any_database) == 0
    assert migrate(any_database, FixedClock(NOW)) == [m.version for m in MIGRATIONS]
    assert migrate(any_database, FixedClock(NOW)) == []
    require_current(any_database)
    with any_database.read() as connection:
        tables = set(inspect(connection).get_table_names())
    expected = {"items", "data_keys", "subjects", "collections", "consents", "api_tokens"}
    expected |= {"index_snapshots", "change_log", "shred_requests", "schema_migrations"}
    assert expected <= tables
    if any_database.is_sqlite:  # the embedded default keeps its audit files: schema unchanged
        assert not tables & SHARED_ONLY
    else:
        assert tables >= SHARED_ONLY


def test_sqlite_chain_still_gives_never_reused_row_ids(any_database: Database) -> None:
    """On both backends an erased item's row id (its index key) never comes back."""
    collection = _ready(any_database)
    with any_database.write() as connection:
        first = repository.insert_items(connection, collection, [_row("a"), _row("b")], NOW)
        repository.delete_items(connection, [first[-1]])
    with any_database.write() as connection:
        again = repository.insert_items(connection, collection, [_row("c")], NOW)
    assert again[0] > max(first)
    if any_database.is_sqlite:
        with any_database.read() as connection:
            sql = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'items'")
            ).scalar()
        assert "AUTOINCREMENT" in sql


def test_items_round_trip_with_aware_times(any_database: Database) -> None:
    """Items keep their ciphertext bytes, labels and deadlines; expired ones are not live."""
    collection = _ready(any_database)
    soon, later = NOW + timedelta(hours=1), NOW + timedelta(days=30)
    with any_database.write() as connection:
        ids = repository.insert_items(
            connection, collection, [_row("a", deadline=soon), _row("b", deadline=later)], NOW
        )
        with pytest.raises(ConflictError):
            repository.insert_items(connection, collection, [_row("a")], NOW)
    with any_database.write() as connection, pytest.raises(ConflictError):
        repository.create_collection(connection, "notes", 4, NOW)
    with any_database.read() as connection:
        live = repository.live_items_by_row_ids(connection, collection, ids, NOW + timedelta(2))
        every = repository.items_by_row_ids(connection, collection, ids)
        assert repository.count_items(connection, collection) == 2
    assert list(live) == [ids[1]]
    assert [r.row_id for r in every] == ids
    assert every[0].vector_ct == b"\x00vector\xff" and every[0].policy_labels == ("phi",)
    assert every[0].retention_deadline == soon and every[0].created_at == NOW
    assert every[0].created_at.tzinfo is not None


def test_keys_consents_and_shreds_on_each_backend(any_database: Database) -> None:
    """Wrapped keys (compare-and-set rewrap, shredding), consents and shred requests."""
    _ready(any_database)
    subject = Pseudonym("ps_a")
    with any_database.write() as connection:
        keys.insert_key(
            connection,
            kind="subject",
            owner=subject,
            version=1,
            kek_version=1,
            wrapped=b"w1",
            now=NOW,
        )
        row = keys.find_key(connection, "subject", subject)
        assert row is not None and row.wrapped == b"w1"
        assert keys.rewrap_key(connection, row, kek_version=2, wrapped=b"w2")
        assert not keys.rewrap_key(connection, row, kek_version=3, wrapped=b"w3")  # stale read
        assert keys.count_by_kek_version(connection) == {2: 1}
        consent = consents.insert_consent(
            connection,
            subject=subject,
            purpose="research",
            category="biometric",
            granted_at=NOW,
            expires_at=None,
            evidence_ref="form-1",
        )
        assert consents.revoke_consent(connection, consent.id, NOW)
        assert not consents.revoke_consent(connection, consent.id, NOW)
        request = keys.request_shred(
            connection, reason="erasure", change_seq=None, now=NOW, due_at=NOW + timedelta(1)
        )
        assert [s.id for s in keys.pending_shreds(connection)] == [request]
        assert keys.complete_shreds(connection, request, now=NOW, kek_version=2) == 1
        assert keys.delete_keys(connection, "subject", subject) == 1
        assert keys.find_key(connection, "subject", subject) is None
        assert consents.consents_of_subject(connection, subject)[0].revoked_at == NOW


def test_change_log_follows_stores_only_on_a_shared_store(any_database: Database) -> None:
    """Erasures are logged everywhere; stored items only on PostgreSQL (several nodes)."""
    collection = _ready(any_database)
    with any_database.write() as connection:
        row_ids = repository.insert_items(connection, collection, [_row("a")], NOW)
        seq = changes.record(
            connection,
            kind="erasure",
            now=NOW,
            collection="notes",
            row_ids=row_ids,
            key_owners=[("subject", "ps_a")],
        )
    with any_database.read() as connection:
        events = changes.events_after(connection, 0)
        assert changes.latest_seq(connection) == seq
    kinds = [(e.kind, e.collection, e.row_ids) for e in events]
    erasure = ("erasure", "notes", tuple(row_ids))
    if any_database.is_sqlite:
        assert kinds == [erasure]
    else:
        assert kinds == [(changes.ITEMS_STORED, "notes", tuple(row_ids)), erasure]


def test_postgres_writers_on_two_engines_are_serialised(pg_url: str) -> None:
    """Two nodes' write transactions never overlap: the second waits for the first's
    commit (so change-log sequence numbers become visible in order)."""
    node_a = Database(create_store_engine(pg_url))
    node_b = Database(create_store_engine(pg_url))
    try:
        migrate(node_a, FixedClock(NOW))
        order: list[str] = []
        b_done = threading.Event()

        def write_on_b() -> None:
            with node_b.write() as connection:
                order.append("b")
                changes.record(connection, kind="erasure", now=NOW, collection="notes")
            b_done.set()

        with node_a.write() as connection:
            seq_a = changes.record(connection, kind="erasure", now=NOW, collection="notes")
            thread = threading.Thread(target=write_on_b)
            thread.start()
            _wait_for_advisory_lock_waiter(node_a)
            order.append("a")
        thread.join(timeout=60)
        assert b_done.is_set() and order == ["a", "b"]
        with node_b.read() as connection:
            assert changes.latest_seq(connection) == seq_a + 1
    finally:
        node_a.dispose()
        node_b.dispose()


def _wait_for_advisory_lock_waiter(database: Database) -> None:
    """Block until another session waits on an advisory lock (polls pg_locks)."""
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    for _ in range(6000):
        with database.engine.connect() as probe:
            if probe.execute(query).scalar():
                return
        threading.Event().wait(0.01)
    raise AssertionError("the second writer never waited for the write lock")


def test_postgres_keeps_the_instant_whatever_the_server_zone(pg_url: str) -> None:
    """A server whose default zone is not UTC still returns the instant that was stored."""
    database = Database(create_store_engine(pg_url))
    try:
        with database.engine.connect() as connection:
            name = connection.execute(text("SELECT current_database()")).scalar()
            connection.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Kolkata'"))
            connection.commit()
        database.dispose()
        collection = _ready(database)
        with database.read() as connection:
            row = repository.get_collection(connection, "notes")
        assert row.id == collection and row.created_at == NOW
    finally:
        database.dispose()


def test_an_unreachable_postgres_is_storage_unavailable_with_a_remedy(tmp_path: Path) -> None:
    """A database server that is down is a 503-class StorageUnavailableError naming the
    setting, not an unexplained 500."""
    url = f"postgresql+psycopg://postgres@/appliance?host={tmp_path}&port=1"
    database = Database(create_store_engine(url))
    try:
        with pytest.raises(StorageUnavailableError) as refused, database.write():
            pass
    finally:
        database.dispose()
    assert "cannot be reached" in refused.value.message
    assert "database.url" in refused.value.remedy
