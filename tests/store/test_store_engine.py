"""The store engine and migrations: WAL, full sync, secure delete, versioned schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from appliance.clock import FixedClock
from appliance.errors import ConfigError
from appliance.store import schema
from appliance.store.database import Database, create_store_engine, sqlite_journal_mode
from appliance.store.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    current_version,
    migrate,
    require_current,
)


@pytest.fixture
def database(tmp_path: Path) -> Database:
    """A real SQLite store file."""
    db = Database(create_store_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    yield db
    db.dispose()


def test_sqlite_runs_wal_full_sync_and_secure_delete(database: Database) -> None:
    """Every connection is in WAL mode with FULL sync, foreign keys and secure delete on."""
    assert sqlite_journal_mode(database) == "wal"
    with database.read() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2
        assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_apply_once_in_order(database: Database) -> None:
    """An empty store migrates to the latest version; a second run applies nothing."""
    clock = FixedClock()
    assert current_version(database) == 0
    with pytest.raises(ConfigError, match="appliance init"):
        require_current(database)
    assert migrate(database, clock) == [m.version for m in MIGRATIONS]
    assert migrate(database, clock) == []
    require_current(database)


def test_newer_schema_is_refused(database: Database) -> None:
    """A store written by a newer release is never opened by an older one."""
    clock = FixedClock()
    migrate(database, clock)
    with database.write() as connection:
        connection.execute(
            schema.schema_migrations.insert().values(
                version=LATEST_VERSION + 1, description="future", applied_at=clock.now()
            )
        )
    with pytest.raises(ConfigError, match="newer than this release"):
        migrate(database, clock)


def test_naive_datetimes_are_refused(database: Database) -> None:
    """The store only accepts aware UTC datetimes, so times never drift by zone."""
    from datetime import datetime

    migrate(database, FixedClock())
    with pytest.raises(Exception, match="naive datetime"), database.write() as connection:
        connection.execute(
            schema.collections.insert().values(
                name="x",
                dimension=3,
                created_at=datetime(2026, 1, 1),
            )
        )


def test_unsupported_database_url_names_the_setting() -> None:
    """Only SQLite and PostgreSQL URLs are accepted, with the setting named."""
    with pytest.raises(ConfigError, match=r"database\.url"):
        create_store_engine("mysql://x")
