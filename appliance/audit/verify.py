"""Offline verification of an audit directory: chain, Merkle roots, signatures, consistency.

``verify_trail`` reads the files only (no lock, nothing written) and reports every problem
it finds, with ``problem`` the first in trail order. Problem kinds:

entries
    ``malformed`` (not JSON or not an entry), ``missing`` (seq gap: deleted entries),
    ``reordered``, ``duplicate``, ``hash_mismatch`` (edited in place), ``non_canonical``
    (re-serialised), ``chain_broken`` (an entry rewritten with a fresh hash: its successor
    chained to the old one), ``torn_tail`` (the last line is incomplete: a crash mid-write;
    the next writer moves it aside).
checkpoints
    ``checkpoint_malformed``, ``wrong_key``, ``bad_signature``, ``truncated`` (signs more
    entries than there are), ``root_mismatch``, ``head_mismatch``, ``inconsistent`` (sizes
    go backwards, a checkpoint was removed, or the consistency proof fails),
    ``checkpoint_chain`` (a v2 checkpoint's signed counter is not its line number, or its
    signed link does not hash the checkpoint before it).
the trail as a whole
    ``no_checkpoint`` (entries, but no checkpoint at all: ``init`` signs the genesis entry),
    ``unsigned_tail`` (more entries after the newest valid checkpoint than its
    ``checkpoint_every``, or the caller's, whichever is larger: a crash leaves at most that).
the witness (with ``witness=``; see ``appliance.audit.witness``)
    ``witness_malformed``, ``witness_bad_signature``, ``witness_truncated``,
    ``witness_mismatch``, ``witness_missing``, ``witness_inconsistent``.

A ``root_mismatch`` cannot say which entry changed; it names the first seq after the last
checkpoint that verified, or the first entry problem in that range if there is one.
Entries after the newest checkpoint are protected by the hash chain only; entries after the
newest witnessed checkpoint can be cut together with the checkpoints that sign them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.audit.checkpoint import (
    Checkpoint,
    checkpoint_problem,
    key_id,
    link_problem,
    unsigned_tail_limit,
    unsigned_tail_problem,
)
from appliance.audit.entry import ZERO_HASH, AuditEntry
from appliance.audit.merkle import MerkleTree, verify_consistency
from appliance.audit.storage import StoreTrail, iter_lines
from appliance.audit.trail import CHECKPOINT_FILE, TRAIL_FILE
from appliance.audit.witness import check_witness, read_witness, witness_file
from appliance.errors import NotFoundError

MAX_PROBLEMS = 100
_Lines = Callable[[Path], Iterator[tuple[bytes, bool]]]
TRAIL_KINDS = frozenset({"no_checkpoint", "unsigned_tail"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``seq`` of the first bad entry (when known), kind, explanation."""

    kind: str
    message: str
    seq: int | None = None
    checkpoint: int | None = None
    """0-based line of ``checkpoints.jsonl`` for checkpoint problems."""

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """One line for an operator."""
        where = [] if self.seq is None else [f"seq {self.seq}"]
        if self.checkpoint is not None:
            where.append(f"checkpoint {self.checkpoint}")
        return f"{', '.join(where) or 'trail'}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class VerificationReport:
    """What ``verify_trail`` found. ``ok`` is True only when ``problems`` is empty."""

    ok: bool
    entries: int
    checkpoints: int
    signed_entries: int
    """How many entries the newest valid checkpoint covers."""
    root_hash: str
    """Merkle root (hex) of all complete entries."""
    problem: Problem | None = None
    problems: tuple[Problem, ...] = ()
    witnessed_entries: int | None = None
    """Entries under the newest witnessed checkpoint the trail holds; None without a witness."""

    def summary(self) -> str:
        """The line ``appliance audit verify`` prints."""
        if self.problem is None:
            witnessed = (
                ""
                if self.witnessed_entries is None
                else f", {self.witnessed_entries} under a witnessed checkpoint"
            )
            return (
                f"audit trail intact: {self.entries} entries, {self.checkpoints} checkpoints, "
                f"{self.signed_entries} entries under a signed checkpoint{witnessed}"
            )
        return f"audit trail broken at {self.problem.describe()}"


@dataclass
class _Scan:
    tree: MerkleTree = field(default_factory=MerkleTree)
    heads: dict[int, str | None] = field(default_factory=dict)
    problems: dict[int, Problem] = field(default_factory=dict)

    def add(self, seq: int, kind: str, message: str) -> None:
        self.problems.setdefault(seq, Problem(kind, message, seq=seq))


def _seq_problem(
    scan: _Scan, expected: int, found: int, line_no: int, *, later: bool, seen: bool
) -> None:
    """Classify line ``line_no`` holding ``found`` where ``expected`` belongs.

    ``later``: ``expected`` turns up further on; ``seen``: ``found`` turned up before.
    """
    where = f"line {line_no}"
    if found > expected and later:
        scan.add(expected, "reordered", f"entry {expected} is out of order ({where} holds {found})")
    elif found > expected:
        gone = f"{expected}" if found == expected + 1 else f"{expected}..{found - 1}"
        scan.add(expected, "missing", f"entries {gone} are missing ({where} holds {found})")
    elif seen:
        scan.add(expected, "duplicate", f"{where} repeats entry {found}, expected {expected}")
    else:
        scan.add(expected, "reordered", f"{where} holds entry {found}, expected {expected}")


def _scan_entries(path: Path, wanted: set[int], lines: _Lines = iter_lines) -> _Scan:
    """One pass over the trail: Merkle leaves, per-entry checks, chain links.

    ``wanted``: line indexes whose entry hash a checkpoint states as its head.
    """
    scan = _Scan()
    expected, previous_hash = 0, None  # previous_hash: None when the link can't be judged
    anomalies: list[tuple[int, int, int, bool]] = []  # (line, expected, found, found seen)
    last_line_of: dict[int, int] = {}
    breaks: dict[int, tuple[int, int]] = {}  # line index -> (seq before, seq at)
    for index, (line, complete) in enumerate(lines(path)):
        if not complete:
            scan.add(expected, "torn_tail", "the last line is incomplete (crash during write?)")
            break
        scan.tree.append(line)
        try:
            entry = AuditEntry.from_line(line)
            computed, canonical = entry.computed_hash(), entry.canonical_bytes()
        except ValueError as exc:
            scan.heads[index] = None
            scan.add(expected, "malformed", f"line {index + 1} is not an audit entry: {exc}")
            expected, previous_hash = expected + 1, None
            continue
        if index in wanted:
            scan.heads[index] = entry.hash
        seen = entry.seq in last_line_of
        last_line_of[entry.seq] = index
        if entry.seq != expected:
            anomalies.append((index, expected, entry.seq, seen))
            expected, previous_hash = max(expected, entry.seq + 1), None
            continue
        if computed != entry.hash:
            scan.add(entry.seq, "hash_mismatch", f"entry {entry.seq} was altered after writing")
        elif canonical != line:
            scan.add(entry.seq, "non_canonical", f"entry {entry.seq} was re-serialised")
        if index == 0 and entry.prev != ZERO_HASH:
            scan.add(0, "chain_broken", "the first entry does not start the chain")
        elif previous_hash is not None and entry.prev != previous_hash:
            breaks[index] = (entry.seq - 1, entry.seq)
        expected, previous_hash = expected + 1, entry.hash
    for index, want, found, seen in anomalies:
        later = last_line_of.get(want, -1) > index
        _seq_problem(scan, want, found, index + 1, later=later, seen=seen)
    for index, (before, at) in breaks.items():
        if before in scan.problems or at in scan.problems:
            continue  # already explained by a problem of one of the two entries
        if index + 1 in breaks:  # its own hash changed too: this entry was rewritten
            scan.add(at, "chain_broken", f"entry {at} was rewritten: it does not chain to {before}")
        else:
            scan.add(
                before, "chain_broken", f"entry {before} was rewritten: {at} chained elsewhere"
            )
    return scan


def _read_checkpoints(
    path: Path, lines: _Lines = iter_lines
) -> list[tuple[int, Checkpoint | Problem]]:
    out: list[tuple[int, Checkpoint | Problem]] = []
    for number, (line, complete) in enumerate(lines(path)):
        if not complete:
            out.append((number, Problem("torn_tail", "the last line is incomplete", None, number)))
            break
        try:
            out.append((number, Checkpoint.from_line(line)))
        except ValueError as exc:
            out.append((number, Problem("checkpoint_malformed", str(exc), None, number)))
    return out


@dataclass
class _Checked:
    signed: int = 0
    """Entries under the newest checkpoint that passed every check."""
    covering: Checkpoint | None = None
    """The largest checkpoint whose signature, root and head hold (chain problems aside)."""
    problems: list[tuple[float, Problem]] = field(default_factory=list)


def _check_checkpoints(
    checkpoints: list[tuple[int, Checkpoint | Problem]],
    scan: _Scan,
    public_key: Ed25519PublicKey,
) -> _Checked:
    checked = _Checked()
    previous: Checkpoint | None = None  # the last readable checkpoint
    line_before: Checkpoint | Problem | None = None  # what the line before held
    for number, cp in checkpoints:
        if isinstance(cp, Problem):  # unreadable: place it after the checkpoint before it
            checked.problems.append((float(previous.tree_size if previous else 0), cp))
            line_before = cp
            continue
        found = _one_checkpoint(cp, previous, scan, public_key, checked.signed)
        holds = found is None or found[0] == "inconsistent"  # signature, root and head hold
        if holds and (checked.covering is None or cp.tree_size > checked.covering.tree_size):
            checked.covering = cp
        if found is None and not isinstance(line_before, Problem):
            unlinked = link_problem(cp, number, line_before)
            if unlinked is not None:
                found = ("checkpoint_chain", None, unlinked)
        line_before = cp
        if found is None:
            checked.signed = cp.tree_size
        else:
            kind, seq, message = found
            key = float(cp.tree_size - 1 if seq is None else seq)
            checked.problems.append((key, Problem(kind, message, seq, number)))
        previous = cp
    return checked


def _one_checkpoint(
    cp: Checkpoint,
    previous: Checkpoint | None,
    scan: _Scan,
    public_key: Ed25519PublicKey,
    signed: int,
) -> tuple[str, int | None, str] | None:
    """``(kind, seq, message)`` of what is wrong with ``cp``, or None."""
    size = cp.tree_size
    found = checkpoint_problem(cp, scan.tree, public_key)
    if found is not None:
        kind, message = found
        if kind == "truncated":
            return kind, scan.tree.size, message
        if kind == "root_mismatch":
            inside = [s for s in scan.problems if signed <= s < size]
            first = min(inside, default=signed)
            return kind, first, f"{message}: an entry in seq {signed}..{size - 1} changed"
        return kind, None, f"checkpoint of {size} entries: {message}"
    if scan.heads.get(size - 1) != cp.head_hash:
        return "head_mismatch", size - 1, f"entry {size - 1} is not the signed head"
    if previous is None:
        if cp.consistency_from is not None:
            return "inconsistent", None, "the first checkpoint has a predecessor: some removed"
        return None
    if size <= previous.tree_size:
        return "inconsistent", None, f"checkpoint sizes go backwards ({previous.tree_size}, {size})"
    if cp.consistency_from != previous.tree_size:
        return (
            "inconsistent",
            None,
            f"proof starts at {cp.consistency_from}, previous checkpoint signed "
            f"{previous.tree_size}: a checkpoint was removed",
        )
    if not verify_consistency(
        previous.tree_size,
        size,
        bytes.fromhex(previous.root_hash),
        bytes.fromhex(cp.root_hash),
        [bytes.fromhex(h) for h in cp.consistency_proof],
    ):
        return "inconsistent", None, f"no valid consistency proof from {previous.tree_size}"
    return None


def verify_trail(
    directory: Path,
    public_key: Ed25519PublicKey | bytes,
    *,
    checkpoint_every: int | None = None,
    witness: Path | None = None,
    store: StoreTrail | None = None,
) -> VerificationReport:
    """Check an audit directory against the audit public key (object or raw 32 bytes).

    ``checkpoint_every``: the configured interval (the unsigned tail may be as long as the
    larger of it and the interval the newest checkpoint states). ``witness``: a witness file
    or directory (or a journal export) to hold the trail to. ``store``: the trail a shared
    store (PostgreSQL) keeps instead of the directory's files. Only reads; ``NotFoundError``
    when the directory or the witness does not exist.
    """
    if isinstance(public_key, bytes):
        public_key = Ed25519PublicKey.from_public_bytes(public_key)
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFoundError(
            f"no audit directory at {directory}", remedy="run `appliance init` first"
        )
    witness_path = None if witness is None else witness_file(witness, key_id(public_key))
    if witness_path is not None and not witness_path.is_file():
        raise NotFoundError(
            f"no audit witness at {witness_path}",
            remedy="pass the file or directory set as audit.witness_path, or a journal export",
        )
    lines: _Lines = iter_lines if store is None else (lambda path: store.iter_lines(path.name))
    checkpoints = _read_checkpoints(directory / CHECKPOINT_FILE, lines)
    wanted = {cp.tree_size - 1 for _, cp in checkpoints if isinstance(cp, Checkpoint)}
    scan = _scan_entries(directory / TRAIL_FILE, wanted, lines)
    checked = _check_checkpoints(checkpoints, scan, public_key)
    keyed = checked.problems
    keyed += [(float(seq), problem) for seq, problem in scan.problems.items()]
    keyed += _tail_problems(checkpoints, checked, scan.tree.size, checkpoint_every)
    witnessed = None
    if witness_path is not None:
        local = {n: cp for n, cp in checkpoints if isinstance(cp, Checkpoint)}
        witnessed, findings = check_witness(
            read_witness(witness_path), local, scan.tree, public_key
        )
        keyed += [
            (
                float(scan.tree.size if f.seq is None else f.seq),
                Problem(f.kind, f.message, f.seq, f.checkpoint),
            )
            for f in findings
        ]
    # trail order; at one seq: entry problems (precise), checkpoint problems, the rest
    keyed.sort(key=lambda pair: (pair[0], _rank(pair[1])))
    problems = tuple(problem for _, problem in keyed[:MAX_PROBLEMS])
    return VerificationReport(
        ok=not problems,
        entries=scan.tree.size,
        checkpoints=len(checkpoints),
        signed_entries=checked.signed,
        root_hash=scan.tree.root().hex(),
        problem=problems[0] if problems else None,
        problems=problems,
        witnessed_entries=witnessed,
    )


def _rank(problem: Problem) -> int:
    if problem.kind in TRAIL_KINDS or problem.kind.startswith("witness_"):
        return 2
    return 0 if problem.checkpoint is None else 1


def _tail_problems(
    checkpoints: list[tuple[int, Checkpoint | Problem]],
    checked: _Checked,
    size: int,
    checkpoint_every: int | None,
) -> list[tuple[float, Problem]]:
    """``no_checkpoint`` / ``unsigned_tail``, keyed at the first entry beyond the allowance."""
    if size and not checkpoints:
        return [(0.0, Problem("no_checkpoint", _NO_CHECKPOINT.format(size=size), 0))]
    found = unsigned_tail_problem(size, checked.covering, checkpoint_every)
    if found is None:
        return []
    start = 0 if checked.covering is None else checked.covering.tree_size
    limit = unsigned_tail_limit(checked.covering, checkpoint_every)
    kind, message = found
    return [(float(start + limit), Problem(kind, f"from seq {start} on: {message}", start))]


_NO_CHECKPOINT = (
    "the trail holds {size} entries but checkpoints.jsonl holds no checkpoint (init signs the "
    "genesis entry): the checkpoints were emptied or removed"
)
