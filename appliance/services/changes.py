"""Follow erasures made by other processes: the change log applied to this process's state.

Every process that holds live indexes or unwrapped keys (the server, a CLI command) keeps
the sequence number of the last change it applied. Before an index is used (search,
ingest, snapshot) and on the server's timer it compares it with the store's newest one,
one indexed ``max``; when behind it removes the erased rows from its live indexes and
drops every destroyed or replaced key from its key cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from appliance.crypto.keyring import KeyKind, KeyRing
from appliance.observability import get_logger
from appliance.store import changes
from appliance.store.database import Database

log = get_logger(__name__)
RowsRemoved = Callable[[str, Iterable[int]], None]


class ChangeFeed:
    """Applies change-log events newer than the last one this process applied."""

    def __init__(self, *, database: Database, keyring: KeyRing, remove_rows: RowsRemoved) -> None:
        self._database = database
        self._keyring = keyring
        self._remove_rows = remove_rows
        self._lock = threading.Lock()
        with database.read() as connection:
            # state loaded from now on reflects the store, so older events are already applied
            self._applied = changes.latest_seq(connection)

    @property
    def applied(self) -> int:
        """The sequence number of the last event applied here."""
        return self._applied

    def catch_up(self) -> int:
        """Apply every event this process has not seen; returns how many were applied."""
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
                    if event.collection and event.row_ids:
                        self._remove_rows(event.collection, event.row_ids)
                    self._applied = event.seq
                    applied += 1
        if applied:
            log.info("changes.applied", events=applied, seq=self._applied)
        return applied
