"""One audit entry: its fields, the rules that keep content and raw ids out, its hash.

An entry is stored as one line of canonical JSON (``sort_keys``, separators ``,`` and ``:``,
ASCII only). ``hash`` is the SHA-256 of the canonical JSON of the entry without ``hash``;
``prev`` is the previous entry's ``hash`` (64 zeros for seq 0). The Merkle leaf of an entry
is its whole canonical line (``hash`` included), without the newline.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from appliance.domain.types import Actor, Pseudonym, require_pseudonym, validate_collection_name

ZERO_HASH = "0" * 64
SYSTEM_ACTOR = Actor(token_id="appliance", role="system")  # noqa: S106 (an id, not a secret)
"""The actor of entries the trail writes about itself (torn-tail recovery)."""

MAX_STRING = 512
MAX_LIST = 32
MAX_DEPTH = 4
MAX_ENTRY_BYTES = 16 * 1024
FORBIDDEN_KEYS = frozenset(
    {
        "content", "text", "data", "subject_id", "metadata", "vector", "embedding",
        "raw", "image", "audio", "payload", "query", "transcript", "prompt",
        "mrn", "patient_id", "ssn", "dob",
    }
)  # fmt: skip
"""Keys that would carry content or raw subject ids; refused in ``details`` and ``decision``."""

FIELDS = (
    "seq", "time", "actor", "action", "collection", "subject",
    "decision", "outcome", "details", "prev", "hash",
)  # fmt: skip
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_OUTCOME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, ASCII, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def entry_hash(body: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of ``body`` without its ``hash`` key."""
    return hashlib.sha256(
        canonical_json({k: v for k, v in body.items() if k != "hash"})
    ).hexdigest()


def _check_value(where: str, value: Any, *, depth: int, nested: bool) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"audit field {where} is not a finite number")
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ValueError(f"audit field {where} is longer than {MAX_STRING} characters")
        return
    if isinstance(value, list | tuple):
        if len(value) > MAX_LIST:
            raise ValueError(f"audit field {where} has more than {MAX_LIST} items")
        for i, item in enumerate(value):
            _check_value(f"{where}[{i}]", item, depth=depth + 1, nested=False)
            if not nested and isinstance(item, list | tuple | dict):
                raise ValueError(f"audit field {where} may only hold scalars")
        return
    if isinstance(value, dict) and nested:
        _check_mapping(where, value, depth=depth + 1, nested=True)
        return
    raise ValueError(f"audit field {where} has a type the audit trail does not take")


def _check_mapping(where: str, mapping: dict[str, Any], *, depth: int, nested: bool) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"audit field {where} is nested too deeply")
    for key, value in mapping.items():
        if not isinstance(key, str) or not key or len(key) > 64:
            raise ValueError(f"audit field {where} has a key that is not a short string")
        if key.lower() in FORBIDDEN_KEYS:
            raise ValueError(
                f"audit field {where}.{key} is refused: key {key!r} would carry content or a raw id"
            )
        _check_value(f"{where}.{key}", value, depth=depth, nested=nested)


def validate_fields(
    *,
    actor: Actor,
    action: str,
    outcome: str,
    collection: str | None,
    subject: str | None,
    decision: dict[str, Any] | None,
    details: dict[str, Any] | None,
) -> None:
    """Raise ``ValueError`` (or ``InvalidInputError`` for a raw subject) naming what is refused.

    ``details`` holds scalars and flat lists of scalars; ``decision`` may nest a few levels.
    No key in either may be one of ``FORBIDDEN_KEYS``; no string longer than ``MAX_STRING``.
    """
    if not isinstance(actor, Actor):
        raise ValueError("audit actor must be an Actor")
    for name, text in (("actor.token_id", actor.token_id), ("actor.role", actor.role)):
        if not isinstance(text, str) or not 0 < len(text) <= 128:
            raise ValueError(f"audit field {name} must be a string of 1-128 characters")
    if not isinstance(action, str) or len(action) > 64 or not _ACTION.match(action):
        raise ValueError(f"audit action {action!r} is not dotted lower-case words")
    if not isinstance(outcome, str) or not _OUTCOME.match(outcome):
        raise ValueError(f"audit outcome {outcome!r} is not a short lower-case word")
    if collection is not None:
        validate_collection_name(collection)
    if subject is not None:
        require_pseudonym(subject)
    for name, mapping, nested in (("decision", decision, True), ("details", details, False)):
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            raise ValueError(f"audit field {name} must be a dict or None")
        _check_mapping(name, mapping, depth=1, nested=nested)


def entry_fields(
    *,
    actor: Actor,
    action: str,
    outcome: str,
    collection: str | None = None,
    subject: str | None = None,
    decision: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate (see ``validate_fields``) and return the caller-given fields, as stored."""
    validate_fields(
        actor=actor,
        action=action,
        outcome=outcome,
        collection=collection,
        subject=subject,
        decision=decision,
        details=details,
    )
    return {
        "actor": {"token_id": actor.token_id, "role": actor.role},
        "action": action,
        "outcome": outcome,
        "collection": collection,
        "subject": subject,
        "decision": json.loads(canonical_json(decision)),  # a deep, JSON-shaped copy
        "details": json.loads(canonical_json(details)),
    }


@dataclass(frozen=True)
class AuditEntry:
    """One recorded event, as stored (see the module docstring for the hash rules)."""

    seq: int
    time: str
    actor: Actor
    action: str
    collection: str | None
    subject: Pseudonym | None
    decision: dict[str, Any] | None
    outcome: str
    details: dict[str, Any] | None
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict (a copy; ``hash`` included)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": {"token_id": self.actor.token_id, "role": self.actor.role},
            "action": self.action,
            "collection": self.collection,
            "subject": self.subject,
            "decision": copy.deepcopy(self.decision),
            "outcome": self.outcome,
            "details": copy.deepcopy(self.details),
            "prev": self.prev,
            "hash": self.hash,
        }

    def canonical_bytes(self) -> bytes:
        """The stored line (without newline): also the entry's Merkle leaf."""
        return canonical_json(self.to_dict())

    def computed_hash(self) -> str:
        """What ``hash`` should be for the other fields."""
        return entry_hash(self.to_dict())

    @classmethod
    def from_dict(cls, raw: Any) -> AuditEntry:
        """Parse a stored entry; ``ValueError`` names the first field of the wrong shape."""
        if not isinstance(raw, dict):
            raise ValueError("entry is not a JSON object")
        missing = [name for name in FIELDS if name not in raw]
        extra = sorted(set(raw) - set(FIELDS))
        if missing or extra:
            raise ValueError(f"entry fields differ: missing {missing}, unexpected {extra}")
        if not isinstance(raw["seq"], int) or isinstance(raw["seq"], bool) or raw["seq"] < 0:
            raise ValueError("field seq is not a non-negative integer")
        if not isinstance(raw["time"], str) or not _TIME.match(raw["time"]):
            raise ValueError("field time is not RFC 3339 UTC with microseconds")
        actor = raw["actor"]
        if (
            not isinstance(actor, dict)
            or set(actor) != {"token_id", "role"}
            or not all(isinstance(v, str) for v in actor.values())
        ):
            raise ValueError("field actor is not {token_id, role}")
        for name in ("action", "outcome", "prev", "hash"):
            if not isinstance(raw[name], str):
                raise ValueError(f"field {name} is not a string")
        for name in ("prev", "hash"):
            if not _HEX64.match(raw[name]):
                raise ValueError(f"field {name} is not 64 lower-case hex digits")
        for name in ("collection", "subject"):
            if raw[name] is not None and not isinstance(raw[name], str):
                raise ValueError(f"field {name} is not a string or null")
        for name in ("decision", "details"):
            if raw[name] is not None and not isinstance(raw[name], dict):
                raise ValueError(f"field {name} is not an object or null")
        return cls(
            seq=raw["seq"],
            time=raw["time"],
            actor=Actor(token_id=actor["token_id"], role=actor["role"]),
            action=raw["action"],
            collection=raw["collection"],
            subject=None if raw["subject"] is None else Pseudonym(raw["subject"]),
            decision=raw["decision"],
            outcome=raw["outcome"],
            details=raw["details"],
            prev=raw["prev"],
            hash=raw["hash"],
        )

    @classmethod
    def from_line(cls, line: bytes) -> AuditEntry:
        """Parse one stored line; ``ValueError`` when it is not a well-formed entry."""
        try:
            raw = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not valid JSON ({exc})") from exc
        return cls.from_dict(raw)
