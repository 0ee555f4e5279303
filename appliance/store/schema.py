"""Tables of the store. Vectors and metadata are ciphertext; subjects are pseudonyms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        if dialect.name != "sqlite":  # timestamptz keeps the instant itself
            return value.astimezone(UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
)

data_keys = Table(
    "data_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("kind", "owner", "version", name="uq_data_keys_owner_version"),
)

subjects = Table(
    "subjects",
    metadata,
    Column("pseudonym", String(40), primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_interaction_at", UtcDateTime(), nullable=False),
    Column("erased_at", UtcDateTime()),
)

collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("dimension", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("row_id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(128), nullable=False),
    Column("collection_id", Integer, ForeignKey("collections.id"), nullable=False),
    Column("subject", String(40), ForeignKey("subjects.pseudonym"), nullable=False),
    Column("modality", String(16), nullable=False),
    Column("policy_labels", JSON, nullable=False),
    Column("obligations", JSON, nullable=False),
    Column("retention_deadline", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_access_at", UtcDateTime()),
    Column("space_version", String(80), nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("vector_ct", LargeBinary, nullable=False),
    Column("metadata_ct", LargeBinary, nullable=False),
    # 1: sealed before schema v5 (legacy associated data); 2: access-control columns bound
    Column("record_format", Integer, nullable=False, server_default="1"),
    UniqueConstraint("collection_id", "item_id", name="uq_items_collection_item"),
    sqlite_autoincrement=True,  # a row id (the index key) is never reused, even after erasure
)
Index("ix_items_subject", items.c.subject)
Index("ix_items_deadline", items.c.retention_deadline)

consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(40), ForeignKey("subjects.pseudonym"), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("category", String(64), nullable=False),
    Column("granted_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("evidence_ref", String(200), nullable=False),
    Column("revoked_at", UtcDateTime()),
)
Index("ix_consents_subject", consents.c.subject)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("label", String(80), nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
    Column("last_used_at", UtcDateTime()),
)

index_snapshots = Table(
    "index_snapshots",
    metadata,
    Column("collection", String(63), primary_key=True),
    Column("space", String(80), primary_key=True),
    Column("snapshot_id", String(64), nullable=False),
    Column("count", Integer, nullable=False),
    Column("saved_at", UtcDateTime(), nullable=False),
)

change_log = Table(
    "change_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("collection", String(63)),
    Column("subject", String(40)),
    Column("row_ids", JSON, nullable=False),
    Column("key_owners", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    sqlite_autoincrement=True,
)
"""Append-only record of erasures, read by every process holding indexes or key caches."""

shred_requests = Table(
    "shred_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reason", String(32), nullable=False),
    Column("change_seq", Integer),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("done_at", UtcDateTime()),
    Column("kek_version", Integer),
    sqlite_autoincrement=True,
)
"""Pending KEK shreds: a rotation that retires the KEK versions an erasure left in backups."""
Index("ix_shred_requests_pending", shred_requests.c.done_at, shred_requests.c.due_at)

audit_lines = Table(
    "audit_lines",
    metadata,
    Column("stream", String(32), primary_key=True),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("line", LargeBinary, nullable=False),
)
"""The audit trail and its checkpoints when the store is shared (PostgreSQL): one row per
line of ``trail.jsonl`` / ``checkpoints.jsonl``; the key makes a fork impossible (two
writers cannot both write line N). The embedded SQLite default keeps the files instead."""

node_index_snapshots = Table(
    "node_index_snapshots",
    metadata,
    Column("node", String(32), primary_key=True),
    Column("collection", String(63), primary_key=True),
    Column("space", String(80), primary_key=True),
    Column("snapshot_id", String(64), nullable=False),
    Column("count", Integer, nullable=False),
    Column("saved_at", UtcDateTime(), nullable=False),
)
"""``index_snapshots`` per node, for a shared store: each node keeps its own snapshot files,
so each has its own latest snapshot id (rollback protection)."""
