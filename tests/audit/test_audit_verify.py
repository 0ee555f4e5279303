"""verify_trail: every kind of tampering is caught and the first bad entry is named."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.audit import verify_trail
from appliance.audit.checkpoint import key_id
from appliance.audit.entry import canonical_json, entry_hash
from appliance.errors import NotFoundError


@pytest.fixture
def check(audit_dir, signing_key):
    def check_(key=None):
        return verify_trail(audit_dir, (key or signing_key).public_key())

    return check_


def test_intact_trail_verifies(fill, check, audit_dir, signing_key):
    """An untouched trail is ok (key as object or raw bytes), with counts and a summary."""
    fill(10)
    report = check()
    assert report.ok and report.problem is None and report.problems == ()
    assert (report.entries, report.checkpoints, report.signed_entries) == (10, 3, 10)
    assert report.summary().startswith("audit trail intact: 10 entries")
    assert verify_trail(audit_dir, signing_key.public_key().public_bytes_raw()).ok


def test_empty_and_missing_directories(tmp_path, signing_key):
    """An empty audit dir verifies; a missing one raises NotFoundError."""
    (tmp_path / "audit").mkdir()
    assert verify_trail(tmp_path / "audit", signing_key.public_key()).ok
    with pytest.raises(NotFoundError):
        verify_trail(tmp_path / "nowhere", signing_key.public_key())


def test_edited_entry_is_named(fill, tamper, check):
    """An entry edited in place fails its hash at exactly that seq."""
    fill(10)
    tamper.edit(5, outcome="denied")
    report = check()
    assert not report.ok
    assert (report.problem.seq, report.problem.kind) == (5, "hash_mismatch")
    assert "broken at seq 5" in report.summary()
    assert str(report.problem).startswith("seq 5: hash_mismatch:")


def test_edited_entry_with_fresh_hash_is_named(fill, tamper, check):
    """An entry edited and rehashed breaks the link to its successor; the edited seq is named."""
    fill(10)
    tamper.edit(5, rehash=True, outcome="denied")
    report = check()
    assert (report.problem.seq, report.problem.kind) == (5, "chain_broken")
    assert {p.kind for p in report.problems} >= {"chain_broken", "root_mismatch"}


@pytest.mark.parametrize("removed", [[5], [5, 6, 7]])
def test_deleted_entries_are_named(fill, tamper, check, removed):
    """Deleting entries leaves a seq gap; the first missing seq is named."""
    fill(10)
    lines = tamper.lines(tamper.trail)
    tamper.write(tamper.trail, [line for i, line in enumerate(lines) if i not in removed])
    report = check()
    assert (report.problem.seq, report.problem.kind) == (5, "missing")


def test_deleted_entry_with_renumbered_successors_is_named(fill, tamper, check):
    """Deleting an entry and renumbering the rest without rehashing fails at the deleted seq."""
    fill(10)
    entries = tamper.entries()
    del entries[4]
    for i, entry in enumerate(entries):
        entry["seq"] = i
    tamper.write_entries(entries)
    report = check()
    assert (report.problem.seq, report.problem.kind) == (4, "hash_mismatch")


def test_deleted_entry_with_rehashed_successors_is_named(fill, tamper, check):
    """Deleting an entry, renumbering and rehashing the rest (links kept) names the deleted seq."""
    fill(10)
    entries = tamper.entries()
    del entries[4]
    for seq, entry in enumerate(entries[4:], start=4):
        entry["seq"] = seq
        entry["hash"] = entry_hash(entry)
    tamper.write_entries(entries)
    report = check()
    assert (report.problem.seq, report.problem.kind) == (4, "chain_broken")


def test_reordered_entries_are_named(fill, tamper, check):
    """Swapping two entries names the first seq that is out of place."""
    fill(10)
    lines = tamper.lines(tamper.trail)
    lines[3], lines[4] = lines[4], lines[3]
    tamper.write(tamper.trail, lines)
    report = check()
    assert (report.problem.seq, report.problem.kind) == (3, "reordered")


def test_duplicated_entry_is_named(fill, tamper, check):
    """A replayed copy of an entry is named at the position it occupies."""
    fill(10)
    lines = tamper.lines(tamper.trail)
    tamper.write(tamper.trail, [*lines[:7], lines[6], *lines[7:]])
    report = check()
    assert (report.problem.seq, report.problem.kind) == (7, "duplicate")


def test_truncated_trail_names_first_missing_seq(fill, tamper, check):
    """Cutting entries that a checkpoint signed names the first missing seq."""
    fill(10)
    tamper.write(tamper.trail, tamper.lines(tamper.trail)[:7])
    report = check()
    assert (report.problem.seq, report.problem.kind) == (7, "truncated")
    assert report.problem.checkpoint == 1
    assert report.signed_entries == 4


def test_fully_rewritten_history_is_caught_by_the_checkpoints(fill, tamper, check):
    """Rewriting entry 6 and re-chaining everything after it fails the signed root 4..7."""
    fill(10)
    entries = tamper.entries()
    entries[6]["outcome"] = "denied"
    tamper.write_entries(tamper.rechain(entries, start=6))
    report = check()
    assert (report.problem.seq, report.problem.kind) == (4, "root_mismatch")
    assert "4..7" in report.problem.message
    assert report.signed_entries == 4


def test_malformed_line_is_named(fill, tamper, check):
    """A line that is not JSON is named by its seq."""
    fill(10)
    lines = tamper.lines(tamper.trail)
    lines[3] = b'{"seq":3, oops'
    tamper.write(tamper.trail, lines)
    report = check()
    assert (report.problem.seq, report.problem.kind) == (3, "malformed")


def test_reserialised_entry_is_named(fill, tamper, check):
    """Same content in non-canonical JSON (spaces, key order) is named."""
    fill(10)
    lines = tamper.lines(tamper.trail)
    lines[2] = json.dumps(json.loads(lines[2]), indent=1).replace("\n", "").encode()
    tamper.write(tamper.trail, lines)
    report = check()
    assert (report.problem.seq, report.problem.kind) == (2, "non_canonical")


def test_torn_tail_is_reported(fill, tamper, check):
    """An unrecovered torn last line is reported at the seq it would have had."""
    fill(5)
    with tamper.trail.open("ab") as handle:
        handle.write(b'{"seq":5')
    report = check()
    assert (report.problem.seq, report.problem.kind) == (5, "torn_tail")
    assert report.entries == 5


def test_first_of_several_problems_is_named(fill, tamper, check):
    """With tampering at seq 8 and seq 3, the report leads with seq 3 and lists both."""
    fill(10)
    tamper.edit(8, outcome="failed")
    tamper.edit(3, outcome="failed")
    report = check()
    assert report.problem.seq == 3
    assert [p.seq for p in report.problems if p.kind == "hash_mismatch"] == [3, 8]


def test_altered_checkpoint_fails_its_signature(fill, tamper, check):
    """Changing a signed field of a checkpoint is a bad signature on that checkpoint."""
    fill(10)
    checkpoints = tamper.checkpoint_dicts()
    checkpoints[1]["statement"]["time"] = "2020-01-01T00:00:00.000000Z"
    tamper.write_checkpoints(checkpoints)
    report = check()
    assert (report.problem.kind, report.problem.checkpoint) == ("bad_signature", 1)


def test_checkpoint_forged_with_another_key(fill, tamper, check):
    """A checkpoint signed by another key is refused: wrong key id, or a forged key id."""
    fill(10)
    other = Ed25519PrivateKey.generate()
    checkpoints = tamper.checkpoint_dicts()
    statement = checkpoints[2]["statement"]
    checkpoints[2]["signature"] = base64.b64encode(other.sign(canonical_json(statement))).decode()
    tamper.write_checkpoints(checkpoints)
    assert (check().problem.kind, check().problem.checkpoint) == ("bad_signature", 2)
    statement["key_id"] = key_id(other.public_key())
    checkpoints[2]["signature"] = base64.b64encode(other.sign(canonical_json(statement))).decode()
    tamper.write_checkpoints(checkpoints)
    assert (check().problem.kind, check().problem.checkpoint) == ("wrong_key", 2)


def test_verifying_with_the_wrong_public_key_fails(fill, check):
    """The whole trail checked against another public key fails at the first checkpoint."""
    fill(10)
    report = check(Ed25519PrivateKey.generate())
    assert (report.problem.kind, report.problem.checkpoint) == ("wrong_key", 0)


def test_removed_checkpoint_breaks_consistency(fill, tamper, check):
    """Deleting a checkpoint line is caught by the next one's consistency record."""
    fill(10)
    checkpoints = tamper.checkpoint_dicts()
    tamper.write_checkpoints([checkpoints[0], checkpoints[2]])
    report = check()
    assert (report.problem.kind, report.problem.checkpoint) == ("inconsistent", 1)


def test_altered_consistency_proof_is_caught(fill, tamper, check):
    """A consistency proof that does not link the two signed roots is reported."""
    fill(10)
    checkpoints = tamper.checkpoint_dicts()
    checkpoints[1]["consistency"]["proof"][0] = "ab" * 32
    tamper.write_checkpoints(checkpoints)
    report = check()
    assert (report.problem.kind, report.problem.checkpoint) == ("inconsistent", 1)


def test_malformed_checkpoint_line_is_reported(fill, tamper, check):
    """A checkpoint line that is not a checkpoint is reported by its line number."""
    fill(10)
    lines = tamper.lines(tamper.checkpoints)
    lines[1] = b'{"statement": 1}'
    tamper.write(tamper.checkpoints, lines)
    report = check()
    assert (report.problem.kind, report.problem.checkpoint) == ("checkpoint_malformed", 1)
