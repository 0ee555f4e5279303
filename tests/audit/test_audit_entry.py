"""Audit entries: field layout, hashing, and refusal of content and raw subject ids."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from appliance.audit import FORBIDDEN_KEYS, ZERO_HASH, AuditEntry
from appliance.audit.entry import MAX_STRING, canonical_json
from appliance.errors import InvalidInputError


def test_entries_chain_and_hash_their_canonical_json(make_trail, actor, clock, tamper, subject):
    """seq counts from 0, prev links to the previous hash and hash covers canonical JSON."""
    trail = make_trail()
    first = trail.append(actor=actor, action="collections.create", outcome="ok", collection="notes")
    clock.advance(timedelta(seconds=1))
    second = trail.append(
        actor=actor,
        action="items.store",
        outcome="denied",
        collection="notes",
        subject=subject,
        decision={"outcome": "deny", "reasons": ["biometric_without_consent"]},
    )
    assert (first.seq, first.prev) == (0, ZERO_HASH)
    assert (second.seq, second.prev) == (1, first.hash)
    assert first.time == "2026-01-01T00:00:00.000000Z"
    assert second.time == "2026-01-01T00:00:01.000000Z"
    assert trail.head == (1, second.hash)
    stored = tamper.lines(tamper.trail)
    assert stored[1] == second.canonical_bytes()
    body = json.loads(stored[1])
    assert set(body) == {
        "seq", "time", "actor", "action", "collection", "subject",
        "decision", "outcome", "details", "prev", "hash",
    }  # fmt: skip
    assert body["actor"] == {"token_id": actor.token_id, "role": actor.role}
    without_hash = {k: v for k, v in body.items() if k != "hash"}
    expected = hashlib.sha256(
        json.dumps(without_hash, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    ).hexdigest()
    assert body["hash"] == expected == second.computed_hash()
    assert AuditEntry.from_line(stored[1]) == second


@pytest.mark.parametrize("key", sorted(FORBIDDEN_KEYS))
def test_content_keys_are_refused_in_details_and_decision(make_trail, actor, key):
    """A details or (nested) decision key that could carry content raises ValueError naming it."""
    trail = make_trail()
    with pytest.raises(ValueError, match=key):
        trail.append(actor=actor, action="items.store", outcome="ok", details={key: "x"})
    with pytest.raises(ValueError, match=key.upper()):
        trail.append(
            actor=actor,
            action="items.store",
            outcome="ok",
            decision={"outcome": "allow", "why": {key.upper(): 1}},
        )
    assert trail.head is None


@pytest.mark.parametrize(
    ("details", "decision", "message"),
    [
        ({"note": "x" * (MAX_STRING + 1)}, None, "longer than"),
        (None, {"reasons": ["x" * (MAX_STRING + 1)]}, "longer than"),
        ({"nested": {"a": 1}}, None, "type"),
        ({"items": [[1]]}, None, "scalars"),
        ({"ratio": float("nan")}, None, "finite"),
        ({"items": list(range(100))}, None, "more than"),
    ],
)
def test_oversized_or_non_scalar_values_are_refused(make_trail, actor, details, decision, message):
    """Long strings, nested details, NaN and long lists are refused before anything is written."""
    trail = make_trail()
    with pytest.raises(ValueError, match=message):
        trail.append(
            actor=actor, action="items.store", outcome="ok", details=details, decision=decision
        )
    assert trail.head is None


def test_raw_subject_id_is_refused(make_trail, actor, tamper):
    """A subject that is not a pseudonym (e.g. an MRN) is refused and nothing is written."""
    trail = make_trail()
    with pytest.raises(InvalidInputError, match="pseudonym"):
        trail.append(actor=actor, action="items.store", outcome="ok", subject="MRN-123")
    assert tamper.trail.read_bytes() == b""


@pytest.mark.parametrize(
    ("field", "value"),
    [("action", "Items Store"), ("outcome", "OK!"), ("collection", "Bad Name")],
)
def test_malformed_action_outcome_or_collection_is_refused(make_trail, actor, field, value):
    """Actions and outcomes must be lower-case words and collections valid names."""
    fields = {"action": "items.store", "outcome": "ok", "collection": "notes", field: value}
    with pytest.raises((ValueError, InvalidInputError)):
        make_trail().append(actor=actor, **fields)


def test_returned_entry_is_independent_of_caller_dicts(make_trail, actor):
    """Mutating the caller's details after append changes neither the entry nor the hash."""
    details = {"count": 1}
    entry = make_trail().append(actor=actor, action="items.search", outcome="ok", details=details)
    details["count"] = 2
    assert entry.details == {"count": 1}
    assert entry.computed_hash() == entry.hash


def test_from_line_rejects_wrong_shapes():
    """Parsing names the field that is missing, extra or of the wrong type."""
    good = {
        "seq": 0, "time": "2026-01-01T00:00:00.000000Z",
        "actor": {"token_id": "t", "role": "admin"}, "action": "a.b", "collection": None,
        "subject": None, "decision": None, "outcome": "ok", "details": None,
        "prev": ZERO_HASH, "hash": ZERO_HASH,
    }  # fmt: skip
    assert AuditEntry.from_line(canonical_json(good)).seq == 0
    with pytest.raises(ValueError, match="unexpected"):
        AuditEntry.from_line(canonical_json({**good, "content": "x"}))
    with pytest.raises(ValueError, match="seq"):
        AuditEntry.from_line(canonical_json({**good, "seq": "0"}))
    with pytest.raises(ValueError, match="prev"):
        AuditEntry.from_line(canonical_json({**good, "prev": "abc"}))
    with pytest.raises(ValueError, match="JSON"):
        AuditEntry.from_line(b'{"seq": 0')
