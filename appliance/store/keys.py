"""Rows of wrapped data keys. The store never sees an unwrapped key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, select, update

from appliance.store.schema import data_keys, shred_requests


@dataclass(frozen=True)
class WrappedKeyRow:
    """One wrapped data key as stored."""

    id: int
    kind: str
    owner: str
    version: int
    kek_version: int
    wrapped: bytes


def _row(record: object) -> WrappedKeyRow:
    return WrappedKeyRow(
        id=record.id,  # type: ignore[attr-defined]
        kind=record.kind,  # type: ignore[attr-defined]
        owner=record.owner,  # type: ignore[attr-defined]
        version=record.version,  # type: ignore[attr-defined]
        kek_version=record.kek_version,  # type: ignore[attr-defined]
        wrapped=bytes(record.wrapped),  # type: ignore[attr-defined]
    )


def find_key(connection: Connection, kind: str, owner: str) -> WrappedKeyRow | None:
    """The newest wrapped key of an owner, if any."""
    record = connection.execute(
        select(data_keys)
        .where(and_(data_keys.c.kind == kind, data_keys.c.owner == owner))
        .order_by(data_keys.c.version.desc())
        .limit(1)
    ).first()
    return _row(record) if record else None


def insert_key(
    connection: Connection,
    *,
    kind: str,
    owner: str,
    version: int,
    kek_version: int,
    wrapped: bytes,
    now: datetime,
) -> None:
    """Store a newly wrapped key."""
    connection.execute(
        data_keys.insert().values(
            kind=kind,
            owner=owner,
            version=version,
            kek_version=kek_version,
            wrapped=wrapped,
            created_at=now,
        )
    )


def delete_keys(connection: Connection, kind: str, owner: str) -> int:
    """Destroy every version of an owner's key (crypto-shredding); returns rows removed."""
    result = connection.execute(
        delete(data_keys).where(and_(data_keys.c.kind == kind, data_keys.c.owner == owner))
    )
    return result.rowcount or 0


def keys_not_on(connection: Connection, kek_version: int, limit: int) -> list[WrappedKeyRow]:
    """A batch of wrapped keys still wrapped under another KEK version."""
    records = connection.execute(
        select(data_keys)
        .where(data_keys.c.kek_version != kek_version)
        .order_by(data_keys.c.id)
        .limit(limit)
    ).all()
    return [_row(r) for r in records]


def rewrap_key(
    connection: Connection, row: WrappedKeyRow, *, kek_version: int, wrapped: bytes
) -> bool:
    """Replace a key's wrapping if it is still as read (compare-and-set); True if replaced."""
    result = connection.execute(
        update(data_keys)
        .where(and_(data_keys.c.id == row.id, data_keys.c.kek_version == row.kek_version))
        .values(kek_version=kek_version, wrapped=wrapped)
    )
    return (result.rowcount or 0) == 1


def count_by_kek_version(connection: Connection) -> dict[int, int]:
    """How many wrapped keys each KEK version protects."""
    records = connection.execute(
        select(data_keys.c.kek_version, func.count()).group_by(data_keys.c.kek_version)
    ).all()
    return {int(version): int(count) for version, count in records}


def count_by_kind(connection: Connection) -> dict[str, int]:
    """How many wrapped keys of each kind exist."""
    records = connection.execute(
        select(data_keys.c.kind, func.count()).group_by(data_keys.c.kind)
    ).all()
    return {str(kind): int(count) for kind, count in records}


def iter_all(connection: Connection) -> Iterator[WrappedKeyRow]:
    """Every wrapped key (tests and integrity sweeps)."""
    for record in connection.execute(select(data_keys).order_by(data_keys.c.id)):
        yield _row(record)


# -- pending KEK shreds ---------------------------------------------------------------------


@dataclass(frozen=True)
class ShredRequest:
    """A pending KEK shred: an erasure that backups still hold until the KEK rotates."""

    id: int
    reason: str
    requested_at: datetime
    due_at: datetime


def request_shred(
    connection: Connection,
    *,
    reason: str,
    change_seq: int | None,
    now: datetime,
    due_at: datetime,
) -> int:
    """Record that the KEK must rotate by ``due_at``; returns the request id."""
    result = connection.execute(
        shred_requests.insert().values(
            reason=reason, change_seq=change_seq, requested_at=now, due_at=due_at
        )
    )
    return int(result.inserted_primary_key[0])


def pending_shreds(connection: Connection) -> list[ShredRequest]:
    """Every shred request not yet carried out, oldest due first."""
    query = (
        select(shred_requests)
        .where(shred_requests.c.done_at.is_(None))
        .order_by(shred_requests.c.due_at, shred_requests.c.id)
    )
    return [
        ShredRequest(int(r.id), r.reason, r.requested_at, r.due_at)
        for r in connection.execute(query)
    ]


def complete_shreds(
    connection: Connection, up_to_id: int, *, now: datetime, kek_version: int
) -> int:
    """Mark pending requests up to ``up_to_id`` done by the rotation to ``kek_version``."""
    result = connection.execute(
        update(shred_requests)
        .where(and_(shred_requests.c.done_at.is_(None), shred_requests.c.id <= up_to_id))
        .values(done_at=now, kek_version=kek_version)
    )
    return result.rowcount or 0
