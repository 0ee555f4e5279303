"""Retention: deadlines from policy decisions at ingest, and erasure of expired items.

``RetentionService.run`` takes every item whose ``retention_deadline`` has passed down
the same path as subject erasure: rows deleted (SQLite secure delete, WAL folded),
removed from the live index and compacted, snapshots rewritten, and, when a subject has
no item left, their data key destroyed (crypto-shredding). The erasure is recorded in the
change log in the same transaction, so a running server drops the rows from its live
indexes and the keys from its cache before its next search, ingest or snapshot; the
indexes get new key versions and a KEK shred is scheduled, as for subject erasure. Each
erased item is audited by pseudonym and row id; nothing of its content is read.

Deadlines are fixed at ingest from the strictest retention obligation (for BIPA: 3
years after the interaction that produced the item; an operator erases earlier when the
purpose is satisfied, with ``appliance subjects delete``). Searches already hide expired
items before the run erases them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from appliance.audit import AuditTrail
from appliance.clock import Clock, isoformat
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.domain.types import Actor, Pseudonym
from appliance.observability import get_logger
from appliance.policy.decisions import Decision
from appliance.services.indexes import IndexManager
from appliance.services.keys import KeyService
from appliance.store import changes, repository
from appliance.store.database import Database
from appliance.store.schema import collections, items

log = get_logger(__name__)
BATCH_SIZE = 500


@dataclass(frozen=True)
class StoredPolicy:
    """What an item keeps of its decision: labels, obligations and retention deadline."""

    policy_labels: tuple[str, ...]
    obligations: tuple[str, ...]
    retention_deadline: datetime | None

    def item_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``NewItem`` (``NewItem(..., **stored.item_fields())``)."""
        return {
            "policy_labels": self.policy_labels,
            "obligations": self.obligations,
            "retention_deadline": self.retention_deadline,
        }


def deadline_for(decision: Decision) -> datetime | None:
    """The retention deadline of an item stored under ``decision`` (the strictest one)."""
    return decision.retention_deadline


def stored_policy(decision: Decision) -> StoredPolicy:
    """The policy fields to store with an item allowed by ``decision``."""
    if not decision.allowed:
        raise ValueError("a denied input is not stored")
    return StoredPolicy(decision.labels, decision.obligation_labels, deadline_for(decision))


@dataclass(frozen=True)
class _Expired:
    row_id: int
    subject: Pseudonym
    collection: str
    space: str
    modality: str
    deadline: datetime


class RetentionService:
    """Finds items past their retention deadline and erases them by crypto-shredding."""

    def __init__(
        self,
        *,
        database: Database,
        keyring: KeyRing,
        indexes: IndexManager,
        audit: AuditTrail,
        clock: Clock,
        batch_size: int = BATCH_SIZE,
        keys: KeyService | None = None,
    ) -> None:
        self._database = database
        self._keyring = keyring
        self._indexes = indexes
        self._audit = audit
        self._clock = clock
        self._batch = batch_size
        self._keys = keys

    def due(self, now: datetime | None = None) -> int:
        """How many items have a retention deadline at or before ``now``."""
        moment = now or self._clock.now()
        with self._database.read() as connection:
            query = (
                select(func.count()).select_from(items).where(items.c.retention_deadline <= moment)
            )
            return int(connection.execute(query).scalar_one())

    def run(self, now: datetime | None = None, *, actor: Actor | None = None) -> int:
        """Erase every item whose deadline is at or before ``now``; returns how many."""
        moment = now or self._clock.now()
        actor = actor or Actor.operator()
        total = 0
        keys_destroyed = 0
        for batch, destroyed in self._batches(moment, actor):
            total += len(batch)
            keys_destroyed += destroyed
            by_collection: dict[str, list[_Expired]] = defaultdict(list)
            for item in batch:
                by_collection[item.collection].append(item)
            for name, erased in by_collection.items():
                self._indexes.remove(name, [e.row_id for e in erased])
                self._indexes.purge_snapshots(name, {e.space for e in erased})
        if total:
            self._database.checkpoint_wal()
        if self._keys is not None:
            self._keys.shred_due(actor=actor, now=moment)  # earlier erasures whose shred is due
        self._audit.append(
            actor=actor,
            action="retention.run",
            outcome="ok",
            details={"erased": total, "keys_destroyed": keys_destroyed, "now": isoformat(moment)},
        )
        log.info("retention.run", erased=total, keys_destroyed=keys_destroyed)
        return total

    def _batches(self, now: datetime, actor: Actor) -> Iterator[tuple[list[_Expired], int]]:
        while True:
            with self._database.write() as connection:
                batch = self._expired(connection, now)
                if not batch:
                    return
                repository.delete_items(connection, [e.row_id for e in batch])
                shredded = self._shred_emptied(connection, {e.subject for e in batch})
                self._record_changes(connection, batch, shredded, now)
                for item in batch:
                    self._audit.append(
                        actor=actor,
                        action="retention.erase",
                        outcome="ok",
                        collection=item.collection,
                        subject=item.subject,
                        details={
                            "row_id": item.row_id,
                            "modality": item.modality,
                            "deadline": isoformat(item.deadline),
                            "key_destroyed": item.subject in shredded,
                        },
                    )
            self._indexes.changes.announce()  # other processes: re-read the change log
            yield batch, len(shredded)

    def _record_changes(
        self,
        connection: Connection,
        batch: list[_Expired],
        shredded: set[Pseudonym],
        now: datetime,
    ) -> None:
        """Tell every other process (change log) and schedule the KEK shred."""
        by_collection: dict[str, list[int]] = defaultdict(list)
        for item in batch:
            by_collection[item.collection].append(item.row_id)
        moment = self._clock.now()
        seq = None
        for name, row_ids in sorted(by_collection.items()):
            seq = changes.record(
                connection, kind="rows-expired", now=moment, collection=name, row_ids=row_ids
            )
        if shredded:
            seq = changes.record(
                connection,
                kind="keys-destroyed",
                now=moment,
                key_owners=[(KeyKind.SUBJECT.value, s) for s in sorted(shredded)],
            )
        if self._keys is not None:
            self._keys.request_shred(connection, reason="retention", change_seq=seq, now=moment)

    def _expired(self, connection: Connection, now: datetime) -> list[_Expired]:
        query = (
            select(
                items.c.row_id,
                items.c.subject,
                items.c.space_version,
                items.c.modality,
                items.c.retention_deadline,
                collections.c.name,
            )
            .join(collections, collections.c.id == items.c.collection_id)
            .where(items.c.retention_deadline <= now)
            .order_by(items.c.retention_deadline, items.c.row_id)
            .limit(self._batch)
        )
        return [
            _Expired(
                int(r.row_id),
                Pseudonym(r.subject),
                r.name,
                r.space_version,
                r.modality,
                r.retention_deadline,
            )
            for r in connection.execute(query)
        ]

    def _shred_emptied(self, connection: Connection, subjects: set[Pseudonym]) -> set[Pseudonym]:
        """Destroy the key of each subject left with no item; returns those subjects."""
        shredded: set[Pseudonym] = set()
        for subject in sorted(subjects):
            left = connection.execute(
                select(func.count()).select_from(items).where(items.c.subject == subject)
            ).scalar_one()
            if not left and self._keyring.destroy(connection, KeyKind.SUBJECT, subject):
                shredded.add(subject)
        return shredded
