"""The witness: a copy of every signed checkpoint kept outside the data directory.

Whoever can write the data directory can cut ``trail.jsonl`` and ``checkpoints.jsonl`` back
together to an earlier, self-consistent state; whoever also holds the KEK (and so the signing
key) can rewrite both entirely. Neither can take back a checkpoint that already reached a
store they cannot rewrite. ``FileWitness`` appends each checkpoint line to such a store: a
file (ideally ``chattr +a``, on another filesystem or host mount) or a directory, where it
writes ``audit-checkpoints-<key_id>.jsonl``. Every checkpoint is also logged as the
structured event ``audit.checkpoint`` (the systemd journal is a second witness);
``read_witness`` accepts a witness file or an export of that log
(``journalctl -u appliance -o cat``) alike.

``check_witness`` holds a trail to what was witnessed: every witnessed checkpoint must be
validly signed, be present in the local checkpoint chain under the same counter with the
same statement, and its root must be the root of that many trail entries. So at most the
entries after the newest witnessed checkpoint can be cut without notice.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from appliance.audit.checkpoint import Checkpoint, checkpoint_problem, key_id
from appliance.audit.entry import canonical_json
from appliance.audit.merkle import MerkleTree, verify_consistency
from appliance.audit.storage import FILE_MODE, fsync_dir, iter_lines
from appliance.errors import AuditWriteError

LOG_EVENT = "audit.checkpoint"
"""The structured-log event that carries each checkpoint (``checkpoint`` holds its dict)."""
_CHECKPOINT_KEYS = {"statement", "signature", "consistency"}
_TAIL_BYTES = 256 * 1024
"""How much of the end of the witness a writer reads on open (many checkpoint lines)."""
_log = structlog.get_logger(__name__)


def witness_file(path: Path, signer_key_id: str) -> Path:
    """The file a witness setting names: ``path`` itself, or a per-key file in a directory."""
    path = Path(path)
    return path / f"audit-checkpoints-{signer_key_id}.jsonl" if path.is_dir() else path


class FileWitness:
    """Appends checkpoint lines to an append-only file outside the data directory."""

    def __init__(self, path: Path, signer_key_id: str) -> None:
        self.path = witness_file(path, signer_key_id)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(
                2, "the witness directory does not exist", str(self.path.parent)
            )

    def append(self, lines: list[bytes]) -> None:
        """Append ``lines``: one write, one ``fsync``; ``O_APPEND`` only, so ``chattr +a`` works."""
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            data = memoryview(b"".join(line + b"\n" for line in lines))
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    def latest(self) -> Checkpoint | None:
        """The newest witnessed checkpoint (highest counter among the last lines); None when
        there is none. Reads only the end of the file. ``ValueError`` for a line there that
        is not a checkpoint."""
        try:
            with self.path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                start = max(0, size - _TAIL_BYTES)
                handle.seek(start)
                data = handle.read()
        except FileNotFoundError:
            return None
        lines = data.split(b"\n")[:-1]  # the part after the last newline is incomplete
        if start > 0:
            lines = lines[1:]  # the first line may begin before the part read
        best: Checkpoint | None = None
        for line in lines:
            if not line.strip():
                continue
            cp = Checkpoint.from_line(line)
            if best is None or _order(cp) > _order(best):
                best = cp
        return best


class WitnessFeed:
    """The writer's side of a witness: the file and the checkpoints not yet on it.

    Construction checks nothing on disk; the first ``send`` or ``check_on_open`` does.
    """

    def __init__(self, path: Path, signer_key_id: str) -> None:
        self._setting = Path(path)
        self._key_id = signer_key_id
        self._pending: list[Checkpoint] = []

    @property
    def path(self) -> Path:
        """The witness file."""
        return witness_file(self._setting, self._key_id)

    def check_on_open(
        self,
        tree: MerkleTree,
        last: Checkpoint | None,
        checkpoint_count: int,
        signing_key: Ed25519PrivateKey,
    ) -> str | None:
        """Why the trail lost the newest witnessed checkpoint, or None.

        Queues ``last`` when the witness is behind it (newly configured, or a write failed).
        Raises ``AuditWriteError`` when the witness location does not exist.
        """
        try:
            witnessed = FileWitness(self._setting, self._key_id).latest()
        except OSError as exc:
            raise self._unwritable(exc) from exc
        except ValueError as exc:
            return f"the audit witness {self.path} is unreadable ({exc})"
        problem = witness_problem(witnessed, tree, checkpoint_count, signing_key.public_key())
        if problem is not None:
            return f"{problem} (witness {self.path})"
        behind = witnessed is None or (witnessed.counter or 0) < checkpoint_count - 1
        if last is not None and behind:
            self._pending.append(last)
        return None

    def send(self, checkpoint: Checkpoint | None = None) -> None:
        """Append ``checkpoint`` and whatever is still pending; ``AuditWriteError`` on failure
        (the checkpoints stay pending and go with the next ``send``)."""
        if checkpoint is not None:
            self._pending.append(checkpoint)
        if not self._pending:
            return
        try:
            FileWitness(self._setting, self._key_id).append([cp.line() for cp in self._pending])
        except OSError as exc:
            raise self._unwritable(exc) from exc
        self._pending.clear()

    def _unwritable(self, exc: OSError) -> AuditWriteError:
        return AuditWriteError(
            f"could not write the audit witness {self.path}: "
            f"{exc.strerror or exc.__class__.__name__}",
            remedy="check that the witness (audit.witness_path, outside the data dir) exists, "
            "is mounted, writable and has space; operations stay refused until it is",
        )


def publish_checkpoint(cp: Checkpoint, feed: WitnessFeed | None) -> None:
    """Log ``cp`` as the event ``audit.checkpoint`` and send it to the witness, if any."""
    _log.info(
        LOG_EVENT,
        counter=cp.counter,
        tree_size=cp.tree_size,
        root_hash=cp.root_hash,
        checkpoint=cp.to_dict(),
    )
    if feed is not None:
        feed.send(cp)


def _order(cp: Checkpoint) -> tuple[int, int]:
    return (-1 if cp.counter is None else cp.counter, cp.tree_size)


def read_witness(path: Path) -> list[tuple[int, Checkpoint | str]]:
    """``(line number, checkpoint or why the line is not one)`` for each line of a witness.

    Takes checkpoint lines and JSON log records whose event is ``audit.checkpoint``; other
    log records are skipped, as is an incomplete last line (a crash mid-write).
    """
    out: list[tuple[int, Checkpoint | str]] = []
    for number, (line, complete) in enumerate(iter_lines(Path(path))):
        if not complete:
            break
        if not line.strip():
            continue
        try:
            raw = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            out.append((number, f"line {number + 1} is not JSON"))
            continue
        if isinstance(raw, dict) and set(raw) != _CHECKPOINT_KEYS and "event" in raw:
            if raw["event"] != LOG_EVENT:
                continue  # another log record of a journal export
            raw = raw.get("checkpoint")
        try:
            out.append((number, Checkpoint.from_line(canonical_json(raw))))
        except (ValueError, TypeError) as exc:
            out.append((number, f"line {number + 1} is not a checkpoint: {exc}"))
    return out


@dataclass(frozen=True)
class WitnessFinding:
    """One disagreement between the witness and the trail (``seq`` where it shows, if known)."""

    kind: str
    message: str
    seq: int | None = None
    checkpoint: int | None = None


def check_witness(
    witnessed: list[tuple[int, Checkpoint | str]],
    local: dict[int, Checkpoint],
    tree: MerkleTree,
    public_key: Ed25519PublicKey,
) -> tuple[int, list[WitnessFinding]]:
    """Hold the trail (``tree``, and ``local`` checkpoints by line) to the witness.

    Returns the size of the newest witnessed checkpoint the trail contains and the findings:
    ``witness_malformed``, ``witness_bad_signature`` (not this key's signature),
    ``witness_truncated`` (the trail is shorter than a witnessed checkpoint),
    ``witness_mismatch`` (different root, or a different local checkpoint under that
    counter), ``witness_missing`` (the local chain lacks a witnessed checkpoint) and
    ``witness_inconsistent`` (the witness contradicts itself).
    """
    findings: list[WitnessFinding] = []
    valid: list[Checkpoint] = []
    for number, item in witnessed:
        if isinstance(item, str):
            findings.append(WitnessFinding("witness_malformed", item))
        elif item.key_id != key_id(public_key) or not item.signature_valid(public_key):
            findings.append(
                WitnessFinding(
                    "witness_bad_signature",
                    f"witness line {number + 1} is not signed by the audit key",
                )
            )
        else:
            valid.append(item)
    if not valid:
        if tree.size:
            findings.append(
                WitnessFinding("witness_missing", "the witness holds no checkpoint of this key")
            )
        return 0, findings
    covered = 0
    for cp in valid:
        finding = _against_trail(cp, local, tree, public_key)
        if finding is None:
            covered = max(covered, cp.tree_size)
        else:
            findings.append(finding)
    findings.extend(_self_consistency(valid))
    return covered, findings


def _against_trail(
    cp: Checkpoint,
    local: dict[int, Checkpoint],
    tree: MerkleTree,
    public_key: Ed25519PublicKey,
) -> WitnessFinding | None:
    label = f"witnessed checkpoint {cp.counter if cp.counter is not None else '(v1)'}"
    problem = checkpoint_problem(cp, tree, public_key)
    if problem is not None and problem[0] == "truncated":
        return WitnessFinding(
            "witness_truncated",
            f"{label} signs {cp.tree_size} entries but the trail has {tree.size}: "
            f"entries from seq {tree.size} on were cut",
            seq=tree.size,
            checkpoint=cp.counter,
        )
    if problem is not None:
        return WitnessFinding(
            "witness_mismatch",
            f"{label}: the first {cp.tree_size} entries of the trail are not what was witnessed",
            seq=cp.tree_size - 1,
            checkpoint=cp.counter,
        )
    if cp.counter is None:
        return None
    mine = local.get(cp.counter)
    if mine is None:
        return WitnessFinding(
            "witness_missing",
            f"{label} is not in checkpoints.jsonl (it holds {len(local)} readable lines): "
            "checkpoints were removed",
            seq=cp.tree_size - 1,
            checkpoint=cp.counter,
        )
    if mine.statement() != cp.statement():
        return WitnessFinding(
            "witness_mismatch",
            f"{label} differs from the local checkpoint with that counter",
            seq=cp.tree_size - 1,
            checkpoint=cp.counter,
        )
    return None


def _self_consistency(valid: list[Checkpoint]) -> list[WitnessFinding]:
    """Counters, links and consistency proofs between consecutive witnessed checkpoints."""
    findings: list[WitnessFinding] = []
    chained = sorted((cp for cp in valid if cp.counter is not None), key=_order)
    for before, after in itertools.pairwise(chained):
        if after.counter == before.counter:
            if after.statement() != before.statement():
                findings.append(
                    WitnessFinding(
                        "witness_inconsistent",
                        f"two different checkpoints carry counter {after.counter}: a fork",
                        checkpoint=after.counter,
                    )
                )
            continue
        if after.tree_size <= before.tree_size:
            message = f"checkpoint sizes go backwards ({before.tree_size}, {after.tree_size})"
        elif after.counter != (before.counter or 0) + 1:
            continue  # not adjacent: each was held to the trail on its own
        elif after.previous != before.statement_hash():
            message = "the signed link to the previous witnessed checkpoint does not match"
        elif after.consistency_from == before.tree_size and not verify_consistency(
            before.tree_size,
            after.tree_size,
            bytes.fromhex(before.root_hash),
            bytes.fromhex(after.root_hash),
            [bytes.fromhex(h) for h in after.consistency_proof],
        ):
            message = f"no valid consistency proof from {before.tree_size}"
        else:
            continue
        findings.append(WitnessFinding("witness_inconsistent", message, checkpoint=after.counter))
    return findings


def witness_problem(
    witnessed: Checkpoint | None,
    tree: MerkleTree,
    checkpoint_count: int,
    public_key: Ed25519PublicKey,
) -> str | None:
    """Why a trail of ``tree`` with ``checkpoint_count`` checkpoints lost the newest witnessed
    checkpoint ``witnessed``, or None (a writer checks this on open)."""
    if witnessed is None:
        return None
    problem = checkpoint_problem(witnessed, tree, public_key)
    if problem is not None:
        return f"the trail does not hold the checkpoint its witness recorded: {problem[1]}"
    if witnessed.counter is not None and witnessed.counter >= checkpoint_count:
        return (
            f"the witness recorded checkpoint {witnessed.counter} but checkpoints.jsonl holds "
            f"{checkpoint_count}: checkpoints were cut"
        )
    return None
