"""Item row ids (the index keys) are never reused: schema v4 upgrades an older store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, delete, text

from appliance.clock import FixedClock
from appliance.store import migrations, schema
from appliance.store.database import Database, create_store_engine
from appliance.store.migrations import LATEST_VERSION, current_version, migrate

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# The items table as releases before schema version 4 created it (no AUTOINCREMENT).
_V1_ITEMS = """
CREATE TABLE items (
    row_id INTEGER NOT NULL PRIMARY KEY, item_id VARCHAR(128) NOT NULL,
    collection_id INTEGER NOT NULL REFERENCES collections (id),
    subject VARCHAR(40) NOT NULL REFERENCES subjects (pseudonym),
    modality VARCHAR(16) NOT NULL, policy_labels JSON NOT NULL, obligations JSON NOT NULL,
    retention_deadline DATETIME, created_at DATETIME NOT NULL, last_access_at DATETIME,
    space_version VARCHAR(80) NOT NULL, key_version INTEGER NOT NULL,
    vector_ct BLOB NOT NULL, metadata_ct BLOB NOT NULL,
    CONSTRAINT uq_items_collection_item UNIQUE (collection_id, item_id)
)
"""


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A real SQLite store file."""
    db = Database(create_store_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    yield db
    db.dispose()


def _insert(connection: Connection, item_id: str) -> int:
    result = connection.execute(
        schema.items.insert().values(
            item_id=item_id,
            collection_id=1,
            subject="p1",
            modality="text",
            policy_labels=[],
            obligations=[],
            created_at=NOW,
            space_version="s",
            key_version=1,
            vector_ct=b"v",
            metadata_ct=b"m",
        )
    )
    return int(result.inserted_primary_key[0])


def _seed(connection: Connection) -> None:
    connection.execute(
        schema.collections.insert().values(id=1, name="notes", dimension=4, created_at=NOW)
    )
    connection.execute(
        schema.subjects.insert().values(pseudonym="p1", created_at=NOW, last_interaction_at=NOW)
    )


def test_fresh_store_never_reuses_the_highest_erased_row_id(database: Database) -> None:
    """Erase the newest item, insert another: it gets a new row id, not the erased one."""
    migrate(database, FixedClock(NOW))
    with database.write() as connection:
        _seed(connection)
        _insert(connection, "a")
        erased = _insert(connection, "b")
        connection.execute(delete(schema.items).where(schema.items.c.row_id == erased))
        assert _insert(connection, "c") > erased


def test_v3_store_is_rebuilt_with_never_reused_ids_keeping_every_row(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store at version 3 (ids reusable) keeps its rows through v4 and stops reusing ids."""
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:3])
    monkeypatch.setattr(migrations, "LATEST_VERSION", 3)
    migrate(database, FixedClock(NOW))
    with database.write() as connection:
        connection.execute(text("DROP TABLE items"))
        connection.execute(text(_V1_ITEMS))
        _seed(connection)
        rows = [_insert(connection, name) for name in ("a", "b", "c")]
        connection.execute(delete(schema.items).where(schema.items.c.row_id == rows[-1]))
        # the old table hands the freed id out again: the bug this version fixes
        assert _insert(connection, "reused") == rows[-1]
        connection.execute(delete(schema.items).where(schema.items.c.item_id == "reused"))
    monkeypatch.undo()
    assert migrate(database, FixedClock(NOW)) == list(range(4, LATEST_VERSION + 1))
    assert current_version(database) == LATEST_VERSION
    with database.write() as connection:
        ddl = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE type='table' AND name='items'")
        ).scalar_one()
        assert "AUTOINCREMENT" in ddl
        kept = connection.execute(text("SELECT row_id, item_id FROM items ORDER BY row_id"))
        assert [tuple(r) for r in kept] == [(rows[0], "a"), (rows[1], "b")]
        erased = _insert(connection, "d")
        connection.execute(delete(schema.items).where(schema.items.c.row_id == erased))
        assert _insert(connection, "e") > erased
