"""The appending side of the audit trail: hash-chained entries, fsync'd, signed checkpoints.

Layout of the audit directory (0700, files 0600)::

    trail.jsonl             one canonical JSON entry per line (see ``entry``)
    checkpoints.jsonl       one signed checkpoint per line (see ``checkpoint``)
    trail.lock              flock target shared by every writer (server, CLI)
    *.torn-<time>           bytes of a torn last line, moved aside on open

Every ``append`` returns only after the line is on disk; if it cannot be written the caller
gets ``AuditWriteError`` and must not carry out the operation (fail closed). Writers in
several processes take the lock and first read whatever the others appended, so the chain
stays linear. Opening checks the last checkpoint against the trail and refuses
(``IntegrityError``) a trail that is shorter than, or differs from, what was signed.

A checkpoint is written as soon as ``checkpoint_every`` entries are unsigned (a group commit
is written in chunks that end there), and at close, so a crash leaves at most
``checkpoint_every`` unsigned entries. A writer refuses to adopt a longer unsigned tail, or
a trail the witness (``witness``: see ``appliance.audit.witness``) shows was cut or
rewritten; it would otherwise sign forged entries. Each checkpoint is also logged as the
event ``audit.checkpoint`` and appended to the witness; a witness that cannot be written
fails the operation like the trail itself, and is retried on the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.audit.checkpoint import (
    Checkpoint,
    checkpoint_problem,
    key_id,
    sign_checkpoint,
    unsigned_tail_problem,
)
from appliance.audit.entry import (
    MAX_ENTRY_BYTES,
    SYSTEM_ACTOR,
    ZERO_HASH,
    AuditEntry,
    canonical_json,
    entry_fields,
    entry_hash,
)
from appliance.audit.merkle import MerkleTree
from appliance.audit.storage import (
    DIR_MODE,
    JsonlFile,
    StoreLines,
    StoreTrail,
    StoreTrailLock,
    TrailLock,
)
from appliance.audit.witness import WitnessFeed, publish_checkpoint
from appliance.clock import Clock, isoformat
from appliance.domain.types import Actor
from appliance.errors import AuditWriteError, IntegrityError

TRAIL_FILE = "trail.jsonl"
CHECKPOINT_FILE = "checkpoints.jsonl"
LOCK_FILE = "trail.lock"
TORN_TAIL_ACTION = "audit.torn_tail_recovered"

_log = structlog.get_logger(__name__)
_WRITE_REMEDY = (
    "check free space, permissions and that the filesystem is writable; operations stay "
    "refused until the audit trail can be written"
)
_INTEGRITY_REMEDY = (
    "stop the appliance, run `appliance audit verify` and restore the audit directory from backup"
)


class AuditTrail:
    """Append-only, hash-chained, checkpointed audit trail in one directory.

    ``signing_key`` signs the checkpoints; the composition root loads it (this class never
    reads key files). ``witness``: a file or directory outside the data directory that
    receives a copy of every checkpoint (None: none). ``store``: keep the lines in a shared
    store (PostgreSQL: every node appends to one chain) instead of the directory's files.
    Thread-safe and multi-process safe.
    ``append`` blocks on ``fsync``: call it from a worker thread in async code.
    """

    def __init__(
        self,
        directory: Path,
        signing_key: Ed25519PrivateKey,
        *,
        clock: Clock,
        checkpoint_every: int = 64,
        witness: Path | None = None,
        store: StoreTrail | None = None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self._directory = Path(directory)
        self._signing_key = signing_key
        self._key_id = key_id(signing_key.public_key())
        self._clock = clock
        self._every = checkpoint_every
        self._tree = MerkleTree()
        self._head: tuple[int, str] = (-1, ZERO_HASH)
        self._last_checkpoint: Checkpoint | None = None
        self._checkpoint_count = 0
        self._witness = None if witness is None else WitnessFeed(witness, self._key_id)
        self._closed = True
        self._failure: IntegrityError | None = None
        self._files: list[JsonlFile | TrailLock | StoreLines | StoreTrailLock] = []
        self._trail: JsonlFile | StoreLines
        self._checkpoints: JsonlFile | StoreLines
        try:
            self._directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            if store is not None:  # a shared store: one chain for every node
                self._lock: TrailLock | StoreTrailLock = store.open_lock()
                self._trail = StoreLines(self._lock, TRAIL_FILE)
                self._checkpoints = StoreLines(self._lock, CHECKPOINT_FILE)
                self._files += [self._lock, self._trail, self._checkpoints]
            else:
                self._lock = TrailLock(self._directory / LOCK_FILE)
                self._files.append(self._lock)
                self._trail = JsonlFile(self._directory / TRAIL_FILE)
                self._files.append(self._trail)
                self._checkpoints = JsonlFile(self._directory / CHECKPOINT_FILE)
                self._files.append(self._checkpoints)
        except OSError as exc:
            self._close_files()
            raise self._write_error("open", exc) from exc
        self._closed = False
        try:
            with self._guard("open"):
                self._sync(check=True)
        except BaseException:
            self._closed = True
            self._close_files()
            raise

    # -- public API ---------------------------------------------------------------------

    @property
    def head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the last entry this object has seen; None while the trail is empty."""
        return None if self._head[0] < 0 else self._head

    @property
    def key_id(self) -> str:
        """Key id of the signing key (as written in checkpoints)."""
        return self._key_id

    @property
    def last_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint this object has seen or written."""
        return self._last_checkpoint

    def append(
        self,
        *,
        actor: Actor,
        action: str,
        outcome: str,
        collection: str | None = None,
        subject: str | None = None,
        decision: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Record one event durably and return it.

        Raises ``ValueError``/``InvalidInputError`` for refused fields (content keys, raw
        subject ids, long strings) before touching the disk, and ``AuditWriteError`` when the
        entry could not be made durable: the caller must then not carry out the operation.
        """
        fields = entry_fields(
            actor=actor,
            action=action,
            outcome=outcome,
            collection=collection,
            subject=subject,
            decision=decision,
            details=details,
        )
        self._require_open()
        with self._guard("append to"):
            self._sync()
            return self._append_locked(fields)

    def append_many(self, events: list[dict[str, Any]]) -> list[AuditEntry]:
        """Record several events durably with one ``fsync`` (same checks as ``append``).

        Each event holds ``append``'s keyword arguments. All or none are written, except
        that a batch longer than what is left of the checkpoint interval is written in
        chunks, each signed as it fills the interval: after a write error, the chunks
        already signed stay (the caller still gets ``AuditWriteError``).
        """
        if not events:
            return []
        fields = [entry_fields(**event) for event in events]
        self._require_open()
        with self._guard("append to"):
            self._sync()
            return self._append_many_locked(fields)

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head now (no-op if already signed); ``None`` for an empty trail."""
        self._require_open()
        with self._guard("checkpoint"):
            self._sync()
            return self._checkpoint_locked()

    def close(self) -> None:
        """Write a final checkpoint and release the files. Idempotent."""
        if self._closed:
            return
        if self._failure is not None:
            self._closed = True
            self._close_files()
            return
        try:
            with self._guard("close"):
                self._sync()
                self._checkpoint_locked()
        finally:
            self._closed = True
            self._close_files()

    def __enter__(self) -> AuditTrail:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals (callers hold the lock) ------------------------------------------------

    def _write_error(self, what: str, exc: OSError) -> AuditWriteError:
        reason = exc.strerror or exc.__class__.__name__
        return AuditWriteError(
            f"could not {what} the audit trail in {self._directory}: {reason}",
            remedy=_WRITE_REMEDY,
        )

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            with self._lock:
                yield
        except OSError as exc:
            raise self._write_error(what, exc) from exc
        except IntegrityError as exc:
            self._failure = exc  # the in-memory head can no longer be trusted
            raise

    def _require_open(self) -> None:
        if self._failure is not None:
            raise AuditWriteError(
                f"the audit trail was refused: {self._failure.message}",
                remedy=self._failure.remedy,
            )
        if self._closed:
            raise AuditWriteError("the audit trail is closed", remedy="open a new AuditTrail")

    def _close_files(self) -> None:
        for handle in self._files:
            handle.close()
        self._files = []

    def _sync(self, *, check: bool = False) -> None:
        """Take in what other writers appended; move torn tails aside and record that.

        With ``check``, the last checkpoint is verified against the trail before anything
        is written (on open).
        """
        last: list[bytes] = []

        def take_entry(line: bytes) -> None:
            self._tree.append(line)
            last[:] = [line]

        try:
            torn = self._trail.read_new(take_entry)
        finally:
            if last:
                self._take_head(last[0])
        last.clear()
        torn_checkpoint = self._checkpoints.read_new(last.append)
        self._checkpoint_count += len(last)
        if last:
            try:
                self._last_checkpoint = Checkpoint.from_line(last[-1])
            except ValueError as exc:
                raise self._integrity(f"the last checkpoint is unreadable ({exc})") from exc
        if check:  # on open; later, other writers' entries are taken as they come
            self._check_last_checkpoint()
            self._check_unsigned_tail()
            self._check_witness()
        stamp = self._clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        moved = [
            (handle, len(tail), handle.move_torn(tail, stamp))
            for handle, tail in ((self._trail, torn), (self._checkpoints, torn_checkpoint))
            if tail
        ]
        for handle, size, name in moved:
            _log.warning("audit.torn_tail_recovered", file=handle.path.name, torn_bytes=size)
            self._append_locked(
                entry_fields(
                    actor=SYSTEM_ACTOR,
                    action=TORN_TAIL_ACTION,
                    outcome="ok",
                    details={"file": handle.path.name, "torn_bytes": size, "moved_to": name},
                )
            )
        if self._unsigned() >= self._every:  # a writer died between its entry and checkpoint
            self._checkpoint_locked()
        if self._witness is not None:
            self._witness.send()

    def _take_head(self, line: bytes) -> None:
        try:
            entry = AuditEntry.from_line(line)
        except ValueError as exc:
            raise self._integrity(f"the last audit entry is unreadable ({exc})") from exc
        if entry.seq != self._tree.size - 1:
            raise self._integrity(
                f"the last audit entry has seq {entry.seq} but is line {self._tree.size}"
            )
        self._head = (entry.seq, entry.hash)

    def _integrity(self, message: str) -> IntegrityError:
        return IntegrityError(f"{message} in {self._directory}", remedy=_INTEGRITY_REMEDY)

    def _check_last_checkpoint(self) -> None:
        if self._last_checkpoint is None:
            return
        problem = checkpoint_problem(
            self._last_checkpoint, self._tree, self._signing_key.public_key()
        )
        if problem is not None:
            raise self._integrity(f"the last checkpoint does not match the trail: {problem[1]}")

    def _unsigned(self) -> int:
        last = self._last_checkpoint
        return self._tree.size - (0 if last is None else last.tree_size)

    def _check_unsigned_tail(self) -> None:
        """Refuse to adopt (and later sign) more unsigned entries than a crash can leave."""
        problem = unsigned_tail_problem(self._tree.size, self._last_checkpoint, self._every)
        if problem is not None:
            raise self._integrity(problem[1])

    def _check_witness(self) -> None:
        """On open: the trail must still hold the newest witnessed checkpoint."""
        if self._witness is None:
            return
        problem = self._witness.check_on_open(
            self._tree, self._last_checkpoint, self._checkpoint_count, self._signing_key
        )
        if problem is not None:
            raise self._integrity(problem)

    def _append_locked(self, fields: dict[str, Any]) -> AuditEntry:
        seq, prev = self._head
        body = {"seq": seq + 1, "time": isoformat(self._clock.now()), "prev": prev, **fields}
        body["hash"] = entry_hash(body)
        line = canonical_json(body)
        if len(line) > MAX_ENTRY_BYTES:
            raise ValueError(f"audit entry is larger than {MAX_ENTRY_BYTES} bytes")
        self._trail.append(line)
        self._tree.append(line)
        entry = AuditEntry.from_line(line)
        self._head = (entry.seq, entry.hash)
        if self._unsigned() >= self._every:
            self._checkpoint_locked()
        return entry

    def _append_many_locked(self, many: list[dict[str, Any]]) -> list[AuditEntry]:
        seq, prev = self._head
        lines: list[bytes] = []
        for fields in many:
            body = {"seq": seq + 1, "time": isoformat(self._clock.now()), "prev": prev, **fields}
            body["hash"] = entry_hash(body)
            line = canonical_json(body)
            if len(line) > MAX_ENTRY_BYTES:
                raise ValueError(f"audit entry is larger than {MAX_ENTRY_BYTES} bytes")
            lines.append(line)
            seq, prev = body["seq"], body["hash"]
        entries: list[AuditEntry] = []
        start = 0
        while start < len(lines):  # chunks end where a checkpoint is due: no long unsigned tail
            chunk = lines[start : start + max(1, self._every - self._unsigned())]
            self._trail.append_lines(chunk)
            for line in chunk:
                self._tree.append(line)
                entries.append(AuditEntry.from_line(line))
            self._head = (entries[-1].seq, entries[-1].hash)
            start += len(chunk)
            if self._unsigned() >= self._every:
                self._checkpoint_locked()
        return entries

    def _checkpoint_locked(self) -> Checkpoint | None:
        size = self._tree.size
        if size == 0:
            return None
        last = self._last_checkpoint
        if last is not None and last.tree_size == size:
            return last
        if last is not None and last.tree_size > size:
            raise self._integrity(
                f"a checkpoint signed {last.tree_size} entries but the trail has {size}"
            )
        proof = self._tree.consistency_proof(last.tree_size) if last is not None else []
        cp = sign_checkpoint(
            self._signing_key,
            tree_size=size,
            root_hash=self._tree.root().hex(),
            head_hash=self._head[1],
            time=isoformat(self._clock.now()),
            consistency_from=None if last is None else last.tree_size,
            consistency_proof=tuple(node.hex() for node in proof),
            counter=self._checkpoint_count,
            previous=ZERO_HASH if last is None else last.statement_hash(),
            checkpoint_every=self._every,
        )
        self._checkpoints.append(cp.line())
        self._checkpoint_count += 1
        self._last_checkpoint = cp
        publish_checkpoint(cp, self._witness)
        return cp
