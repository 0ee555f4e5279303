"""KEK rotation: a new KEK version, every data key rewrapped, nothing re-encrypted in bulk.

Crash safety: the pending version is written (fsync'd) before any key uses it, rows
move to it in small compare-and-set batches, and an old version leaves the key file
only once no row references it. Interrupted at any point, every key stays unwrappable
and running the rotation again resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from appliance.audit import AuditTrail
from appliance.crypto.kek import KekLocation, load_kek, write_kek
from appliance.crypto.keyring import KeyRing
from appliance.domain.types import Actor
from appliance.store import keys as key_rows
from appliance.store.database import Database

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


class KeyService:
    """Rotation and status of the KEK and the data keys it wraps."""

    def __init__(
        self,
        *,
        database: Database,
        keyring: KeyRing,
        location: KekLocation,
        audit: AuditTrail,
    ) -> None:
        self._database = database
        self._keyring = keyring
        self._location = location
        self._audit = audit

    def status(self) -> KeyStatus:
        """Current versions and counts."""
        ring = load_kek(self._location)
        with self._database.read() as connection:
            by_version = key_rows.count_by_kek_version(connection)
            by_kind = key_rows.count_by_kind(connection)
        return KeyStatus(
            active=ring.active,
            pending=ring.pending,
            versions=tuple(sorted(ring.keys)),
            keys_by_kek_version=by_version,
            keys_by_kind=by_kind,
            source=str(self._location.path),
        )

    def rotate(
        self, *, actor: Actor, batch_size: int = 256, fault: FaultHook = _no_fault
    ) -> RotationReport:
        """Rotate (or resume an interrupted rotation) to a new KEK version."""
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
