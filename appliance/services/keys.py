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
serialised across processes by a lock file; other processes re-read the KEK file when it
changes (``KeyRing.kek``).
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
from appliance.crypto.keyring import KeyRing
from appliance.domain.types import Actor
from appliance.observability import get_logger
from appliance.store import keys as key_rows
from appliance.store.database import Database

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = get_logger(__name__)
FaultHook = Callable[[str], None]


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

    def shred_due(
        self, *, actor: Actor, force: bool = False, now: datetime | None = None
    ) -> ShredReport | None:
        """Rotate the KEK and retire older versions if a shred request is due (or pending,
        with ``force``); None when nothing was due or the KEK file cannot be rewritten."""
        moment = now or self._clock.now()
        if not self._due(moment, force):
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
        """One rotation at a time: across threads, and across processes via a lock file."""
        with self._thread_lock:
            if self._lock_path is None:
                yield
                return
            self._lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def rotate(
        self, *, actor: Actor, batch_size: int = 256, fault: FaultHook = _no_fault
    ) -> RotationReport:
        """Rotate (or resume an interrupted rotation) to a new KEK version."""
        with self._rotation_lock():
            return self._rotate_locked(actor=actor, batch_size=batch_size, fault=fault)

    def _rotate_locked(self, *, actor: Actor, batch_size: int, fault: FaultHook) -> RotationReport:
        ring = load_kek(self._location)
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
        rewrapped = 0
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
