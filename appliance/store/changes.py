"""The change log: an append-only sequence of changes every process can follow cheaply.

Erasures are recorded on every store; on a shared store (PostgreSQL, several nodes) stored
items are recorded too (``ITEMS_STORED``), so each node adds them to its live indexes.
Writers are serialised (see ``appliance.store.database``), so sequence numbers become
visible in order and a follower that read up to N never misses an event below N.

A process that holds live indexes or unwrapped keys compares the newest sequence number
with the one it has applied (one indexed ``max``) and, when behind, reads the events it
missed: which rows left which collection and which keys were destroyed or replaced.
Subjects appear only as pseudonyms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from appliance.store.schema import change_log

ITEMS_STORED = "items-stored"
"""Rows added to a collection (recorded on a shared store only)."""


@dataclass(frozen=True)
class ChangeEvent:
    """One recorded change: rows removed from (or, for ``ITEMS_STORED``, added to) a
    collection and keys that left the store."""

    seq: int
    kind: str
    collection: str | None
    subject: str | None
    row_ids: tuple[int, ...]
    key_owners: tuple[tuple[str, str], ...]
    """(kind, owner) of every data key destroyed or replaced by a new version."""


def record(
    connection: Connection,
    *,
    kind: str,
    now: datetime,
    collection: str | None = None,
    subject: str | None = None,
    row_ids: Sequence[int] = (),
    key_owners: Sequence[tuple[str, str]] = (),
) -> int:
    """Append an event inside the caller's transaction; returns its sequence number."""
    result = connection.execute(
        change_log.insert().values(
            kind=kind,
            collection=collection,
            subject=subject,
            row_ids=sorted({int(r) for r in row_ids}),
            key_owners=[[str(k), str(o)] for k, o in key_owners],
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


def latest_seq(connection: Connection) -> int:
    """The newest sequence number (0 when nothing was ever recorded)."""
    return int(connection.execute(select(func.max(change_log.c.seq))).scalar() or 0)


def events_after(connection: Connection, seq: int, limit: int = 1000) -> list[ChangeEvent]:
    """Events newer than ``seq``, oldest first."""
    query = select(change_log).where(change_log.c.seq > seq).order_by(change_log.c.seq)
    return [
        ChangeEvent(
            seq=int(r.seq),
            kind=r.kind,
            collection=r.collection,
            subject=r.subject,
            row_ids=tuple(int(x) for x in r.row_ids),
            key_owners=tuple((str(k), str(o)) for k, o in r.key_owners),
        )
        for r in connection.execute(query.limit(limit))
    ]
