"""Follow erasures made by other processes: the change log applied to this process's state.

Every process that holds live indexes or unwrapped keys (the server, a CLI command) keeps
the sequence number of the last change it applied. Before an index is used (search,
ingest, snapshot) and on the server's timer it compares it with the store's newest one,
one indexed ``max``; when behind it removes the erased rows from its live indexes and
drops every destroyed or replaced key from its key cache.

The check before each use is cheaper still: a writer, after its commit, rewrites a small
signal file (``announce``) and readers only query the store when that file changed (one
``stat``). A lost signal (a crash between commit and announce) is caught by the forced
checks: before every snapshot and on the server's timer.

On a shared store (PostgreSQL, several nodes on several machines) no signal file can reach
the other nodes, so every check asks the store (one indexed ``max``, a fraction of a
millisecond); and stored items are followed too: ``add_rows`` puts the rows another node
stored into this node's live indexes, and ``index_rekeyed`` lets the index holder rewrite
its own snapshots once an erasure gave an index a new key.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.observability import get_logger
from appliance.store import changes
from appliance.store.database import Database

log = get_logger(__name__)
RowsRemoved = Callable[[str, Iterable[int]], None]
RowsAdded = Callable[[str, Iterable[int]], None]
IndexRekeyed = Callable[[str], None]


class ChangeFeed:
    """Applies change-log events newer than the last one this process applied."""

    def __init__(
        self,
        *,
        database: Database,
        keyring: KeyRing,
        remove_rows: RowsRemoved,
        signal: Path | None = None,
        add_rows: RowsAdded | None = None,
        index_rekeyed: IndexRekeyed | None = None,
    ) -> None:
        self._database = database
        self._keyring = keyring
        self._remove_rows = remove_rows
        self._add_rows = add_rows
        self._index_rekeyed = index_rekeyed
        self._signal = signal if database.is_sqlite else None
        self._lock = threading.Lock()
        self._seen = _stamp(signal)
        with database.read() as connection:
            # state loaded from now on reflects the store, so older events are already applied
            self._applied = changes.latest_seq(connection)

    @property
    def applied(self) -> int:
        """The sequence number of the last event applied here."""
        return self._applied

    def announce(self) -> None:
        """Tell other processes that the change log grew (call after the commit)."""
        if self._signal is None:
            return
        with self._database.read() as connection:
            latest = changes.latest_seq(connection)
        self._signal.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = self._signal.with_name(f"{self._signal.name}.{os.getpid()}.tmp")
        temp.write_text(f"{latest}\n", encoding="ascii")
        temp.replace(self._signal)  # a new inode: every reader's stat sees the change

    def catch_up(self, *, force: bool = False) -> int:
        """Apply every event this process has not seen; returns how many were applied.
        Without ``force``, the store is only asked when the signal file changed."""
        stamp = _stamp(self._signal)
        if not force and self._signal is not None and stamp == self._seen:
            return 0
        self._seen = stamp
        with self._database.read() as connection:
            if changes.latest_seq(connection) <= self._applied:
                return 0
        applied = 0
        with self._lock:
            while True:
                with self._database.read() as connection:
                    events = changes.events_after(connection, self._applied)
                if not events:
                    break
                for event in events:
                    for kind, owner in event.key_owners:
                        self._keyring.forget(KeyKind(kind), owner)
                    if event.kind == changes.ITEMS_STORED:
                        if self._add_rows is not None and event.collection:
                            self._add_rows(event.collection, event.row_ids)
                    elif event.collection and event.row_ids:
                        self._remove_rows(event.collection, event.row_ids)
                    if event.kind == "index-key" and event.collection and self._index_rekeyed:
                        self._index_rekeyed(event.collection)
                    self._applied = event.seq
                    applied += 1
        if applied:
            log.info("changes.applied", events=applied, seq=self._applied)
        return applied


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)
