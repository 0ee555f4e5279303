"""What an auditor takes away: the entries as JSON lines, and inclusion proofs.

An inclusion proof shows that one entry is leaf ``seq`` of the Merkle tree whose root a
signed checkpoint states, so a single entry can be handed over and checked without the rest
of the trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.audit.checkpoint import Checkpoint
from appliance.audit.entry import canonical_json
from appliance.audit.merkle import MerkleTree, verify_inclusion
from appliance.audit.storage import StoreTrail, iter_lines
from appliance.audit.trail import CHECKPOINT_FILE, TRAIL_FILE
from appliance.errors import NotFoundError


def export_jsonl(directory: Path, out: TextIO, store: StoreTrail | None = None) -> int:
    """Write every complete entry of the trail to ``out``, one JSON line each; return the count.
    ``store``: the trail a shared store (PostgreSQL) keeps instead of the directory's files.

    The lines are written exactly as stored (canonical JSON), so their hashes and Merkle
    leaves can be recomputed from the export. A torn last line is left out.
    """
    count = 0
    lines = (
        iter_lines(_trail_dir(directory) / TRAIL_FILE)
        if store is None
        else store.iter_lines(TRAIL_FILE)
    )
    for line, complete in lines:
        if not complete:
            break
        out.write(line.decode("utf-8"))
        out.write("\n")
        count += 1
    return count


@dataclass(frozen=True)
class InclusionProof:
    """Entry ``seq`` (its stored line) and the audit path to the root of ``tree_size`` leaves."""

    seq: int
    tree_size: int
    entry: str
    proof: tuple[str, ...]
    root_hash: str
    checkpoint: dict[str, Any] | None
    """The stored checkpoint that signs ``root_hash``; None when none covers ``seq`` yet."""

    def verify(self, public_key: Ed25519PublicKey | None = None) -> bool:
        """True when the path leads to ``root_hash`` (and, given a key, the checkpoint signs it)."""
        if not verify_inclusion(
            self.seq,
            self.tree_size,
            self.entry.encode("utf-8"),
            [bytes.fromhex(h) for h in self.proof],
            bytes.fromhex(self.root_hash),
        ):
            return False
        if public_key is None:
            return True
        if self.checkpoint is None:
            return False
        cp = Checkpoint.from_line(canonical_json(self.checkpoint))
        return (
            cp.tree_size == self.tree_size
            and cp.root_hash == self.root_hash
            and cp.signature_valid(public_key)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for handing to an auditor."""
        return {
            "seq": self.seq,
            "tree_size": self.tree_size,
            "entry": self.entry,
            "proof": list(self.proof),
            "root_hash": self.root_hash,
            "checkpoint": self.checkpoint,
        }


def inclusion_proof_for(directory: Path, seq: int) -> InclusionProof:
    """Proof that entry ``seq`` is in the tree of the newest checkpoint covering it.

    When no checkpoint covers ``seq`` yet, the proof is against the root of all entries and
    ``checkpoint`` is None. Raises ``NotFoundError`` for a seq the trail does not hold.
    """
    directory = _trail_dir(directory)
    tree = MerkleTree()
    lines: list[bytes] = []
    for line, complete in iter_lines(directory / TRAIL_FILE):
        if not complete:
            break
        tree.append(line)
        if len(lines) <= seq:
            lines.append(line)
    if not 0 <= seq < tree.size:
        raise NotFoundError(
            f"the audit trail has no entry {seq}", remedy=f"use a seq in 0..{tree.size - 1}"
        )
    covering: Checkpoint | None = None
    for line, complete in iter_lines(directory / CHECKPOINT_FILE):
        if not complete:
            break
        try:
            cp = Checkpoint.from_line(line)
        except ValueError:
            continue
        if seq < cp.tree_size <= tree.size:
            covering = cp
    size = tree.size if covering is None else covering.tree_size
    return InclusionProof(
        seq=seq,
        tree_size=size,
        entry=lines[seq].decode("utf-8"),
        proof=tuple(node.hex() for node in tree.inclusion_proof(seq, size)),
        root_hash=tree.root(size).hex(),
        checkpoint=None if covering is None else covering.to_dict(),
    )


def _trail_dir(directory: Path) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFoundError(
            f"no audit directory at {directory}", remedy="run `appliance init` first"
        )
    return directory
