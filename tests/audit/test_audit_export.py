"""The auditor's export and per-entry inclusion proofs."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.audit import AuditEntry, export_jsonl, inclusion_proof_for
from appliance.errors import NotFoundError


def test_export_writes_the_stored_entries_verbatim(fill, tamper, audit_dir):
    """The export is one canonical JSON entry per line, byte for byte as stored."""
    fill(7)
    out = io.StringIO()
    assert export_jsonl(audit_dir, out) == 7
    exported = out.getvalue().encode().splitlines()
    assert exported == tamper.lines(tamper.trail)
    for seq, line in enumerate(exported):
        entry = AuditEntry.from_line(line)
        assert entry.seq == seq and entry.computed_hash() == entry.hash


def test_export_leaves_out_a_torn_tail(fill, tamper, audit_dir):
    """A torn last line is not exported."""
    fill(3)
    with tamper.trail.open("ab") as handle:
        handle.write(b'{"seq":3')
    out = io.StringIO()
    assert export_jsonl(audit_dir, out) == 3
    assert all(json.loads(line) for line in out.getvalue().splitlines())


def test_inclusion_proofs_verify_against_signed_checkpoints(fill, audit_dir, signing_key):
    """Every entry's proof leads to the root of the newest checkpoint that covers it."""
    fill(10, every=4, close=False)  # checkpoints at 4 and 8; entries 8 and 9 unsigned
    public = signing_key.public_key()
    for seq in range(8):
        proof = inclusion_proof_for(audit_dir, seq)
        assert proof.tree_size == 8 and proof.checkpoint is not None
        assert proof.verify(public)
        assert json.loads(json.dumps(proof.to_dict()))["seq"] == seq
        assert not proof.verify(Ed25519PrivateKey.generate().public_key())
    unsigned = inclusion_proof_for(audit_dir, 9)
    assert unsigned.checkpoint is None and unsigned.tree_size == 10
    assert unsigned.verify() and not unsigned.verify(public)


def test_altered_entry_fails_its_inclusion_proof(fill, audit_dir, signing_key):
    """An entry changed after the proof was made no longer verifies."""
    fill(8)
    proof = inclusion_proof_for(audit_dir, 3)
    forged = replace(proof, entry=proof.entry.replace('"outcome":"ok"', '"outcome":"denied"'))
    assert forged.entry != proof.entry
    assert not forged.verify()
    assert not replace(proof, seq=4).verify()


def test_inclusion_proof_for_unknown_seq(fill, audit_dir):
    """Asking for a seq the trail does not hold raises NotFoundError."""
    fill(3)
    with pytest.raises(NotFoundError):
        inclusion_proof_for(audit_dir, 3)
