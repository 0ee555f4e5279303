"""Live per-collection, per-space indexes: lazy load, reconcile with the store, snapshot.

The store is the source of truth. Loading a snapshot that fails its integrity check is
refused (audited) and the index is rebuilt from the store; a snapshot that is merely
behind (a crash after acknowledged writes) is reconciled item by item. Erasures made by
other processes reach the live indexes through the change log (``ChangeFeed``), checked
before every use. So that a crash
costs only the tail, the server snapshots changed indexes periodically
(``index.snapshot_every_seconds`` and ``index.snapshot_every_writes``) on a background
thread, not only at shutdown. On a shared store (PostgreSQL) the change log also carries
the items other nodes stored (``add_stored``) and index re-keys (``_rekeyed``: the snapshot
is rewritten under the new key), and snapshots are recorded per node (``index_rows``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from appliance.audit import AuditTrail
from appliance.clock import Clock
from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.domain.types import Actor
from appliance.errors import IntegrityError
from appliance.index import IndexSpec, VectorIndex, load_snapshot, save_snapshot
from appliance.observability import get_logger
from appliance.services import index_rows
from appliance.services.changes import ChangeFeed
from appliance.services.index_rows import OpenReport, apply_deadlines, index_owner, node_id
from appliance.settings import IndexSettings
from appliance.store import changes, repository
from appliance.store.database import Database
from appliance.store.repository import CollectionRow, ItemRow

log = get_logger(__name__)
IndexId = tuple[str, str]
__all__ = ["IndexManager", "OpenReport", "index_owner"]


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
        shared = not database.is_sqlite  # several nodes, each with its own index directory
        self._node = node_id(directory) if shared else None
        self._incoming: set[int] = set()  # rows this process is adding itself right now
        self._dropped: set[int] = set()  # ... and erased before it got to add them
        self.changes = ChangeFeed(
            database=database,
            keyring=keyring,
            remove_rows=self.remove,
            signal=directory / "changes.seq",
            add_rows=self.add_stored if shared else None,
            index_rekeyed=self._rekeyed if shared else None,
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
        with self._lock:
            self._incoming.update(row_ids)  # the change feed leaves them to this call
        try:
            self.changes.catch_up()  # before taking this manager's lock (lock order)
            self._add_locked(ident, collection, space, row_ids, vectors, deadlines)
        finally:
            with self._lock:
                self._incoming.difference_update(row_ids)
                self._dropped.difference_update(row_ids)

    def _add_locked(
        self,
        ident: IndexId,
        collection: CollectionRow,
        space: str,
        row_ids: list[int],
        vectors: np.ndarray,
        deadlines: list[float | None],
    ) -> None:
        with self._lock:
            opening = ident not in self._live
            index = self._loaded(collection, space)
            # Opening reconciled these very rows from the store; anything else is replaced,
            # except rows erased since their commit (another process's erasure, applied above).
            chosen = [
                n
                for n, row_id in enumerate(row_ids)
                if row_id not in self._dropped and not (opening and row_id in index)
            ]
            if chosen:
                keys = [row_ids[n] for n in chosen]
                index.add(np.asarray(keys, dtype=np.int64), vectors[chosen])
                apply_deadlines(index, keys, [deadlines[n] for n in chosen])
            self._changed(ident, len(chosen))  # opening counted the reconciled ones

    def add_stored(self, collection: str, row_ids: Iterable[int]) -> None:
        """Add rows another node stored to this node's live indexes of ``collection``
        (indexes not open here pick them up when they open and reconcile)."""
        with self._lock:
            live = {space: i for (name, space), i in self._live.items() if name == collection}
            wanted = [r for r in row_ids if r not in self._incoming]
            if not live or not wanted:
                return
            with self._database.read() as connection:
                coll = repository.get_collection(connection, collection)
                rows = repository.items_by_row_ids(connection, coll.id, wanted)
            for space, index in live.items():
                new = [r for r in rows if r.space_version == space and r.row_id not in index]
                if not new:
                    continue
                vectors, keys, deadlines = self._decrypt_rows(coll, new)
                if keys:
                    index.add(np.asarray(keys, dtype=np.int64), np.vstack(vectors))
                    apply_deadlines(index, keys, deadlines)
                    self._changed((collection, space), len(keys))

    def _rekeyed(self, collection: str) -> None:
        """Another node gave this collection's indexes a new key (an erasure): rewrite this
        node's snapshots under it soon (the snapshotter, or the next ``snapshot_all``)."""
        with self._lock:
            for ident in self._live:
                if ident[0] == collection:
                    self._changed(ident, 0)
            self._wake.set()

    def remove(self, collection: str, row_ids: Iterable[int]) -> None:
        """Remove items from every live index of a collection at once, and compact."""
        keys = np.asarray(sorted(set(row_ids)), dtype=np.int64)
        with self._lock:
            self._dropped.update(k for k in keys.tolist() if k in self._incoming)
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
                index_rows.record_snapshot(
                    connection,
                    collection,
                    space,
                    info.snapshot_id,
                    info.count,
                    self._clock,
                    self._node,
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
            expected = index_rows.recorded_snapshot(connection, collection.name, space, self._node)
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
            stored = index_rows.row_ids(connection, collection.id, space)
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
                apply_deadlines(index, keys, deadlines)
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
        opened = index_rows.decrypt_rows(
            self._database, self._keyring, self._audit, collection, rows
        )
        self.items_without_key += opened.without_key
        return opened.vectors, opened.keys, opened.deadlines
