"""Encrypted backup and restore of a data directory, without key material.

The archive is a tar stream (a consistent SQLite copy made with the online backup API,
the audit trail and its checkpoints, the index snapshots that match the copied store, the
model store manifest and, when asked, the models) sealed in AES-256-GCM frames
(``appliance.crypto.aead.write_stream``). Its key is derived (HKDF-SHA256, a random salt
per archive) from the KEK version that was wrapping data keys when the backup was taken.
The KEK itself never enters the archive, and the data keys inside the copied store are
wrapped under it, so the archive opens only with the KEK kept apart (the systemd
credential or ``keys.kek_file``). Its clear header holds the format, that KEK version and
the salt, nothing else. Any flipped, dropped or appended byte raises ``IntegrityError``.

A KEK shred retires the KEK versions older backups were taken under: after it, no backup
from before the erasure opens with the KEK the appliance holds (docs/security.md).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from appliance.audit import AuditTrail
from appliance.clock import Clock, SystemClock, isoformat
from appliance.crypto.aead import read_stream, read_stream_header, write_stream
from appliance.crypto.kek import KekLocation, KekRing, load_kek, locate_kek, write_kek
from appliance.domain.types import Actor
from appliance.errors import ConfigError, IntegrityError, KeyUnavailableError
from appliance.models.safety import sha256_file
from appliance.services.backup_archive import (
    AUDIT_FILES,
    DATABASE_NAME,
    FORMAT,
    archive_key,
    copy_audit,
    copy_database,
    extract,
    model_members,
    parse_header,
    rebuffer,
    snapshot_members,
    sqlite_path,
    staged_member,
    tar_stream,
)
from appliance.settings import Settings


class Appliance(Protocol):
    """What a backup needs of an opened appliance (``appliance.wiring.Appliance``)."""

    settings: Settings
    kek_location: KekLocation
    audit: AuditTrail

    def close(self) -> None: ...


@dataclass(frozen=True)
class BackupReport:
    """What ``create_backup`` wrote."""

    path: Path
    bytes: int
    sha256: str
    kek_version: int
    files: int
    snapshots: int
    snapshots_skipped: int
    models_included: bool


@dataclass(frozen=True)
class RestoreReport:
    """What ``restore_backup`` put in place."""

    data_dir: Path
    files: int
    kek_version: int
    created: str
    kek_placed: Path | None


def create_backup(app: Appliance, output: Path, *, include_models: bool = False) -> BackupReport:
    """Write an encrypted archive of the data dir to ``output`` (refused if it exists).

    Runs beside a live server: rotations are held off (``keys/rotation.lock``) while the
    store is copied, audit writers (``audit/trail.lock``) while the trail is copied. The
    archive is written to a temporary file and renamed into place only after the backup is
    audited (``backup.created``): no audit entry, no archive. ``app`` is the opened
    appliance (the caller closes it)."""
    settings = app.settings
    output = Path(output)
    if output.exists():
        raise ConfigError(f"{output} already exists", remedy="choose a new file name")
    sqlite_path(settings)
    data_dir = settings.data_dir
    staging = Path(os.path.realpath(data_dir)) / f".backup-{secrets.token_hex(8)}"
    staging.mkdir(mode=0o700)
    temp = output.with_name(f".{output.name}.{secrets.token_hex(6)}.tmp")
    try:
        with ExitStack() as stack:
            with _flock(data_dir / "keys" / "rotation.lock"):
                ring = load_kek(app.kek_location)
                version = ring.wrapping_version
                copy_database(settings, staging / DATABASE_NAME)
            copy_audit(data_dir / "audit", staging / "audit")
            members = [staged_member(stack, staging / DATABASE_NAME, DATABASE_NAME)]
            members += [
                staged_member(stack, staging / "audit" / name, f"audit/{name}")
                for name in AUDIT_FILES
                if (staging / "audit" / name).is_file()
            ]
            snapshots, skipped = snapshot_members(stack, data_dir, staging / DATABASE_NAME)
            members += snapshots
            members += model_members(stack, data_dir, include_models)
            salt = os.urandom(16)
            header = json.dumps(
                {"format": FORMAT, "kek_version": version, "salt": base64.b64encode(salt).decode()},
                sort_keys=True,
            ).encode()
            key = archive_key(ring.key(version), salt)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                written = write_stream(key, header, rebuffer(tar_stream(members)), out)
                out.flush()
                os.fsync(out.fileno())
        digest = sha256_file(temp)
        app.audit.append(
            actor=Actor.operator(),
            action="backup.created",
            outcome="ok",
            details={
                "bytes": written,
                "sha256": digest,
                "kek_version": version,
                "files": len(members),
                "snapshots": len(snapshots),
                "snapshots_skipped": skipped,
                "models": include_models,
            },
        )
        _publish(temp, output)
        _fsync_dir(output.parent)
        return BackupReport(
            output, written, digest, version, len(members), len(snapshots), skipped, include_models
        )
    finally:
        temp.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def restore_backup(
    settings: Settings,
    archive: Path,
    *,
    open_restored: Callable[[], Appliance],
    kek_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> RestoreReport:
    """Restore ``archive`` into the (absent or empty) data dir of ``settings``.

    The KEK comes from where the appliance looks for it (systemd credential,
    ``keys.kek_file``) or from ``kek_file``, which is then placed where the appliance looks
    (the data dir's ``keys/kek`` by default). Everything is authenticated before anything
    lands in the data dir; any failure leaves the data dir as empty as it was.
    ``open_restored`` (from the composition root) migrates and opens the restored data dir,
    whose trail then records ``backup.restored``."""
    clock = clock or SystemClock()
    data_dir = settings.data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigError(
            f"{data_dir} is not empty; restore only fills a fresh data directory",
            remedy="pass --data-dir with a new or empty directory (stop the service first)",
        )
    configured = locate_kek(data_dir, environ, kek_file=settings.keys.kek_file)
    ring, place_kek = _restore_ring(configured, kek_file)
    with Path(archive).open("rb") as source:
        header = parse_header(read_stream_header(source, what="backup archive"))
        version = header["kek_version"]
        if version not in ring.keys:
            raise KeyUnavailableError(
                f"the backup was taken under KEK version {version}, which this KEK ring no "
                f"longer holds (versions {sorted(ring.keys)}): a rotation or a KEK shred "
                "after the backup retired it",
                remedy="restore a backup taken after the last rotation, with the KEK of that "
                "time; erased subjects cannot come back from older backups by design",
            )
        source.seek(0)
        key = archive_key(ring.key(version), base64.b64decode(header["salt"]))
        _, frames = read_stream(key, source, what="backup archive")
        created_dir = not data_dir.exists()
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = data_dir / f".restore-{secrets.token_hex(8)}"
        staging.mkdir(mode=0o700)
        try:
            try:
                files = extract(frames, staging)
            except IntegrityError as exc:
                raise IntegrityError(
                    f"{exc.message}; the archive was changed or cut short, or this is not the "
                    "KEK it was made under",
                    remedy="restore from another copy of the archive, with the KEK kept for it",
                ) from exc
            _check_store(staging / DATABASE_NAME, ring)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if created_dir:
                shutil.rmtree(data_dir, ignore_errors=True)
            raise
    try:
        return _place(
            settings, staging, ring, place_kek, configured, header, files, clock, open_restored
        )
    except IntegrityError as exc:
        if created_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        if not settings.audit.witness_path:
            raise
        raise IntegrityError(
            f"{exc.message}; restoring this backup would roll the audit trail back behind "
            "its witness (audit.witness_path)",
            remedy="a restore loses the audit entries written after the backup: move the "
            "witness file aside (keep it: it records what was lost), point "
            "audit.witness_path at a new file, and run restore again",
        ) from exc
    except BaseException:
        if created_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise


def _restore_ring(configured: KekLocation, kek_file: Path | None) -> tuple[KekRing, bool]:
    """The KEK ring to restore with, and whether to write it to the configured place."""
    if kek_file is None:
        if configured.inside_data_dir and not configured.path.exists():
            raise KeyUnavailableError(
                "no KEK to restore with: the configured place is inside the fresh data dir",
                remedy="pass --kek-file PATH (the KEK kept apart from the backup), or set "
                "keys.kek_file / the systemd credential appliance-kek",
            )
        return load_kek(configured), False
    ring = load_kek(KekLocation(Path(kek_file), from_credentials=False))
    if configured.path.exists():
        if dict(load_kek(configured).keys) != dict(ring.keys):
            raise ConfigError(
                f"a different KEK already exists at {configured.path}",
                remedy="leave out --kek-file, or point keys.kek_file at the KEK of the backup",
            )
        return ring, False
    if not configured.writable:
        raise ConfigError(f"the KEK credential {configured.path} is read-only and missing")
    return ring, True


def _place(
    settings: Settings,
    staging: Path,
    ring: KekRing,
    place_kek: bool,
    configured: KekLocation,
    header: dict[str, object],
    files: int,
    clock: Clock,
    open_restored: Callable[[], Appliance],
) -> RestoreReport:
    """Move the authenticated files into the data dir, place the KEK, migrate, audit."""
    data_dir = settings.data_dir
    try:
        for entry in staging.iterdir():
            entry.rename(data_dir / entry.name)
        staging.rmdir()
        for name in ("keys", "audit", "index", "models"):
            (data_dir / name).mkdir(mode=0o700, exist_ok=True)
        for path in (data_dir, *(p for p in data_dir.rglob("*") if p.is_dir())):
            path.chmod(0o700)
        if place_kek:
            write_kek(ring, configured, exclusive=True)
        app = open_restored()
        try:
            app.audit.append(
                actor=Actor.operator(),
                action="backup.restored",
                outcome="ok",
                details={"kek_version": header["kek_version"], "files": files},
            )
        finally:
            app.close()
    except BaseException:
        for entry in list(data_dir.iterdir()):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if place_kek:
            configured.path.unlink(missing_ok=True)
        raise
    return RestoreReport(
        data_dir,
        files,
        int(header["kek_version"]),  # type: ignore[call-overload]
        isoformat(clock.now()),
        configured.path if place_kek else None,
    )


def _check_store(database: Path, ring: KekRing) -> None:
    """The copied store is sound and every KEK version it references is in the ring."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise IntegrityError("backup archive: the store inside fails its integrity check")
        versions = {v for (v,) in connection.execute("SELECT DISTINCT kek_version FROM data_keys")}
    finally:
        connection.close()
    missing = sorted(versions - set(ring.keys))
    if missing:
        raise KeyUnavailableError(
            f"the backup's data keys are wrapped under KEK versions {missing}, "
            "which this KEK ring no longer holds",
            remedy="restore with the KEK file of the backup's time",
        )


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _publish(temp: Path, output: Path) -> None:
    """Move the finished archive into place without replacing anything already there."""
    try:
        os.link(temp, output)  # atomic and exclusive
    except FileExistsError as exc:
        raise ConfigError(f"{output} already exists", remedy="choose a new file name") from exc
    except OSError as exc:  # a file system without hard links (some network shares)
        if output.exists():
            raise ConfigError(f"{output} already exists", remedy="choose a new name") from exc
        temp.rename(output)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
