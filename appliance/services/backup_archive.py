"""The backup archive: its members (consistent copies of the store and the audit trail,
matching snapshots, the model manifest) and its format, a tar stream in AES-256-GCM frames.

Header (clear, authenticated by every frame): ``{"format", "kek_version", "salt"}``. Key:
HKDF-SHA256 of that KEK version with the salt. Body: a pax tar of regular files under
``appliance.db``, ``audit/``, ``index/`` and ``models/`` only.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sqlite3
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.audit.storage import TrailLock
from appliance.crypto.aead import KEY_BYTES, read_stream_header
from appliance.errors import ConfigError, IntegrityError
from appliance.settings import Settings

FORMAT = "appliance-backup/1"
CHUNK_BYTES = 1024 * 1024
DATABASE_NAME = "appliance.db"
AUDIT_FILES = ("trail.jsonl", "checkpoints.jsonl")
MODEL_MANIFEST = "models/manifest.json"
MODEL_METADATA_DIRS = ("models/baselines",)
_TOP_LEVEL = {DATABASE_NAME, "audit", "index", "models"}
_KDF_INFO = b"appliance-backup/1 archive key"


@dataclass(frozen=True)
class Member:
    """One regular file of the archive: its name, size and an open source."""

    name: str
    size: int
    source: BinaryIO


def archive_key(kek: bytes, salt: bytes) -> bytes:
    """The archive's key: HKDF-SHA256 of one KEK version, bound to this format and salt."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=_KDF_INFO).derive(kek)


def parse_header(raw: bytes) -> dict[str, object]:
    try:
        header = json.loads(raw)
        if header.get("format") != FORMAT:
            raise ValueError("format")
        header["kek_version"] = int(header["kek_version"])
        if len(base64.b64decode(header["salt"], validate=True)) != 16:
            raise ValueError("salt")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"backup archive: not an appliance backup ({exc})") from exc
    return header


def tar_stream(members: Iterable[Member]) -> Iterator[bytes]:
    """A ustar/pax stream of ``members``, file by file, one chunk at a time."""
    for member in members:
        info = tarfile.TarInfo(member.name)
        info.size, info.mode, info.mtime = member.size, 0o600, 0
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        left = member.size
        while left:
            chunk = member.source.read(min(CHUNK_BYTES, left))
            if not chunk:
                raise IntegrityError(f"{member.name} shrank while it was being backed up")
            left -= len(chunk)
            yield chunk
        if member.size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - member.size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def rebuffer(chunks: Iterable[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


class _FrameReader(io.RawIOBase):
    """The authenticated plaintext of an archive as a readable file (for ``tarfile``)."""

    def __init__(self, frames: Iterator[bytes]) -> None:
        self._frames = frames
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._frames, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def drain(self) -> None:
        """Authenticate every remaining frame (truncation and trailing bytes included)."""
        for _ in self._frames:
            pass


def extract(frames: Iterator[bytes], staging: Path) -> int:
    reader = _FrameReader(frames)
    count = 0
    try:
        with tarfile.open(fileobj=io.BufferedReader(reader), mode="r|") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if (
                    not member.isfile()
                    or not parts
                    or parts[0] not in _TOP_LEVEL
                    or ".." in parts
                    or member.name.startswith("/")
                ):
                    raise IntegrityError(f"backup archive: unexpected member {member.name!r}")
                tar.extract(member, staging, filter="data")
                count += 1
    except tarfile.TarError as exc:
        raise IntegrityError(f"backup archive: malformed contents ({exc})") from exc
    reader.drain()
    if not (staging / DATABASE_NAME).is_file():
        raise IntegrityError("backup archive: no store in it")
    return count


def sqlite_path(settings: Settings) -> Path:
    url = settings.database_url
    if not url.startswith("sqlite:///"):
        raise ConfigError(
            "backup supports the SQLite store only",
            remedy="back up the database with its own tools (pg_dump) and the files separately",
        )
    return Path(url.removeprefix("sqlite:///"))


def copy_database(settings: Settings, target: Path) -> None:
    """A consistent copy through SQLite's online backup API (readers and the writer go on)."""
    source = sqlite3.connect(f"file:{sqlite_path(settings)}?mode=ro", uri=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    copy = sqlite3.connect(target)
    try:
        source.execute(f"PRAGMA busy_timeout = {settings.database.busy_timeout_ms}")
        source.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
    finally:
        copy.close()
        source.close()


def copy_audit(audit_dir: Path, target: Path) -> None:
    """Trail and checkpoints copied together under the writers' lock (a consistent pair)."""
    target.mkdir(mode=0o700)
    lock = TrailLock(audit_dir / "trail.lock")
    try:
        with lock:
            for name in AUDIT_FILES:
                if (audit_dir / name).is_file():
                    shutil.copyfile(audit_dir / name, target / name)
    finally:
        lock.close()


def staged_member(stack: ExitStack, path: Path, name: str) -> Member:
    source = stack.enter_context(path.open("rb"))
    return Member(name, os.fstat(source.fileno()).st_size, source)


def snapshot_members(stack: ExitStack, data_dir: Path, database: Path) -> tuple[list[Member], int]:
    """Snapshots whose id is the one the copied store records (others are rebuilt)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        recorded = {
            (c, s): i
            for c, s, i in connection.execute(
                "SELECT collection, space, snapshot_id FROM index_snapshots"
            )
        }
    finally:
        connection.close()
    members: list[Member] = []
    skipped = 0
    for path in sorted((data_dir / "index").glob("*/*.snap")):
        source = stack.enter_context(path.open("rb"))
        try:
            snapshot_id = json.loads(read_stream_header(source)).get("snapshot_id")
        except (IntegrityError, ValueError):
            snapshot_id = None
        if snapshot_id is None or recorded.get((path.parent.name, path.stem)) != snapshot_id:
            skipped += 1
            continue
        source.seek(0)
        name = f"index/{path.parent.name}/{path.name}"
        members.append(Member(name, os.fstat(source.fileno()).st_size, source))
    return members, skipped


def model_members(stack: ExitStack, data_dir: Path, include_models: bool) -> list[Member]:
    models = data_dir / "models"
    if include_models:
        paths = [p for p in sorted(models.rglob("*")) if p.is_file() and not p.is_symlink()]
        paths = [p for p in paths if not p.name.endswith((".lock", ".tmp"))]
    else:
        paths = [data_dir / MODEL_MANIFEST] if (data_dir / MODEL_MANIFEST).is_file() else []
        for folder in MODEL_METADATA_DIRS:
            paths += [p for p in sorted((data_dir / folder).rglob("*")) if p.is_file()]
    return [staged_member(stack, p, p.relative_to(data_dir).as_posix()) for p in paths]
