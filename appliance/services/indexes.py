"""Live per-collection, per-space indexes: lazy load, reconcile with the store, snapshot.

The store is the source of truth. Loading a snapshot that fails its integrity check is
refused (audited) and the index is rebuilt from the store; a snapshot that is merely
behind (a crash after acknowledged writes) is reconciled item by item. Erasures made by
other processes reach the live indexes through the change log (``ChangeFeed``), checked
before every use. So that a crash
costs only the tail, the server snapshots changed indexes periodically
(``index.snapshot_every_seconds`` and ``index.snapshot_every_writes``) on a background
thread, not only at shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, delete, select

from appliance.audit import AuditTrail
from appliance.clock import Clock
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.crypto.records import RecordBinding, open_item_vector
from appliance.domain.types import Actor
from appliance.errors import IntegrityError, KeyUnavailableError
from appliance.index import IndexSpec, VectorIndex, load_snapshot, save_snapshot
from appliance.observability import get_logger
from appliance.services.changes import ChangeFeed
from appliance.settings import IndexSettings
from appliance.store import changes, repository
from appliance.store.database import Database
from appliance.store.repository import CollectionRow, ItemRow
from appliance.store.schema import index_snapshots, items

log = get_logger(__name__)
IndexId = tuple[str, str]


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


class IndexManager:
    """Holds the live indexes and their encrypted snapshots under ``directory``."""

    def __init__(
        self,
        *,
        directory: Path,
        settings: IndexSettings,
        database: Database,
        keyring: KeyRing,
        audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._directory = directory
        self._settings = settings
        self._database = database
        self._keyring = keyring
        self._audit = audit
        self._clock = clock
        self._live: dict[IndexId, VectorIndex] = {}
        self._dirty: set[IndexId] = set()
        self._lock = threading.RLock()
        self.changes = ChangeFeed(
            database=database,
            keyring=keyring,
            remove_rows=self.remove,
            signal=directory / "changes.seq",
        )
        self.items_without_key = 0
        """Stored items found without a data key (never silently dropped: logged, audited)."""
        # Saves are serialised by _save_lock, taken before _lock (never while holding it),
        # so a periodic save does not block ingest and searches while it encrypts.
        self._save_lock = threading.RLock()
        self._writes: dict[IndexId, int] = {}  # changes since the index's last snapshot
        self._opened: dict[IndexId, OpenReport] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._snapshotter: threading.Thread | None = None

    def snapshot_path(self, collection: str, space: str) -> Path:
        """Where the encrypted snapshot of an index lives."""
        return self._directory / collection / f"{space}.snap"

    def get(self, collection: CollectionRow, space: str) -> VectorIndex:
        """The live index of a collection and space, loaded or rebuilt on first use."""
        self.changes.catch_up()  # erasures made by another process leave this index first
        return self._loaded(collection, space)

    def _loaded(self, collection: CollectionRow, space: str) -> VectorIndex:
        """The live index, opened on first use; no catch-up (the change feed's lock is taken
        before this manager's, never while holding it)."""
        ident = (collection.name, space)
        with self._lock:
            index = self._live.get(ident)
            if index is None:
                index = self._open(collection, space)
                self._live[ident] = index
            return index

    def open_report(self, collection: str, space: str) -> OpenReport | None:
        """How the live index of ``collection``/``space`` was opened (None: not opened)."""
        with self._lock:
            return self._opened.get((collection, space))

    def add(
        self,
        collection: CollectionRow,
        space: str,
        row_ids: list[int],
        vectors: np.ndarray,
        deadlines: list[float | None],
    ) -> None:
        """Add acknowledged items to the live index; an id already there is replaced."""
        ident = (collection.name, space)
        self.changes.catch_up()  # before taking this manager's lock (lock order)
        with self._lock:
            opening = ident not in self._live
            index = self._loaded(collection, space)
            # Opening reconciled these very rows from the store; anything else is replaced.
            chosen = [n for n, row_id in enumerate(row_ids) if not (opening and row_id in index)]
            if chosen:
                keys = [row_ids[n] for n in chosen]
                index.add(np.asarray(keys, dtype=np.int64), vectors[chosen])
                _apply_deadlines(index, keys, [deadlines[n] for n in chosen])
            self._changed(ident, len(chosen))  # opening counted the reconciled ones

    def remove(self, collection: str, row_ids: Iterable[int]) -> None:
        """Remove items from every live index of a collection at once, and compact."""
        keys = np.asarray(sorted(set(row_ids)), dtype=np.int64)
        with self._lock:
            for (name, space), index in self._live.items():
                if name == collection and len(keys) and index.remove(keys):
                    index.compact()
                    self._changed((name, space), len(keys))

    def purge_snapshots(self, collection: str, spaces: Iterable[str]) -> None:
        """Give each index a new key version (the old one destroyed, so an old snapshot in a
        backup no longer opens with anything the store holds) and rewrite its snapshot."""
        with self._save_lock:  # lock order: _save_lock, then _lock
            for space in sorted(set(spaces)):
                ident = (collection, space)
                owner = index_owner(collection, space)
                with self._lock:
                    index = self._live.get(ident)
                    path = self.snapshot_path(collection, space)
                    if index is None and path.exists():
                        with self._database.read() as connection:
                            row = repository.get_collection(connection, collection)
                        index = self._open(row, space)  # loaded and reconciled: erased rows leave
                        self._live[ident] = index
                    with self._database.write() as connection:
                        self._keyring.new_version(connection, KeyKind.INDEX, owner)
                        changes.record(
                            connection,
                            kind="index-key",
                            now=self._clock.now(),
                            collection=collection,
                            key_owners=[(KeyKind.INDEX.value, owner)],
                        )
                self.changes.announce()
                if index is not None:
                    self._save(ident, index)
                else:
                    path.unlink(missing_ok=True)

    def snapshot_all(self) -> int:
        """Write a snapshot of every index changed since its last one; returns how many.

        Erasures made by other processes are applied first, and again after the save: one
        committed while the snapshot was being written makes the index dirty again and it
        is rewritten at once, so no snapshot keeps an erased vector."""
        saved: set[IndexId] = set()
        with self._save_lock:  # lock order: _save_lock, then _lock
            for _ in range(3):
                self.changes.catch_up(force=True)
                with self._lock:
                    dirty = [(ident, self._live[ident]) for ident in sorted(self._dirty)]
                for ident, index in dirty:
                    self._save(ident, index)
                saved.update(ident for ident, _ in dirty)
                if not dirty:
                    break
        return len(saved)

    def start_periodic_snapshots(self) -> None:
        """Snapshot changed indexes every ``snapshot_every_seconds`` and as soon as one has
        had ``snapshot_every_writes`` changes, on a background thread (the server's)."""
        seconds = self._settings.snapshot_every_seconds
        if self._snapshotter is not None or not (seconds or self._settings.snapshot_every_writes):
            return
        self._stop.clear()
        self._snapshotter = threading.Thread(
            target=self._snapshot_loop, args=(seconds or None,), name="index-snapshots", daemon=True
        )
        self._snapshotter.start()

    def stop_periodic_snapshots(self) -> None:
        """Stop the background snapshots (a save in progress finishes first)."""
        thread, self._snapshotter = self._snapshotter, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join()

    def _snapshot_loop(self, seconds: float | None) -> None:
        while True:
            self._wake.wait(timeout=seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.snapshot_all()
            except Exception as exc:  # a full disk must not end the thread: retry next time
                log.error("index.snapshot_failed", error=str(exc)[:200])

    def _changed(self, ident: IndexId, count: int) -> None:
        """Mark an index changed (``_lock`` held); wake the snapshotter after enough writes."""
        self._dirty.add(ident)
        self._writes[ident] = self._writes.get(ident, 0) + count
        every = self._settings.snapshot_every_writes
        if every and self._writes[ident] >= every:
            self._wake.set()

    def _save(self, ident: IndexId, index: VectorIndex) -> None:
        collection, space = ident
        with self._save_lock:
            with self._lock:
                writes = self._writes.get(ident, 0)
            key = self._index_key(collection, space)
            path = self.snapshot_path(collection, space)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = save_snapshot(index, path, key, chunk_bytes=self._settings.snapshot_chunk_bytes)
            with self._database.write() as connection:
                _record_snapshot(
                    connection, collection, space, info.snapshot_id, info.count, self._clock
                )
            with self._lock:
                left = self._writes.get(ident, 0) - writes
                self._writes[ident] = left  # changes made while saving may be missing
                if left <= 0:
                    self._dirty.discard(ident)
        log.info("index.snapshot_saved", collection=collection, space=space, count=info.count)

    def _index_key(self, collection: str, space: str) -> bytes:
        """The index's snapshot key, created on first use."""
        with self._database.write() as connection:
            _, key = self._keyring.get(
                connection, KeyKind.INDEX, index_owner(collection, space), create=True
            )
        return key

    def _open(self, collection: CollectionRow, space: str) -> VectorIndex:
        spec = IndexSpec.from_settings(self._settings, collection.dimension)
        path = self.snapshot_path(collection.name, space)
        index: VectorIndex | None = None
        ident = (collection.name, space)
        key = self._index_key(collection.name, space)
        with self._database.read() as connection:
            expected = _recorded_snapshot(connection, collection.name, space)
        if path.exists():
            try:
                index = load_snapshot(
                    path, key, collection=collection.name, space=space, expected_id=expected
                )
            except IntegrityError as exc:
                self._audit.append(
                    actor=Actor.operator(),
                    action="index.snapshot_refused",
                    outcome="failed",
                    collection=collection.name,
                    details={"space": space, "reason": exc.message[:200]},
                )
                log.error("index.snapshot_refused", collection=collection.name, error=exc.message)
        from_snapshot = index is not None
        if index is None:
            index = VectorIndex(spec, collection=collection.name, space=space)
        else:
            index.tune(spec)  # search and build behaviour from today's settings
        snapshot_count = len(index)
        added, removed = self._reconcile(index, collection, space)
        self._opened[ident] = OpenReport(from_snapshot, snapshot_count, added, removed)
        if added or removed:
            self._changed(ident, added + removed)
        return index

    def _reconcile(
        self, index: VectorIndex, collection: CollectionRow, space: str
    ) -> tuple[int, int]:
        """Make the index hold exactly the store's items of this space; (added, removed)."""
        with self._database.read() as connection:
            stored = _row_ids(connection, collection.id, space)
            present = {int(k) for k in index.keys().tolist()}
            stale = sorted(present - stored)
            missing = stored - present
            rows = [
                r
                for r in repository.items_of_collection(connection, collection.id)
                if r.row_id in missing and r.space_version == space
            ]
        if stale:
            index.remove(np.asarray(stale, dtype=np.int64))
            index.compact()
        keys: list[int] = []
        if rows:
            vectors, keys, deadlines = self._decrypt_rows(collection, rows)
            if keys:
                index.add(np.asarray(keys, dtype=np.int64), np.vstack(vectors))
                _apply_deadlines(index, keys, deadlines)
        if stale or rows:
            log.info(
                "index.reconciled",
                collection=collection.name,
                space=space,
                added=len(keys),
                removed=len(stale),
                unreachable=int(index.unreachable_keys().size),
            )
        return len(keys), len(stale)

    def _decrypt_rows(
        self, collection: CollectionRow, rows: list[ItemRow]
    ) -> tuple[list[np.ndarray], list[int], list[float | None]]:
        vectors: list[np.ndarray] = []
        keys: list[int] = []
        deadlines: list[float | None] = []
        with self._database.read() as connection:
            for row in rows:
                try:
                    _, key = self._keyring.get(connection, KeyKind.SUBJECT, row.subject)
                    binding = RecordBinding.of_row(row, collection.name)
                    vector = open_item_vector(key, row.vector_ct, binding)
                except KeyUnavailableError:
                    self._report_missing_key(collection.name, row)
                    continue
                except IntegrityError as exc:
                    log.error("index.item_unreadable", collection=collection.name, error=str(exc))
                    self._audit.append(
                        actor=Actor.operator(),
                        action="items.integrity_failure",
                        outcome="withheld",
                        collection=collection.name,
                        subject=row.subject,
                        details={"row_id": row.row_id},
                    )
                    continue
                vectors.append(vector)
                keys.append(row.row_id)
                deadlines.append(
                    row.retention_deadline.timestamp() if row.retention_deadline else None
                )
        return vectors, keys, deadlines

    def _report_missing_key(self, collection: str, row: ItemRow) -> None:
        """An item whose key is gone (erasure removes both at once): never dropped silently."""
        self.items_without_key += 1
        log.error(
            "index.item_key_missing", collection=collection, subject=row.subject, row=row.row_id
        )
        self._audit.append(
            actor=Actor.operator(),
            action="items.key_missing",
            outcome="withheld",
            collection=collection,
            subject=row.subject,
            details={"row_id": row.row_id, "key_version": row.key_version},
        )


def _record_snapshot(
    connection: Connection, collection: str, space: str, snapshot_id: str, count: int, clock: Clock
) -> None:
    key = (index_snapshots.c.collection == collection) & (index_snapshots.c.space == space)
    connection.execute(delete(index_snapshots).where(key))
    connection.execute(
        index_snapshots.insert().values(
            collection=collection,
            space=space,
            snapshot_id=snapshot_id,
            count=count,
            saved_at=clock.now(),
        )
    )


def _recorded_snapshot(connection: Connection, collection: str, space: str) -> str | None:
    key = (index_snapshots.c.collection == collection) & (index_snapshots.c.space == space)
    return connection.execute(select(index_snapshots.c.snapshot_id).where(key)).scalar()


def _row_ids(connection: Connection, collection_id: int, space: str) -> set[int]:
    query = select(items.c.row_id).where(
        (items.c.collection_id == collection_id) & (items.c.space_version == space)
    )
    return {int(r) for r in connection.execute(query).scalars()}


def _apply_deadlines(index: VectorIndex, row_ids: list[int], deadlines: list[float | None]) -> None:
    dated = [(k, d) for k, d in zip(row_ids, deadlines, strict=True) if d is not None]
    if dated:
        keys, values = zip(*dated, strict=True)
        index.set_deadlines(np.asarray(keys, dtype=np.int64), np.asarray(values, dtype=np.float64))
