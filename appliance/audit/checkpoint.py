"""Signed checkpoints: an Ed25519 signature over the Merkle root of a prefix of the trail.

A checkpoint line is canonical JSON::

    {"statement": {"format": "appliance.audit.checkpoint.v1", "tree_size": N,
                   "root_hash": hex, "head_hash": hex, "time": rfc3339, "key_id": hex16},
     "signature": base64(Ed25519(canonical_json(statement))),
     "consistency": null | {"from_size": M, "proof": [hex, ...]}}

``root_hash`` is the RFC 6962 root of the first N entries, ``head_hash`` the ``hash`` of entry
N-1, ``key_id`` the first 16 hex digits of SHA-256 of the raw public key. ``consistency`` is
the RFC 6962 proof that the previous checkpoint's tree (size M) is a prefix of this one; it
is not signed (a proof needs no signature: it either verifies against two signed roots or not).
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

from appliance.audit.entry import canonical_json
from appliance.audit.merkle import MerkleTree

FORMAT = "appliance.audit.checkpoint.v1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_STATEMENT_KEYS = frozenset({"format", "tree_size", "root_hash", "head_hash", "time", "key_id"})


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

    def statement(self) -> dict[str, Any]:
        """The signed part."""
        return {
            "format": FORMAT,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "head_hash": self.head_hash,
            "time": self.time,
            "key_id": self.key_id,
        }

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
        if not isinstance(st, dict) or set(st) != _STATEMENT_KEYS:
            raise ValueError(f"statement fields are not {sorted(_STATEMENT_KEYS)}")
        if st["format"] != FORMAT:
            raise ValueError(f"unknown checkpoint format {st['format']!r}")
        size = st["tree_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError("tree_size is not a positive integer")
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
            if not isinstance(start, int) or isinstance(start, bool) or start < 0:
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
        )


def sign_checkpoint(
    signing_key: Ed25519PrivateKey,
    *,
    tree_size: int,
    root_hash: str,
    head_hash: str,
    time: str,
    consistency_from: int | None,
    consistency_proof: tuple[str, ...],
) -> Checkpoint:
    """Build and sign a checkpoint with ``signing_key``."""
    unsigned = Checkpoint(
        tree_size=tree_size,
        root_hash=root_hash,
        head_hash=head_hash,
        time=time,
        key_id=key_id(signing_key.public_key()),
        signature="",
        consistency_from=consistency_from,
        consistency_proof=consistency_proof,
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
