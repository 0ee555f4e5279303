"""Store rows an ``IndexManager`` reads and writes: snapshot records, row ids, deadlines.

On the embedded SQLite store every process on the data directory shares one set of
snapshot files, so one snapshot record per index. On a shared store (PostgreSQL) each node
keeps its own files and records its own latest snapshot id under its node id (a random
name kept in the node's index directory), so one node's save never makes another's
snapshot look rolled back.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, delete, select

from appliance.audit import AuditTrail
from appliance.clock import Clock
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.crypto.records import RecordBinding, open_item_vector
from appliance.domain.types import Actor
from appliance.errors import IntegrityError, KeyUnavailableError
from appliance.index import VectorIndex
from appliance.observability import get_logger
from appliance.store.database import Database
from appliance.store.repository import CollectionRow, ItemRow
from appliance.store.schema import index_snapshots, items, node_index_snapshots

log = get_logger(__name__)

NODE_ID_FILE = "node-id"


@dataclass(frozen=True)
class OpenReport:
    """How an index came to be live: from its snapshot (and how many items the store added
    or removed since), or rebuilt from the store."""

    from_snapshot: bool
    snapshot_count: int
    added: int
    removed: int


def index_owner(collection: str, space: str) -> str:
    """The owner name of an index key."""
    return f"{collection}@{space}"


def node_id(directory: Path) -> str:
    """This node's id, created on first use in ``directory`` (the index directory)."""
    path = directory / NODE_ID_FILE
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = secrets.token_hex(8)
    temp = path.with_name(f".{NODE_ID_FILE}.{os.getpid()}.tmp")
    temp.write_text(f"{name}\n", "ascii")
    try:
        os.link(temp, path)  # first writer wins; a racing one reads the winner's id
    except FileExistsError:
        name = path.read_text("ascii").strip()
    finally:
        temp.unlink(missing_ok=True)
    return name


def record_snapshot(
    connection: Connection,
    collection: str,
    space: str,
    snapshot_id: str,
    count: int,
    clock: Clock,
    node: str | None,
) -> None:
    """Record the latest snapshot of an index (of this node, on a shared store)."""
    table = index_snapshots if node is None else node_index_snapshots
    key = (table.c.collection == collection) & (table.c.space == space)
    values = {"node": node} if node is not None else {}
    if node is not None:
        key = key & (table.c.node == node)
    connection.execute(delete(table).where(key))
    connection.execute(
        table.insert().values(
            collection=collection,
            space=space,
            snapshot_id=snapshot_id,
            count=count,
            saved_at=clock.now(),
            **values,
        )
    )


def recorded_snapshot(
    connection: Connection, collection: str, space: str, node: str | None
) -> str | None:
    """The latest snapshot id recorded for an index (of this node), None if never saved."""
    table = index_snapshots if node is None else node_index_snapshots
    key = (table.c.collection == collection) & (table.c.space == space)
    if node is not None:
        key = key & (table.c.node == node)
    return connection.execute(select(table.c.snapshot_id).where(key)).scalar()


def row_ids(connection: Connection, collection_id: int, space: str) -> set[int]:
    """Row ids of a collection's items in one space."""
    query = select(items.c.row_id).where(
        (items.c.collection_id == collection_id) & (items.c.space_version == space)
    )
    return {int(r) for r in connection.execute(query).scalars()}


def apply_deadlines(index: VectorIndex, keys: list[int], deadlines: list[float | None]) -> None:
    """Give the index the retention deadlines of the keys that have one."""
    dated = [(k, d) for k, d in zip(keys, deadlines, strict=True) if d is not None]
    if dated:
        ks, values = zip(*dated, strict=True)
        index.set_deadlines(np.asarray(ks, dtype=np.int64), np.asarray(values, dtype=np.float64))


@dataclass
class OpenedRows:
    """Vectors opened for an index, and how many items had no key (audited, never dropped
    silently)."""

    vectors: list[np.ndarray] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    deadlines: list[float | None] = field(default_factory=list)
    without_key: int = 0


def decrypt_rows(
    database: Database,
    keyring: KeyRing,
    audit: AuditTrail,
    collection: CollectionRow,
    rows: list[ItemRow],
) -> OpenedRows:
    """Open the vectors of stored rows; rows without a key or failing their check are left
    out, logged and audited."""
    opened = OpenedRows()
    with database.read() as connection:
        for row in rows:
            try:
                _, key = keyring.get(connection, KeyKind.SUBJECT, row.subject)
                binding = RecordBinding.of_row(row, collection.name)
                vector = open_item_vector(key, row.vector_ct, binding)
            except KeyUnavailableError:
                opened.without_key += 1
                _report_missing_key(audit, collection.name, row)
                continue
            except IntegrityError as exc:
                log.error("index.item_unreadable", collection=collection.name, error=str(exc))
                audit.append(
                    actor=Actor.operator(),
                    action="items.integrity_failure",
                    outcome="withheld",
                    collection=collection.name,
                    subject=row.subject,
                    details={"row_id": row.row_id},
                )
                continue
            opened.vectors.append(vector)
            opened.keys.append(row.row_id)
            opened.deadlines.append(
                row.retention_deadline.timestamp() if row.retention_deadline else None
            )
    return opened


def _report_missing_key(audit: AuditTrail, collection: str, row: ItemRow) -> None:
    """An item whose key is gone (erasure removes both at once): never dropped silently."""
    log.error("index.item_key_missing", collection=collection, subject=row.subject, row=row.row_id)
    audit.append(
        actor=Actor.operator(),
        action="items.key_missing",
        outcome="withheld",
        collection=collection,
        subject=row.subject,
        details={"row_id": row.row_id, "key_version": row.key_version},
    )
