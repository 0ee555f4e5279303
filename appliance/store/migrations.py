"""Schema migrations, numbered from the first version; applied in order, each once.

A migration is a function of a connection inside the migration transaction. Once a
version has shipped its function never changes; changes come as new versions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, inspect, select, text

from appliance.clock import Clock
from appliance.errors import ConfigError
from appliance.store import schema
from appliance.store.database import Database


@dataclass(frozen=True)
class Migration:
    """One schema version."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_initial(connection: Connection) -> None:
    tables = [
        schema.data_keys,
        schema.subjects,
        schema.collections,
        schema.items,
        schema.consents,
    ]
    schema.metadata.create_all(connection, tables=tables)


def _v2_api_tokens(connection: Connection) -> None:
    schema.metadata.create_all(connection, tables=[schema.api_tokens])


def _v3_index_snapshots(connection: Connection) -> None:
    schema.metadata.create_all(connection, tables=[schema.index_snapshots])


# Today's items columns, frozen: later versions change the table with their own migrations.
_V4_ITEMS_COLUMNS = (
    "row_id, item_id, collection_id, subject, modality, policy_labels, obligations, "
    "retention_deadline, created_at, last_access_at, space_version, key_version, "
    "vector_ct, metadata_ct"
)
_V4_ITEMS_COPY = f"INSERT INTO items_v4 ({_V4_ITEMS_COLUMNS}) SELECT {_V4_ITEMS_COLUMNS} FROM items"  # noqa: S608 constants only
_V4_ITEMS_TABLE = """
CREATE TABLE items_v4 (
    row_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    item_id VARCHAR(128) NOT NULL,
    collection_id INTEGER NOT NULL,
    subject VARCHAR(40) NOT NULL,
    modality VARCHAR(16) NOT NULL,
    policy_labels JSON NOT NULL,
    obligations JSON NOT NULL,
    retention_deadline DATETIME,
    created_at DATETIME NOT NULL,
    last_access_at DATETIME,
    space_version VARCHAR(80) NOT NULL,
    key_version INTEGER NOT NULL,
    vector_ct BLOB NOT NULL,
    metadata_ct BLOB NOT NULL,
    CONSTRAINT uq_items_collection_item UNIQUE (collection_id, item_id),
    FOREIGN KEY(collection_id) REFERENCES collections (id),
    FOREIGN KEY(subject) REFERENCES subjects (pseudonym)
)
"""


def _v4_never_reused_ids(connection: Connection) -> None:
    """Items get AUTOINCREMENT row ids (SQLite otherwise reuses the highest freed id, so an
    erased item's index key could come back as another subject's item); the change log and
    the pending-shred table arrive with it."""
    if connection.dialect.name == "sqlite":
        connection.execute(text(_V4_ITEMS_TABLE))
        connection.execute(text(_V4_ITEMS_COPY))
        connection.execute(text("DROP TABLE items"))
        connection.execute(text("ALTER TABLE items_v4 RENAME TO items"))
        connection.execute(text("CREATE INDEX ix_items_subject ON items (subject)"))
        connection.execute(text("CREATE INDEX ix_items_deadline ON items (retention_deadline)"))
    # elsewhere (PostgreSQL) identity sequences never hand out a value twice
    schema.metadata.create_all(connection, tables=[schema.change_log, schema.shred_requests])


def _v5_item_record_format(connection: Connection) -> None:
    columns = {c["name"] for c in inspect(connection).get_columns("items")}
    if "record_format" not in columns:  # a store created from today's schema already has it
        connection.exec_driver_sql(
            "ALTER TABLE items ADD COLUMN record_format INTEGER NOT NULL DEFAULT 1"
        )


def _v6_shared_store(connection: Connection) -> None:
    """A shared store (PostgreSQL) keeps the audit trail's lines, so every node appends to
    one chain, and each node's latest snapshot ids; the embedded SQLite store keeps the
    audit files beside it and one snapshot record per index (nothing changes there)."""
    if connection.dialect.name != "sqlite":
        tables = [schema.audit_lines, schema.node_index_snapshots]
        schema.metadata.create_all(connection, tables=tables)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema: keys, subjects, collections, items, consents", _v1_initial),
    Migration(2, "API bearer tokens (hashed), roles, expiry, revocation", _v2_api_tokens),
    Migration(3, "latest snapshot id per index (rollback protection)", _v3_index_snapshots),
    Migration(
        4, "never-reused item row ids; erasure change log; pending KEK shreds", _v4_never_reused_ids
    ),
    Migration(
        5,
        "items.record_format: access-control columns bound into sealed records",
        _v5_item_record_format,
    ),
    Migration(
        6,
        "shared store (PostgreSQL only): audit trail lines, per-node snapshot ids",
        _v6_shared_store,
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(database: Database) -> int:
    """The highest applied version, 0 for an empty database."""
    with database.read() as connection:
        if not inspect(connection).has_table("schema_migrations"):
            return 0
        versions = connection.execute(select(schema.schema_migrations.c.version)).scalars().all()
        return max(versions, default=0)


def migrate(database: Database, clock: Clock) -> list[int]:
    """Apply every pending migration; returns the versions applied (empty when current)."""
    applied: list[int] = []
    with database.write() as connection:
        schema.metadata.create_all(connection, tables=[schema.schema_migrations])
        done = set(connection.execute(select(schema.schema_migrations.c.version)).scalars())
        if done and max(done) > LATEST_VERSION:
            raise ConfigError(
                f"database schema version {max(done)} is newer than this release "
                f"({LATEST_VERSION})",
                remedy="upgrade the appliance package; never downgrade over a newer store",
            )
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            migration.apply(connection)
            connection.execute(
                schema.schema_migrations.insert().values(
                    version=migration.version,
                    description=migration.description,
                    applied_at=clock.now(),
                )
            )
            applied.append(migration.version)
    return applied


def require_current(database: Database) -> None:
    """Refuse to run on a store that is not initialised or not migrated."""
    version = current_version(database)
    if version == 0:
        raise ConfigError("the store is not initialised", remedy="run `appliance init`")
    if version != LATEST_VERSION:
        raise ConfigError(
            f"store schema is at version {version}, this release needs {LATEST_VERSION}",
            remedy="run `appliance init` to apply migrations",
        )
