"""Erasure by crypto-shredding: destroy the subject's key, drop their rows and index entries.

After ``erase_subject``: the subject's data key is gone from the store (secure delete on,
WAL folded), so their ciphertext (a stale page, a copy) is undecryptable with what the
store holds; their consent rows (with the evidence references) are deleted; an event in
the change log makes every other process drop their vectors from its live indexes and
their key from its cache; every index that held them gets a new key version (the old one
destroyed) and a rewritten snapshot; and a KEK shred is scheduled (or run at once with
``shred_now``), after which a backup taken before the erasure no longer opens with
anything the appliance holds.
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
from appliance.services.keys import KeyService
from appliance.store import changes, repository
from appliance.store import consents as consent_rows
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
        keys: KeyService | None = None,
    ) -> None:
        self._database = database
        self._keyring = keyring
        self._pseudonymize = pseudonymize
        self._indexes = indexes
        self._audit = audit
        self._clock = clock
        self._keys = keys

    def erase_subject(self, subject_id: str, *, actor: Actor, shred_now: bool = False) -> int:
        """Erase a subject everywhere; idempotent; returns the number of items erased.

        ``shred_now`` rotates the KEK at once (instead of by ``keys.shred_after_erasure_hours``)
        so that backups taken before this erasure stop opening now."""
        subject = self._pseudonymize(subject_id)
        spaces: dict[str, set[str]] = defaultdict(set)
        row_ids: dict[str, list[int]] = defaultdict(list)
        now = self._clock.now()
        with self._database.write() as connection:
            query = (
                select(collections.c.name, items.c.row_id, items.c.space_version)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(items.c.subject == subject)
            )
            for name, row_id, space in connection.execute(query):
                spaces[name].add(space)
                row_ids[name].append(int(row_id))
            erased = repository.delete_items(
                connection, [r for rows in row_ids.values() for r in rows]
            )
            keys = self._keyring.destroy(connection, KeyKind.SUBJECT, subject)
            known = repository.mark_subject_erased(connection, subject, now)
            # consent rows carry evidence references (plaintext) and must not outlive erasure;
            # without them no old release can authorise new biometrics either
            consents = consent_rows.delete_subject_consents(connection, subject)
            seq = changes.record(
                connection,
                kind="subject-erased",
                now=now,
                subject=subject,
                key_owners=[(KeyKind.SUBJECT.value, subject)],
            )
            for name, rows in row_ids.items():
                seq = changes.record(
                    connection, kind="rows-erased", now=now, collection=name, row_ids=rows
                )
            if self._keys is not None and (known or keys):
                self._keys.request_shred(connection, reason="erasure", change_seq=seq, now=now)
            self._audit.append(
                actor=actor,
                action="subjects.erase",
                outcome="ok" if known else "not_found",
                subject=subject,
                details={"items": erased, "keys_destroyed": keys, "consents_deleted": consents},
            )
        self._indexes.changes.announce()  # other processes: re-read the change log
        for name, rows in row_ids.items():
            self._indexes.remove(name, rows)
            self._indexes.purge_snapshots(name, spaces[name])
        self._database.checkpoint_wal()
        log.info("subjects.erased", subject=subject, items=erased)
        if shred_now and self._keys is not None:
            self._keys.shred_due(actor=actor, force=True)
        return erased
