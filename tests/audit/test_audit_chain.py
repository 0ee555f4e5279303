"""The checkpoint chain (v2): signed counters and links, the bounded unsigned tail, v1 files."""

from __future__ import annotations

import base64
import errno
import hashlib
import itertools
import os

import pytest

from appliance.audit import storage as audit_storage
from appliance.audit import verify_trail
from appliance.audit.checkpoint import FORMAT, FORMAT_V1, Checkpoint
from appliance.audit.entry import canonical_json
from appliance.audit.merkle import MerkleTree
from appliance.domain.types import Actor
from appliance.errors import AuditWriteError, IntegrityError


@pytest.fixture
def check(audit_dir, signing_key):
    def check_(**kwargs):
        return verify_trail(audit_dir, signing_key.public_key(), **kwargs)

    return check_


def _to_v1(checkpoint: dict, signing_key) -> dict:
    """The same checkpoint as the v1 writer signed it."""
    statement = {
        k: v
        for k, v in checkpoint["statement"].items()
        if k not in {"counter", "previous", "checkpoint_every"}
    }
    statement["format"] = FORMAT_V1
    signature = base64.b64encode(signing_key.sign(canonical_json(statement))).decode()
    return {**checkpoint, "statement": statement, "signature": signature}


def test_checkpoints_carry_a_counter_and_the_previous_statement_hash(fill, tamper):
    """Checkpoint k states counter k, the SHA-256 of checkpoint k-1's statement and the interval."""
    fill(10, every=4)
    statements = [c["statement"] for c in tamper.checkpoint_dicts()]
    assert [s["counter"] for s in statements] == [0, 1, 2]
    assert {s["format"] for s in statements} == {FORMAT}
    assert {s["checkpoint_every"] for s in statements} == {4}
    assert statements[0]["previous"] == "0" * 64
    for before, after in itertools.pairwise(statements):
        assert after["previous"] == hashlib.sha256(canonical_json(before)).hexdigest()


def test_removed_middle_checkpoint_with_a_recomputed_proof_breaks_the_signed_chain(
    fill, tamper, check
):
    """Deleting checkpoint 1 and recomputing the unsigned proof is caught by the signed counter."""
    fill(10, every=4)
    checkpoints = tamper.checkpoint_dicts()
    tree = MerkleTree()
    for line in tamper.lines(tamper.trail):
        tree.append(line)
    checkpoints[2]["consistency"] = {
        "from_size": 4,
        "proof": [h.hex() for h in tree.consistency_proof(4, 10)],
    }
    tamper.write_checkpoints([checkpoints[0], checkpoints[2]])
    report = check()
    assert (report.problem.kind, report.problem.checkpoint) == ("checkpoint_chain", 1)
    assert "removed" in report.problem.message


def test_replaced_checkpoint_breaks_the_next_link(fill, tamper, check, signing_key):
    """A checkpoint re-signed with another time (a KEK holder's splice) breaks its successor."""
    fill(10, every=4)
    checkpoints = tamper.checkpoint_dicts()
    statement = checkpoints[1]["statement"]
    statement["time"] = "2020-01-01T00:00:00.000000Z"
    checkpoints[1]["signature"] = base64.b64encode(
        signing_key.sign(canonical_json(statement))
    ).decode()
    tamper.write_checkpoints(checkpoints)
    report = check()
    assert (report.problem.kind, report.problem.checkpoint) == ("checkpoint_chain", 2)


@pytest.mark.parametrize(
    ("entries", "kept", "ok"),
    [(8, [4], True), (9, [4], False), (10, [4, 8], True), (2, [], False)],
)
def test_unsigned_tail_is_bounded_by_the_interval(fill, tamper, check, entries, kept, ok):
    """Up to checkpoint_every unsigned entries pass (a crash); more, or none signed, fail."""
    fill(entries, every=4)
    checkpoints = tamper.checkpoint_dicts()
    tamper.write_checkpoints([c for c in checkpoints if c["statement"]["tree_size"] in kept])
    report = check()
    assert report.ok is ok, report.problem
    if not ok:
        assert report.problem.kind == ("no_checkpoint" if not kept else "unsigned_tail")
        assert report.problem.seq == (kept[-1] if kept else 0)


def test_the_caller_interval_widens_the_allowed_tail(fill, tamper, check):
    """A larger configured interval (the operator raised it) is honoured; a smaller is not."""
    fill(9, every=4)
    tamper.write_checkpoints(tamper.checkpoint_dicts()[:1])
    assert check(checkpoint_every=8).ok
    assert not check(checkpoint_every=2).ok


def test_group_commit_is_signed_in_chunks_and_a_crash_leaves_a_short_tail(
    make_trail, monkeypatch, audit_dir, signing_key, check
):
    """append_many of 10 with every=4 signs at 4 and 8; failing at the 2nd checkpoint keeps 8."""
    trail = make_trail(4)
    events = [{"actor": Actor.operator(), "action": "batch.item", "outcome": "ok"}] * 10
    calls = []
    real_fsync = os.fsync

    def fail_fourth(fd):
        calls.append(fd)
        if len(calls) == 4:  # trail chunk, checkpoint, trail chunk, (this) checkpoint
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(audit_storage.os, "fsync", fail_fourth)
    with pytest.raises(AuditWriteError):
        trail.append_many(events)
    monkeypatch.undo()
    report = check()
    assert report.ok, report.problem
    assert (report.entries, report.signed_entries) == (8, 4)
    again = make_trail(4)
    assert again.last_checkpoint is not None and again.last_checkpoint.tree_size == 8


def test_group_commit_checkpoints_where_single_appends_would(make_trail, tamper):
    """One append then a batch of 9 (every=4): checkpoints at 4 and 8, then at close 10."""
    trail = make_trail(4)
    trail.append(actor=Actor.operator(), action="batch.first", outcome="ok")
    trail.append_many([{"actor": Actor.operator(), "action": "batch.item", "outcome": "ok"}] * 9)
    assert [c["statement"]["tree_size"] for c in tamper.checkpoint_dicts()] == [4, 8]
    trail.close()
    assert [c["statement"]["tree_size"] for c in tamper.checkpoint_dicts()] == [4, 8, 10]


def test_writer_refuses_to_adopt_a_long_unsigned_tail(fill, tamper, make_trail):
    """Checkpoints removed behind 6 entries: opening refuses instead of signing the forgery."""
    fill(10, every=4)
    tamper.write_checkpoints(tamper.checkpoint_dicts()[:1])
    with pytest.raises(IntegrityError, match="unsigned"):
        make_trail(4)
    tamper.write_checkpoints([])
    with pytest.raises(IntegrityError, match="no checkpoint signs"):
        make_trail(4)


def test_writer_signs_a_crash_tail_on_open(fill, tamper, make_trail, check):
    """A crash between entry 8 and its checkpoint: the next writer signs it at once."""
    fill(8, every=4)
    tamper.write_checkpoints(tamper.checkpoint_dicts()[:1])
    trail = make_trail(4)
    assert trail.last_checkpoint.tree_size == 8 and trail.last_checkpoint.counter == 1
    assert check().ok


def test_writer_adopts_an_unsigned_genesis(make_trail, actor, tamper, check):
    """A crash right after the genesis entry (no checkpoint yet) is recoverable by a writer."""
    trail = make_trail(4)
    trail.append(actor=actor, action="audit.genesis", outcome="ok")
    tamper.write_checkpoints([])
    assert check().problem.kind == "no_checkpoint"
    make_trail(4).close()
    assert check().ok


def test_old_format_checkpoints_verify_and_are_continued_in_v2(
    fill, tamper, make_trail, actor, check, signing_key
):
    """A v1 checkpoint file verifies; a writer appends v2 checkpoints linked to the last v1 one."""
    fill(10, every=4)
    v1 = [_to_v1(c, signing_key) for c in tamper.checkpoint_dicts()]
    tamper.write_checkpoints(v1)
    assert Checkpoint.from_line(canonical_json(v1[0])).counter is None
    assert check().ok
    trail = make_trail(4)
    for _ in range(4):
        trail.append(actor=actor, action="items.search", outcome="ok")
    trail.close()
    new = tamper.checkpoint_dicts()[3]["statement"]
    assert (new["format"], new["counter"]) == (FORMAT, 3)
    assert new["previous"] == hashlib.sha256(canonical_json(v1[2]["statement"])).hexdigest()
    assert check().ok


def test_old_format_checkpoint_after_a_new_one_is_refused(fill, tamper, check, signing_key):
    """A v1 checkpoint following a v2 one (a downgrade splice) is a chain problem."""
    fill(10, every=4)
    checkpoints = tamper.checkpoint_dicts()
    checkpoints[2] = _to_v1(checkpoints[2], signing_key)
    tamper.write_checkpoints(checkpoints)
    report = check()
    assert (report.problem.kind, report.problem.checkpoint) == ("checkpoint_chain", 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [("counter", -1), ("counter", True), ("previous", "xyz"), ("checkpoint_every", 0)],
)
def test_malformed_chain_fields_are_refused(fill, tamper, field, value):
    """A v2 statement with a bad counter, link or interval does not parse."""
    fill(4, every=4)
    checkpoint = tamper.checkpoint_dicts()[0]
    checkpoint["statement"][field] = value
    with pytest.raises(ValueError, match=field):
        Checkpoint.from_line(canonical_json(checkpoint))
