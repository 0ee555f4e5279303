"""Erasure by crypto-shredding: destroy the subject's key, drop their rows and index entries.

After ``erase``: the subject's data key is gone from the store (secure delete on, WAL
folded), so any copy of their ciphertext (a backup, a stale page) is undecryptable;
their items are gone from the live index at once, and every snapshot that held them is
compacted and rewritten.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from appliance.audit import AuditTrail
from appliance.clock import Clock
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.crypto.pseudonym import Pseudonymizer
from appliance.domain.types import Actor
from appliance.observability import get_logger
from appliance.services.indexes import IndexManager
from appliance.store import consents as consent_rows
from appliance.store import repository
from appliance.store.database import Database
from appliance.store.schema import collections, items

log = get_logger(__name__)


class ErasureService:
    """Erase every trace of a subject."""

    def __init__(
        self,
        *,
        database: Database,
        keyring: KeyRing,
        pseudonymize: Pseudonymizer,
        indexes: IndexManager,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._database = database
        self._keyring = keyring
        self._pseudonymize = pseudonymize
        self._indexes = indexes
        self._audit = audit
        self._clock = clock

    def erase_subject(self, subject_id: str, *, actor: Actor) -> int:
        """Erase a subject everywhere; idempotent; returns the number of items erased."""
        subject = self._pseudonymize(subject_id)
        by_collection: dict[str, set[str]] = defaultdict(set)
        row_ids_by_collection: dict[str, list[int]] = defaultdict(list)
        with self._database.write() as connection:
            query = (
                select(collections.c.name, items.c.row_id, items.c.space_version)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(items.c.subject == subject)
            )
            for name, row_id, space in connection.execute(query):
                by_collection[name].add(space)
                row_ids_by_collection[name].append(int(row_id))
            erased = repository.delete_items(
                connection, [r for rows in row_ids_by_collection.values() for r in rows]
            )
            keys = self._keyring.destroy(connection, KeyKind.SUBJECT, subject)
            known = repository.mark_subject_erased(connection, subject, self._clock.now())
            # An old release must not authorise new biometrics after erasure.
            revoked = consent_rows.revoke_subject_consents(connection, subject, self._clock.now())
            self._audit.append(
                actor=actor,
                action="subjects.erase",
                outcome="ok" if known else "not_found",
                subject=subject,
                details={"items": erased, "keys_destroyed": keys, "consents_revoked": revoked},
            )
        for name, row_ids in row_ids_by_collection.items():
            self._indexes.remove(name, row_ids)
            self._indexes.purge_snapshots(name, by_collection[name])
        self._database.checkpoint_wal()
        log.info("subjects.erased", subject=subject, items=erased)
        return erased
