"""Durable append-only JSON-lines files shared by several processes.

``JsonlFile`` appends whole lines with ``O_APPEND`` and ``fsync``s each one before returning;
it remembers how far it has read, so that a process can pick up lines other processes
appended since its last look. ``TrailLock`` serialises writers: a ``threading.Lock`` within
the process and ``fcntl.flock`` on a lock file between processes. Errors are left as
``OSError``; the trail turns them into ``AuditWriteError``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from appliance.errors import IntegrityError

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
