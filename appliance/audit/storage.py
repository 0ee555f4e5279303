"""Durable append-only JSON-lines files shared by several processes.

``JsonlFile`` appends whole lines with ``O_APPEND`` and ``fsync``s each one before returning;
it remembers how far it has read, so that a process can pick up lines other processes
appended since its last look. ``TrailLock`` serialises writers: a ``threading.Lock`` within
the process and ``fcntl.flock`` on a lock file between processes. Errors are left as
``OSError``; the trail turns them into ``AuditWriteError``.

When the store is shared by several nodes (PostgreSQL), ``StoreTrail`` gives the same two
pieces over the database: ``StoreLines`` keeps each line as a row of ``audit_lines``
(committed before ``append`` returns, as ``fsync`` is) and ``StoreTrailLock`` is a
session-level advisory lock held on the connection the appends go through, so the nodes
append to one linear chain; the table's key (stream, line number) refuses a fork even if
the lock were bypassed. Database errors surface as ``OSError`` like a failing disk.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from appliance.errors import IntegrityError
from appliance.store.schema import audit_lines

FILE_MODE = 0o600
DIR_MODE = 0o700


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (new or renamed files) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_lines(path: Path) -> Iterator[tuple[bytes, bool]]:
    """Yield ``(line, complete)`` for each line of ``path``, newline stripped.

    Only the last line can be incomplete (no trailing newline: a torn write). A missing
    file yields nothing.
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for raw in handle:
            if raw.endswith(b"\n"):
                yield raw[:-1], True
            else:
                yield raw, False


class TrailLock:
    """Exclusive lock across threads (``threading.Lock``) and processes (``flock``)."""

    def __init__(self, path: Path) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)

    def __enter__(self) -> TrailLock:
        self._thread_lock.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Release the lock file descriptor."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


class JsonlFile:
    """One append-only JSON-lines file, with the offset up to which this process has read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        if created:
            try:
                os.fsync(self._fd)
                fsync_dir(path.parent)
            except OSError:
                os.close(self._fd)
                raise

    def read_new(self, on_line: Callable[[bytes], None]) -> bytes:
        """Feed each complete line written since ``offset`` to ``on_line``; return a torn tail.

        ``offset`` advances past the complete lines only. Raises ``IntegrityError`` when the
        file is shorter than what was already read (it was cut behind our back).
        """
        size = os.fstat(self._fd).st_size
        if size < self.offset:
            raise IntegrityError(
                f"{self.path.name} shrank from {self.offset} to {size} bytes while open",
                remedy="stop the appliance, run `appliance audit verify` and restore the "
                "audit directory from backup",
            )
        if size == self.offset:
            return b""
        torn = b""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            for raw in handle:
                if raw.endswith(b"\n"):
                    on_line(raw[:-1])
                    self.offset += len(raw)
                else:
                    torn = raw
        return torn

    def append(self, line: bytes) -> None:
        """Append ``line`` and a newline, ``fsync``, and only then advance ``offset``.

        On failure the file is cut back to ``offset`` (best effort), so a half-written line
        never outlives the error; the ``OSError`` is re-raised.
        """
        self.append_lines([line])

    def append_lines(self, lines: list[bytes]) -> None:
        """Append several lines with one write and one ``fsync`` (group commit)."""
        if any(b"\n" in line for line in lines):
            raise ValueError("a JSON line must not contain a newline")
        data = memoryview(b"".join(line + b"\n" for line in lines))
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.offset)
            raise
        self.offset += len(data)

    def move_torn(self, torn: bytes, stamp: str) -> str:
        """Move a torn tail to ``<name>.torn-<stamp>``, cut it off the file; return the new name."""
        name = f"{self.path.name}.torn-{stamp}"
        counter = 0
        while (self.path.parent / name).exists():
            counter += 1
            name = f"{self.path.name}.torn-{stamp}-{counter}"
        fd = os.open(
            self.path.parent / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE
        )
        try:
            view = memoryview(torn)
            written = 0
            while written < len(view):
                written += os.write(fd, view[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.path.parent)
        os.ftruncate(self._fd, self.offset)
        os.fsync(self._fd)
        return name

    def close(self) -> None:
        """Close the append descriptor."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


# -- the trail in a shared store (PostgreSQL) -------------------------------------------------

TRAIL_LOCK_KEY = 0x61707061  # "appa": the advisory lock of the audit trail's writers


def _store_error(exc: SQLAlchemyError) -> OSError:
    error = OSError(errno.EIO, f"the store refused the audit write ({str(exc).splitlines()[0]})")
    error.__cause__ = exc
    return error


class StoreTrailLock:
    """Exclusive across threads and nodes: a session advisory lock on a dedicated connection
    (the server releases it if the process dies). The appends go through ``connection``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._thread_lock = threading.Lock()
        self._connection: Connection | None = None
        self.failed = False

    @property
    def connection(self) -> Connection:
        """The locked connection (only while held)."""
        if self._connection is None:
            raise RuntimeError("the audit trail lock is not held")
        return self._connection

    def __enter__(self) -> StoreTrailLock:
        self._thread_lock.acquire()
        try:
            connection = self._engine.connect()
            try:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": TRAIL_LOCK_KEY})
                connection.commit()
            except BaseException:
                connection.invalidate()
                connection.close()
                raise
        except SQLAlchemyError as exc:
            self._thread_lock.release()
            raise _store_error(exc) from exc
        except BaseException:
            self._thread_lock.release()
            raise
        self._connection, self.failed = connection, False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        try:
            if connection is not None:
                try:
                    if self.failed or exc_type is not None:
                        connection.invalidate()  # closing the session drops the lock for sure
                    else:
                        connection.execute(
                            text("SELECT pg_advisory_unlock(:k)"), {"k": TRAIL_LOCK_KEY}
                        )
                        connection.commit()
                except SQLAlchemyError:
                    connection.invalidate()
                finally:
                    connection.close()
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Nothing to release between uses."""


class StoreLines:
    """One stream of lines (``trail.jsonl`` or ``checkpoints.jsonl``) as rows; ``offset``
    counts the lines this process has read. Used only under ``StoreTrailLock``."""

    def __init__(self, lock: StoreTrailLock, name: str) -> None:
        self.path = Path(name)  # the file it stands for (named in messages)
        self.offset = 0
        self._lock = lock
        self._stream = name

    def read_new(self, on_line: Callable[[bytes], None]) -> bytes:
        """Feed each line written since ``offset`` to ``on_line``; never a torn tail (rows
        are whole). ``IntegrityError`` when lines already read were deleted."""
        connection = self._lock.connection
        where = audit_lines.c.stream == self._stream
        try:
            count = int(
                connection.execute(
                    select(func.count()).select_from(audit_lines).where(where)
                ).scalar_one()
            )
            if count < self.offset:
                raise IntegrityError(
                    f"{self._stream} in the store shrank from {self.offset} to {count} lines",
                    remedy="stop the appliance nodes, run `appliance audit verify` and restore "
                    "the database from backup",
                )
            if count == self.offset:
                connection.commit()
                return b""
            rows = connection.execute(
                select(audit_lines.c.line_no, audit_lines.c.line)
                .where(where & (audit_lines.c.line_no >= self.offset))
                .order_by(audit_lines.c.line_no)
            ).all()
            connection.commit()
        except SQLAlchemyError as exc:
            self._lock.failed = True
            raise _store_error(exc) from exc
        for line_no, line in rows:
            if int(line_no) != self.offset:
                raise IntegrityError(
                    f"{self._stream} in the store has line {line_no} where {self.offset} belongs",
                    remedy="stop the appliance nodes, run `appliance audit verify` and restore "
                    "the database from backup",
                )
            on_line(bytes(line))
            self.offset += 1
        return b""

    def append(self, line: bytes) -> None:
        """Append one line, committed before returning."""
        self.append_lines([line])

    def append_lines(self, lines: list[bytes]) -> None:
        """Append several lines in one transaction (all or none); ``offset`` advances after
        the commit only."""
        if any(b"\n" in line for line in lines):
            raise ValueError("a JSON line must not contain a newline")
        connection = self._lock.connection
        rows = [
            {"stream": self._stream, "line_no": self.offset + n, "line": line}
            for n, line in enumerate(lines)
        ]
        try:
            connection.execute(audit_lines.insert(), rows)
            connection.commit()
        except SQLAlchemyError as exc:
            self._lock.failed = True
            raise _store_error(exc) from exc
        self.offset += len(lines)

    def move_torn(self, torn: bytes, stamp: str) -> str:
        """Rows are never torn; nothing to move."""
        raise ValueError("a store-kept audit trail has no torn tail")

    def close(self) -> None:
        """Nothing to close (the lock owns the connection)."""


class StoreTrail:
    """Where a shared store keeps the audit trail: the lock and the two line streams."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def open_lock(self) -> StoreTrailLock:
        """A new writer lock (one per ``AuditTrail``)."""
        return StoreTrailLock(self.engine)

    def iter_lines(self, name: str) -> Iterator[tuple[bytes, bool]]:
        """Every line of a stream, as ``iter_lines`` yields a file's (all complete)."""
        query = (
            select(audit_lines.c.line)
            .where(audit_lines.c.stream == name)
            .order_by(audit_lines.c.line_no)
        )
        with self.engine.connect() as connection:
            lines = [bytes(line) for line in connection.execute(query).scalars()]
        for line in lines:
            yield line, True


def store_trail(engine: Engine) -> StoreTrail | None:
    """The store-kept trail for a shared store (PostgreSQL); None for embedded SQLite."""
    return None if engine.dialect.name == "sqlite" else StoreTrail(engine)
