"""KEK rotation: a new KEK version, every data key rewrapped, nothing re-encrypted in bulk.

Crash safety: the pending version is written (fsync'd) before any key uses it, rows
move to it in small compare-and-set batches, and an old version leaves the key file
only once no row references it. Interrupted at any point, every key stays unwrappable
and running the rotation again resumes where it stopped.

Shredding: an erasure destroys the subject's key in the store, but a backup taken before
it still holds that key wrapped under the KEK of the day. Each erasure therefore records
a shred request; ``shred_due`` (the server's timer, ``retention run``, and
``subjects delete --shred-now``) rotates the KEK and retires every older version, after
which no pre-erasure backup unwraps with any key the appliance still holds. Rotations are
serialised across processes by a lock file, and across nodes sharing a PostgreSQL store by
a session advisory lock; other processes re-read the KEK file when it changes
(``KeyRing.kek``).

Several nodes on one store: only the designated node (``keys.rotate_on_this_node``; "auto"
means yes on SQLite, no on PostgreSQL) rotates for a shred; the others report the pending
shred as a warning. A rotation refuses to start from a ring older than the store's KEK
version and moves the store's marker key first, so a node with a stale ring fails closed
(``KekRingStaleError``) instead of wrapping keys the others cannot open (docs/scaling.md).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.audit import AuditTrail
from appliance.clock import Clock, SystemClock, isoformat
from appliance.crypto.kek import KekLocation, load_kek, write_kek
from appliance.crypto.keyring import SYSTEM_OWNER, KeyKind, KeyRing
from appliance.domain.types import Actor
from appliance.observability import get_logger
from appliance.store import keys as key_rows
from appliance.store.database import Database

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = get_logger(__name__)
FaultHook = Callable[[str], None]
ROTATION_LOCK_KEY = 0x6170706B  # "appk": the advisory lock of KEK rotations on PostgreSQL


def rotates_here(choice: str, *, shared_store: bool) -> bool:
    """Whether this node's shred timer may rotate the KEK (``keys.rotate_on_this_node``)."""
    if choice == "auto":
        return not shared_store
    return choice == "yes"


def _no_fault(_: str) -> None:
    return None


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did."""

    from_version: int
    to_version: int
    rewrapped: int
    resumed: bool


@dataclass(frozen=True)
class KeyStatus:
    """Versions in the KEK file and what each protects."""

    active: int
    pending: int | None
    versions: tuple[int, ...]
    keys_by_kek_version: dict[int, int]
    keys_by_kind: dict[str, int]
    source: str
    shreds_pending: int = 0
    shreds_overdue: int = 0
    next_shred_due: str | None = None
    kek_inside_data_dir: bool = False


@dataclass(frozen=True)
class ShredReport:
    """What a KEK shred did: the rotation, and the erasures it now covers."""

    rotation: RotationReport
    requests_done: int
    retired_versions: tuple[int, ...]


class KeyService:
    """Rotation and status of the KEK and the data keys it wraps."""

    def __init__(
        self,
        *,
        database: Database,
        keyring: KeyRing,
        location: KekLocation,
        audit: AuditTrail,
        clock: Clock | None = None,
        shred_after_hours: float = 24.0,
        lock_path: Path | None = None,
        rotate_here: bool = True,
    ) -> None:
        self._database = database
        self._keyring = keyring
        self._location = location
        self._audit = audit
        self._clock = clock or SystemClock()
        self._shred_after = timedelta(hours=shred_after_hours)
        self._lock_path = lock_path
        self._thread_lock = threading.Lock()
        self._blocked_reported = False
        self._rotate_here = rotate_here

    @property
    def shred_after(self) -> timedelta:
        """How long after an erasure the KEK must have rotated."""
        return self._shred_after

    def status(self) -> KeyStatus:
        """Current versions and counts."""
        ring = load_kek(self._location)
        now = self._clock.now()
        with self._database.read() as connection:
            by_version = key_rows.count_by_kek_version(connection)
            by_kind = key_rows.count_by_kind(connection)
            pending = key_rows.pending_shreds(connection)
        return KeyStatus(
            active=ring.active,
            pending=ring.pending,
            versions=tuple(sorted(ring.keys)),
            keys_by_kek_version=by_version,
            keys_by_kind=by_kind,
            source=str(self._location.path),
            shreds_pending=len(pending),
            shreds_overdue=sum(1 for r in pending if r.due_at <= now),
            next_shred_due=isoformat(pending[0].due_at) if pending else None,
            kek_inside_data_dir=self._location.inside_data_dir,
        )

    def request_shred(
        self, connection: Connection, *, reason: str, change_seq: int | None, now: datetime
    ) -> int:
        """Record, in the caller's transaction, that the KEK must rotate after an erasure."""
        return key_rows.request_shred(
            connection,
            reason=reason,
            change_seq=change_seq,
            now=now,
            due_at=now + self._shred_after,
        )

    @property
    def rotates_here(self) -> bool:
        """Whether this node runs KEK shreds (``keys.rotate_on_this_node``)."""
        return self._rotate_here

    def shred_due(
        self, *, actor: Actor, force: bool = False, now: datetime | None = None
    ) -> ShredReport | None:
        """Rotate the KEK and retire older versions if a shred request is due (or pending,
        with ``force``); None when nothing was due or the KEK file cannot be rewritten."""
        moment = now or self._clock.now()
        if not self._due(moment, force):
            return None
        if not self._rotate_here:
            log.warning(
                "keys.shred_elsewhere",
                reason="keys.rotate_on_this_node is off: the designated node rotates",
            )
            return None
        if not self._location.writable:
            self._report_blocked()
            return None
        with self._rotation_lock():
            with self._database.read() as connection:
                pending = key_rows.pending_shreds(connection)
            due = [r for r in pending if force or r.due_at <= moment]
            if not due:
                return None  # another process shredded while we waited for the lock
            rotation = self._rotate_locked(actor=actor, batch_size=256, fault=_no_fault)
            ring = load_kek(self._location)
            retired = tuple(v for v in range(1, rotation.to_version) if v not in ring.keys)
            lingering = [v for v in ring.keys if v <= rotation.from_version]
            done = 0
            if not lingering:
                with self._database.write() as connection:
                    done = key_rows.complete_shreds(
                        connection,
                        max(r.id for r in pending),
                        now=self._clock.now(),
                        kek_version=rotation.to_version,
                    )
                    self._audit.append(
                        actor=actor,
                        action="keys.shred",
                        outcome="ok",
                        details={"kek_version": rotation.to_version, "requests": done},
                    )
            else:
                log.error("keys.shred_incomplete", lingering=lingering)
        self._database.checkpoint_wal()
        log.info("keys.shredded", kek_version=rotation.to_version, requests=done)
        return ShredReport(rotation, done, retired)

    def _due(self, moment: datetime, force: bool) -> bool:
        with self._database.read() as connection:
            pending = key_rows.pending_shreds(connection)
        return bool(pending) and (force or pending[0].due_at <= moment)

    def ring_problem(self) -> str | None:
        """Readiness: why this node's KEK ring cannot serve the store, or None."""
        with self._database.read() as connection:
            return self._keyring.ring_problem(connection)

    def warnings(self) -> list[str]:
        """Readiness warnings: shreds pending that another (the designated) node must do."""
        if self._rotate_here:
            return []
        with self._database.read() as connection:
            pending = key_rows.pending_shreds(connection)
        if not pending:
            return []
        return [
            f"keys: {len(pending)} KEK shred(s) pending; this node does not rotate "
            "(keys.rotate_on_this_node): the designated node must"
        ]

    def _report_blocked(self) -> None:
        log.error(
            "keys.shred_blocked",
            reason="the KEK is a read-only systemd credential",
            remedy="rotate a copy (appliance keys rotate) and re-encrypt it with systemd-creds",
        )
        if not self._blocked_reported:
            self._blocked_reported = True
            self._audit.append(
                actor=Actor.operator(),
                action="keys.shred_blocked",
                outcome="failed",
                details={"reason": "kek-read-only"},
            )

    @contextmanager
    def _rotation_lock(self) -> Iterator[None]:
        """One rotation at a time: across threads, across processes via a lock file, and
        across the nodes of a shared PostgreSQL store via a session advisory lock (dropped
        by the server if the node dies)."""
        with self._thread_lock:
            fd = -1
            if self._lock_path is not None:
                self._lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if fd >= 0:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                if self._database.is_sqlite:
                    yield
                else:
                    with self._store_lock():
                        yield
            finally:
                if fd >= 0:
                    os.close(fd)

    @contextmanager
    def _store_lock(self) -> Iterator[None]:
        with self._database.engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({ROTATION_LOCK_KEY})")
            connection.commit()
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({ROTATION_LOCK_KEY})")
                connection.commit()

    def rotate(
        self, *, actor: Actor, batch_size: int = 256, fault: FaultHook = _no_fault
    ) -> RotationReport:
        """Rotate (or resume an interrupted rotation) to a new KEK version."""
        with self._rotation_lock():
            return self._rotate_locked(actor=actor, batch_size=batch_size, fault=fault)

    def _move_marker(self, target: int) -> int:
        """Rewrap the store's marker key (the system pseudonym key) first: every node then
        sees the new KEK version before any other key uses it."""
        with self._database.write() as connection:
            row = key_rows.find_key(connection, KeyKind.PSEUDONYM, SYSTEM_OWNER)
            if row is None or row.kek_version == target:
                return 0
            secret = self._keyring.unwrap_row(row)
            version, wrapped = self._keyring.wrap_for(row.kind, row.owner, row.version, secret)
            return int(key_rows.rewrap_key(connection, row, kek_version=version, wrapped=wrapped))

    def _rotate_locked(self, *, actor: Actor, batch_size: int, fault: FaultHook) -> RotationReport:
        ring = load_kek(self._location)
        self._keyring.replace_kek(ring)
        with self._database.read() as connection:
            self._keyring.check_current(connection)  # never fork the ring of another node
        resumed = ring.pending is not None
        previous = ring.active
        self._audit.append(
            actor=actor,
            action="keys.rotate_started",
            outcome="ok",
            details={"from": previous, "resumed": resumed},
        )
        ring = ring.begin_rotation()
        if not resumed:
            write_kek(ring, self._location)
        self._keyring.replace_kek(ring)
        fault("pending-written")
        target = ring.wrapping_version
        rewrapped = self._move_marker(target)  # from now on, stale rings fail closed
        while True:
            with self._database.write() as connection:
                batch = key_rows.keys_not_on(connection, target, batch_size)
                for row in batch:
                    secret = self._keyring.unwrap_row(row)
                    version, wrapped = self._keyring.wrap_for(
                        row.kind, row.owner, row.version, secret
                    )
                    if key_rows.rewrap_key(connection, row, kek_version=version, wrapped=wrapped):
                        rewrapped += 1
            if not batch:
                break
            fault("batch-rewrapped")
        fault("all-rewrapped")
        with self._database.read() as connection:
            referenced = set(key_rows.count_by_kek_version(connection))
        self._audit.append(
            actor=actor,
            action="keys.rotate_finished",
            outcome="ok",
            details={"from": previous, "to": target, "rewrapped": rewrapped},
        )
        final = ring.finish_rotation(referenced)
        write_kek(final, self._location)
        self._keyring.replace_kek(final)
        fault("finished")
        return RotationReport(previous, target, rewrapped, resumed)
