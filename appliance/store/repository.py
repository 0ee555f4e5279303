"""Collections, subjects and items as rows; everything sensitive arrives already sealed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from appliance.domain.types import Pseudonym
from appliance.errors import ConflictError, NotFoundError
from appliance.store import changes
from appliance.store.schema import collections, data_keys, items, subjects


@dataclass(frozen=True)
class CollectionRow:
    """A collection as stored."""

    id: int
    name: str
    dimension: int
    created_at: datetime


@dataclass(frozen=True)
class ItemRow:
    """An item as stored: ciphertext fields still sealed."""

    row_id: int
    item_id: str
    collection_id: int
    subject: Pseudonym
    modality: str
    policy_labels: tuple[str, ...]
    obligations: tuple[str, ...]
    retention_deadline: datetime | None
    created_at: datetime
    last_access_at: datetime | None
    space_version: str
    key_version: int
    vector_ct: bytes
    metadata_ct: bytes
    record_format: int = 1


@dataclass(frozen=True)
class NewItemRow:
    """What an insert needs."""

    item_id: str
    subject: Pseudonym
    modality: str
    policy_labels: Sequence[str]
    obligations: Sequence[str]
    retention_deadline: datetime | None
    space_version: str
    key_version: int
    vector_ct: bytes
    metadata_ct: bytes
    record_format: int = 1


def _collection(record: object) -> CollectionRow:
    r = record
    return CollectionRow(r.id, r.name, r.dimension, r.created_at)  # type: ignore[attr-defined]


def _item(record: object) -> ItemRow:
    r = record
    return ItemRow(
        row_id=r.row_id,  # type: ignore[attr-defined]
        item_id=r.item_id,  # type: ignore[attr-defined]
        collection_id=r.collection_id,  # type: ignore[attr-defined]
        subject=Pseudonym(r.subject),  # type: ignore[attr-defined]
        modality=r.modality,  # type: ignore[attr-defined]
        policy_labels=tuple(r.policy_labels),  # type: ignore[attr-defined]
        obligations=tuple(r.obligations),  # type: ignore[attr-defined]
        retention_deadline=r.retention_deadline,  # type: ignore[attr-defined]
        created_at=r.created_at,  # type: ignore[attr-defined]
        last_access_at=r.last_access_at,  # type: ignore[attr-defined]
        space_version=r.space_version,  # type: ignore[attr-defined]
        key_version=r.key_version,  # type: ignore[attr-defined]
        vector_ct=bytes(r.vector_ct),  # type: ignore[attr-defined]
        metadata_ct=bytes(r.metadata_ct),  # type: ignore[attr-defined]
        record_format=int(r.record_format),  # type: ignore[attr-defined]
    )


@contextmanager
def _statement(connection: Connection) -> Iterator[None]:
    """A failed statement leaves the transaction usable, as on SQLite: PostgreSQL aborts
    the whole transaction on an error unless the statement runs in a savepoint."""
    if connection.dialect.name == "sqlite":
        yield
        return
    with connection.begin_nested():
        yield


# -- collections -------------------------------------------------------------------------


def create_collection(
    connection: Connection, name: str, dimension: int, now: datetime
) -> CollectionRow:
    """Insert a collection; ``ConflictError`` if the name is taken."""
    try:
        with _statement(connection):
            result = connection.execute(
                collections.insert().values(name=name, dimension=dimension, created_at=now)
            )
    except SqlIntegrityError as exc:
        raise ConflictError(f"collection {name!r} already exists") from exc
    return CollectionRow(int(result.inserted_primary_key[0]), name, dimension, now)


def get_collection(connection: Connection, name: str) -> CollectionRow:
    """A collection by name, or ``NotFoundError``."""
    record = connection.execute(select(collections).where(collections.c.name == name)).first()
    if record is None:
        raise NotFoundError(f"collection {name!r} does not exist", remedy="create it first")
    return _collection(record)


def list_collections(connection: Connection) -> list[CollectionRow]:
    """Every collection, by name."""
    records = connection.execute(select(collections).order_by(collections.c.name)).all()
    return [_collection(r) for r in records]


# -- subjects ----------------------------------------------------------------------------


def touch_subject(connection: Connection, subject: Pseudonym, now: datetime) -> None:
    """Record an interaction with a subject, creating the row on first sight."""
    updated = connection.execute(
        update(subjects)
        .where(subjects.c.pseudonym == subject)
        .values(last_interaction_at=now, erased_at=None)
    )
    if not updated.rowcount:
        connection.execute(
            subjects.insert().values(pseudonym=subject, created_at=now, last_interaction_at=now)
        )


def mark_subject_erased(connection: Connection, subject: Pseudonym, now: datetime) -> bool:
    """Flag a subject as erased; False if the subject was never seen."""
    result = connection.execute(
        update(subjects).where(subjects.c.pseudonym == subject).values(erased_at=now)
    )
    return bool(result.rowcount)


# -- items -------------------------------------------------------------------------------


def insert_items(
    connection: Connection, collection_id: int, rows: Sequence[NewItemRow], now: datetime
) -> list[int]:
    """Insert items; returns their row ids (the index keys). Duplicate ids conflict.

    On a shared store (PostgreSQL) the insert is also recorded in the change log, in the
    same transaction, so that every node's live indexes follow it."""
    row_ids: list[int] = []
    for row in rows:
        try:
            with _statement(connection):
                result = connection.execute(
                    items.insert().values(
                        item_id=row.item_id,
                        collection_id=collection_id,
                        subject=row.subject,
                        modality=row.modality,
                        policy_labels=list(row.policy_labels),
                        obligations=list(row.obligations),
                        retention_deadline=row.retention_deadline,
                        created_at=now,
                        space_version=row.space_version,
                        key_version=row.key_version,
                        vector_ct=row.vector_ct,
                        metadata_ct=row.metadata_ct,
                        record_format=row.record_format,
                    )
                )
        except SqlIntegrityError as exc:
            raise ConflictError(
                "an item with this id already exists in this collection",
                remedy="use a new id, or leave it out to have one assigned",
            ) from exc
        row_ids.append(int(result.inserted_primary_key[0]))
    if row_ids and connection.dialect.name != "sqlite":
        # other nodes add these rows to their live indexes from the change log
        name = connection.execute(
            select(collections.c.name).where(collections.c.id == collection_id)
        ).scalar_one()
        changes.record(
            connection, kind=changes.ITEMS_STORED, now=now, collection=name, row_ids=row_ids
        )
    return row_ids


def items_by_row_ids(
    connection: Connection, collection_id: int, row_ids: Iterable[int]
) -> list[ItemRow]:
    """The items among ``row_ids`` that still exist, expired or not, by row id."""
    wanted = list(row_ids)
    if not wanted:
        return []
    query = (
        select(items)
        .where(and_(items.c.collection_id == collection_id, items.c.row_id.in_(wanted)))
        .order_by(items.c.row_id)
    )
    return [_item(r) for r in connection.execute(query)]


def live_items_by_row_ids(
    connection: Connection, collection_id: int, row_ids: Iterable[int], now: datetime
) -> dict[int, ItemRow]:
    """The items among ``row_ids`` that still exist and have not expired."""
    wanted = list(row_ids)
    if not wanted:
        return {}
    records = connection.execute(
        select(items).where(
            and_(
                items.c.collection_id == collection_id,
                items.c.row_id.in_(wanted),
                or_(items.c.retention_deadline.is_(None), items.c.retention_deadline > now),
            )
        )
    ).all()
    return {r.row_id: _item(r) for r in records}


def items_of_collection(connection: Connection, collection_id: int) -> Iterator[ItemRow]:
    """Every item of a collection (index rebuilds)."""
    query = select(items).where(items.c.collection_id == collection_id).order_by(items.c.row_id)
    for record in connection.execute(query):
        yield _item(record)


def items_of_subject(connection: Connection, subject: Pseudonym) -> list[tuple[int, int]]:
    """(collection_id, row_id) of every item of a subject."""
    records = connection.execute(
        select(items.c.collection_id, items.c.row_id).where(items.c.subject == subject)
    ).all()
    return [(int(c), int(r)) for c, r in records]


def delete_items(connection: Connection, row_ids: Sequence[int]) -> int:
    """Delete items by row id; returns how many went."""
    if not row_ids:
        return 0
    result = connection.execute(delete(items).where(items.c.row_id.in_(list(row_ids))))
    return result.rowcount or 0


def touch_items(connection: Connection, row_ids: Sequence[int], now: datetime) -> None:
    """Record a read access time on items."""
    if row_ids:
        connection.execute(
            update(items).where(items.c.row_id.in_(list(row_ids))).values(last_access_at=now)
        )


def count_items(connection: Connection, collection_id: int | None = None) -> int:
    """How many items exist (in a collection, or overall)."""
    query = select(func.count()).select_from(items)
    if collection_id is not None:
        query = query.where(items.c.collection_id == collection_id)
    return int(connection.execute(query).scalar_one())


def count_items_without_key(connection: Connection) -> int:
    """Items whose subject has no data key: unreadable, so reported (never dropped silently)."""
    keyed = select(data_keys.c.owner).where(data_keys.c.kind == "subject")
    query = select(func.count()).select_from(items).where(items.c.subject.not_in(keyed))
    return int(connection.execute(query).scalar_one())
