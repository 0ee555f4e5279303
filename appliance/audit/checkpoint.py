"""Signed checkpoints: an Ed25519 signature over the Merkle root of a prefix of the trail.

A checkpoint line is canonical JSON. Format v2 (written since the checkpoint chain)::

    {"statement": {"format": "appliance.audit.checkpoint.v2", "counter": K,
                   "previous": hex, "checkpoint_every": E, "tree_size": N,
                   "root_hash": hex, "head_hash": hex, "time": rfc3339, "key_id": hex16},
     "signature": base64(Ed25519(canonical_json(statement))),
     "consistency": null | {"from_size": M, "proof": [hex, ...]}}

``root_hash`` is the RFC 6962 root of the first N entries, ``head_hash`` the ``hash`` of entry
N-1, ``key_id`` the first 16 hex digits of SHA-256 of the raw public key. ``counter`` is the
checkpoint's 0-based line number in ``checkpoints.jsonl`` (it grows by one per checkpoint);
``previous`` is ``statement_hash`` of the checkpoint before it (64 zeros for counter 0), so
the signed statements form a chain of their own: a checkpoint removed from the middle or the
end of a chain that continues breaks a signed link. ``checkpoint_every`` is the writer's
interval, which bounds the unsigned tail a crash can leave. ``consistency`` is the RFC 6962
proof that the previous checkpoint's tree (size M) is a prefix of this one; it is not signed
(a proof needs no signature: it either verifies against two signed roots or not).

Format v1 (``appliance.audit.checkpoint.v1``) lacks ``counter``, ``previous`` and
``checkpoint_every``; old v1 lines still verify, and a writer continues such a file with v2
checkpoints whose counter is their line number and whose ``previous`` hashes the last v1
statement. A v1 line after a v2 line is refused (a downgrade).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from appliance.audit.entry import ZERO_HASH, canonical_json
from appliance.audit.merkle import MerkleTree

FORMAT_V1 = "appliance.audit.checkpoint.v1"
FORMAT = "appliance.audit.checkpoint.v2"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_V1_KEYS = frozenset({"format", "tree_size", "root_hash", "head_hash", "time", "key_id"})
_V2_KEYS = _V1_KEYS | {"counter", "previous", "checkpoint_every"}


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement about the trail, and the proof linking it to the previous one."""

    tree_size: int
    root_hash: str
    head_hash: str
    time: str
    key_id: str
    signature: str
    consistency_from: int | None = None
    consistency_proof: tuple[str, ...] = ()
    counter: int | None = None
    """0-based position in the checkpoint chain; None for a v1 checkpoint."""
    previous: str | None = None
    """``statement_hash`` of the previous checkpoint (zeros for the first); None for v1."""
    checkpoint_every: int | None = None
    """The writer's checkpoint interval; None for v1."""

    @property
    def format(self) -> str:
        """``FORMAT`` (v2) or ``FORMAT_V1`` for an old checkpoint."""
        return FORMAT_V1 if self.counter is None else FORMAT

    def statement(self) -> dict[str, Any]:
        """The signed part."""
        statement: dict[str, Any] = {
            "format": self.format,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "head_hash": self.head_hash,
            "time": self.time,
            "key_id": self.key_id,
        }
        if self.counter is not None:
            statement["counter"] = self.counter
            statement["previous"] = self.previous
            statement["checkpoint_every"] = self.checkpoint_every
        return statement

    def statement_hash(self) -> str:
        """Hex SHA-256 of the canonical signed statement: what the next checkpoint links to."""
        return hashlib.sha256(canonical_json(self.statement())).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        consistency = (
            None
            if self.consistency_from is None
            else {"from_size": self.consistency_from, "proof": list(self.consistency_proof)}
        )
        return {
            "statement": self.statement(),
            "signature": self.signature,
            "consistency": consistency,
        }

    def line(self) -> bytes:
        """The stored line, without newline."""
        return canonical_json(self.to_dict())

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        """True when ``signature`` is ``public_key``'s signature over the statement."""
        try:
            signature = base64.b64decode(self.signature, validate=True)
            public_key.verify(signature, canonical_json(self.statement()))
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    @classmethod
    def from_line(cls, line: bytes) -> Checkpoint:
        """Parse a stored line; ``ValueError`` names what is malformed."""
        try:
            raw = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not valid JSON ({exc})") from exc
        if not isinstance(raw, dict) or set(raw) != {"statement", "signature", "consistency"}:
            raise ValueError("checkpoint is not {statement, signature, consistency}")
        st = raw["statement"]
        if not isinstance(st, dict) or st.get("format") not in (FORMAT, FORMAT_V1):
            raise ValueError("statement has no known checkpoint format")
        keys = _V2_KEYS if st["format"] == FORMAT else _V1_KEYS
        if set(st) != keys:
            raise ValueError(f"statement fields are not {sorted(keys)}")
        size = st["tree_size"]
        if not _is_int(size, 1):
            raise ValueError("tree_size is not a positive integer")
        chain = _chain_fields(st) if st["format"] == FORMAT else (None, None, None)
        for name in ("root_hash", "head_hash"):
            if not isinstance(st[name], str) or not _HEX64.match(st[name]):
                raise ValueError(f"{name} is not 64 lower-case hex digits")
        if not isinstance(st["time"], str) or not isinstance(st["key_id"], str):
            raise ValueError("time and key_id must be strings")
        if not isinstance(raw["signature"], str):
            raise ValueError("signature is not a base64 string")
        consistency = raw["consistency"]
        start: int | None = None
        proof: tuple[str, ...] = ()
        if consistency is not None:
            if not isinstance(consistency, dict) or set(consistency) != {"from_size", "proof"}:
                raise ValueError("consistency is not {from_size, proof}")
            start = consistency["from_size"]
            if not _is_int(start, 0):
                raise ValueError("consistency.from_size is not a non-negative integer")
            items = consistency["proof"]
            if not isinstance(items, list) or not all(
                isinstance(h, str) and _HEX64.match(h) for h in items
            ):
                raise ValueError("consistency.proof is not a list of 64-hex hashes")
            proof = tuple(items)
        return cls(
            tree_size=size,
            root_hash=st["root_hash"],
            head_hash=st["head_hash"],
            time=st["time"],
            key_id=st["key_id"],
            signature=raw["signature"],
            consistency_from=start,
            consistency_proof=proof,
            counter=chain[0],
            previous=chain[1],
            checkpoint_every=chain[2],
        )


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _chain_fields(st: dict[str, Any]) -> tuple[int, str, int]:
    if not _is_int(st["counter"], 0):
        raise ValueError("counter is not a non-negative integer")
    if not isinstance(st["previous"], str) or not _HEX64.match(st["previous"]):
        raise ValueError("previous is not 64 lower-case hex digits")
    if not _is_int(st["checkpoint_every"], 1):
        raise ValueError("checkpoint_every is not a positive integer")
    return st["counter"], st["previous"], st["checkpoint_every"]


def sign_checkpoint(
    signing_key: Ed25519PrivateKey,
    *,
    tree_size: int,
    root_hash: str,
    head_hash: str,
    time: str,
    consistency_from: int | None,
    consistency_proof: tuple[str, ...],
    counter: int,
    previous: str,
    checkpoint_every: int,
) -> Checkpoint:
    """Build and sign a (v2) checkpoint with ``signing_key``."""
    unsigned = Checkpoint(
        tree_size=tree_size,
        root_hash=root_hash,
        head_hash=head_hash,
        time=time,
        key_id=key_id(signing_key.public_key()),
        signature="",
        consistency_from=consistency_from,
        consistency_proof=consistency_proof,
        counter=counter,
        previous=previous,
        checkpoint_every=checkpoint_every,
    )
    signature = signing_key.sign(canonical_json(unsigned.statement()))
    return replace(unsigned, signature=base64.b64encode(signature).decode("ascii"))


def checkpoint_problem(
    cp: Checkpoint, tree: MerkleTree, public_key: Ed25519PublicKey
) -> tuple[str, str] | None:
    """``(kind, message)`` when ``cp`` is not a valid signature over a prefix of ``tree``.

    Kinds, in the order checked: ``wrong_key``, ``bad_signature``, ``truncated`` (the tree
    is smaller than ``cp.tree_size``), ``root_mismatch``.
    """
    expected = key_id(public_key)
    if cp.key_id != expected:
        return "wrong_key", f"signed by key {cp.key_id}, not by the audit key {expected}"
    if not cp.signature_valid(public_key):
        return "bad_signature", "the signature does not verify: forged or altered"
    if cp.tree_size > tree.size:
        return (
            "truncated",
            f"signs {cp.tree_size} entries but the trail has {tree.size}: "
            f"entries from seq {tree.size} on are missing",
        )
    if tree.root(cp.tree_size).hex() != cp.root_hash:
        return (
            "root_mismatch",
            f"the first {cp.tree_size} entries do not have the signed Merkle root",
        )
    return None


def link_problem(cp: Checkpoint, number: int, before: Checkpoint | None) -> str | None:
    """Why ``cp``, line ``number`` of the checkpoint file, does not link to ``before``, or None.

    ``before`` is the checkpoint on line ``number - 1`` (None for line 0). A v2 checkpoint must
    carry ``counter == number`` and the ``statement_hash`` of ``before`` (zeros on line 0); a
    v1 checkpoint must not follow a v2 one.
    """
    if cp.counter is None:
        if before is not None and before.counter is not None:
            return "an old-format (v1) checkpoint follows a v2 one: a downgrade or a splice"
        return None
    if cp.counter != number:
        return (
            f"signed counter {cp.counter} on line {number}: "
            f"{'checkpoints were removed before it' if cp.counter > number else 'one was added'}"
        )
    expected = ZERO_HASH if before is None else before.statement_hash()
    if cp.previous != expected:
        return f"signed link to checkpoint {number - 1} does not match it: one was replaced"
    return None


DEFAULT_CHECKPOINT_EVERY = 64
"""The interval assumed for a trail whose newest checkpoint is v1 (which does not state it)."""


def unsigned_tail_limit(last: Checkpoint | None, checkpoint_every: int | None) -> int:
    """How many entries may follow ``last`` unsigned: the larger of the interval it states
    and ``checkpoint_every`` (the configured one; the v1 default when neither is known)."""
    stated = None if last is None else last.checkpoint_every
    if stated is None and checkpoint_every is None:
        return DEFAULT_CHECKPOINT_EVERY
    return max(stated or 0, checkpoint_every or 0)


def unsigned_tail_problem(
    tree_size: int, last: Checkpoint | None, checkpoint_every: int | None
) -> tuple[str, str] | None:
    """``(kind, message)`` when more entries follow ``last`` unsigned than a crash can leave.

    Kinds: ``no_checkpoint`` (a non-empty trail that no checkpoint signs: ``init`` signs the
    genesis entry, so only removal explains it; tolerated by a writer for up to the limit,
    which is what a crash right after genesis leaves) and ``unsigned_tail``.
    """
    limit = unsigned_tail_limit(last, checkpoint_every)
    unsigned = tree_size - (0 if last is None else last.tree_size)
    if unsigned <= limit:
        return None
    if last is None:
        return (
            "no_checkpoint",
            f"no checkpoint signs the {unsigned} audit entries: the checkpoint file was "
            "emptied or removed",
        )
    return (
        "unsigned_tail",
        f"{unsigned} entries after the last valid checkpoint are unsigned, more than the "
        f"{limit} a crash can leave: checkpoints were removed or entries forged",
    )
