"""Attacks on the audit trail's completeness: forge, delete, cut and re-sign, then verify.

Each test builds a real data dir (``appliance init``, then an appliance that records
operations, checkpointing every 4 entries; ``witnessed`` also copies each checkpoint to a
witness directory outside the data dir), edits the stored files as an attacker with write
access to the data dir would, and runs the real ``appliance audit verify``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appliance.audit.checkpoint import sign_checkpoint
from appliance.audit.entry import canonical_json, entry_hash
from appliance.audit.merkle import MerkleTree
from appliance.clock import SystemClock
from appliance.domain.types import Actor
from appliance.errors import IntegrityError
from appliance.settings import Settings, load_settings
from appliance.wiring import open_appliance
from tests.conftest import run_appliance as run

EVERY = 4


class Site:
    """A data dir with its config, its witness directory and the attacker's file tools."""

    def __init__(self, root: Path, witness: bool = True) -> None:
        self.data_dir = root / "data"
        self.witness = root / "witness"
        self.config = root / "appliance.toml"
        self.witness.mkdir()
        witness_line = f'witness_path = "{self.witness}"\n' if witness else ""
        self.config.write_text(f"[audit]\ncheckpoint_every = {EVERY}\n{witness_line}")
        self.trail = self.data_dir / "audit" / "trail.jsonl"
        self.checkpoints = self.data_dir / "audit" / "checkpoints.jsonl"

    @property
    def settings(self) -> Settings:
        return load_settings(self.config, data_dir=self.data_dir, environ={})

    def cli(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        return run(capsys, "--config", str(self.config), "--data-dir", str(self.data_dir), *argv)

    def record(self, collections: int) -> None:
        """Run an appliance that records ``collections`` operations, then shut it down."""
        app = open_appliance(self.settings, environ={})
        try:
            for n in range(collections):
                app.collections.create(f"ward{n}", 4, Actor.operator())
        finally:
            app.close()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.trail.read_text().splitlines()]

    def write_entries(self, entries: list[dict[str, Any]]) -> None:
        """Renumber, relink and rehash every entry (what anyone can compute), then store."""
        for seq, entry in enumerate(entries):
            entry["seq"] = seq
            entry["prev"] = entries[seq - 1]["hash"] if seq else "0" * 64
            entry["hash"] = entry_hash(entry)
        self.trail.write_bytes(b"".join(canonical_json(e) + b"\n" for e in entries))

    def checkpoint_lines(self) -> list[str]:
        return self.checkpoints.read_text().splitlines()

    def keep_checkpoints(self, at_most: int) -> None:
        """Keep only the checkpoints that sign at most ``at_most`` entries."""
        kept = [
            line
            for line in self.checkpoint_lines()
            if json.loads(line)["statement"]["tree_size"] <= at_most
        ]
        self.checkpoints.write_text("".join(line + "\n" for line in kept))


def _build(site: Site, capsys: pytest.CaptureFixture[str]) -> Site:
    assert site.cli(capsys, "init")[0] == 0
    site.record(13)
    code, out, err = site.cli(capsys, "audit", "verify")
    assert code == 0 and "intact" in out, err
    assert len(site.entries()) == 14
    return site


@pytest.fixture
def site(tmp_path: Path, isolated_cli: None, capsys: pytest.CaptureFixture[str]) -> Site:
    """A data dir with 14 audit entries (genesis + 13 operations), no witness, intact."""
    return _build(Site(tmp_path, witness=False), capsys)


@pytest.fixture
def witnessed(tmp_path: Path, isolated_cli: None, capsys: pytest.CaptureFixture[str]) -> Site:
    """The same, with every checkpoint also written to a witness directory."""
    return _build(Site(tmp_path, witness=True), capsys)


def test_emptied_checkpoints_and_rechained_edit_are_detected(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """(a) Checkpoint file emptied, an entry edited and the chain recomputed: verify fails."""
    entries = site.entries()
    entries[5]["actor"]["role"] = "auditor"
    site.write_entries(entries)
    site.checkpoints.write_text("")
    code, _, err = site.cli(capsys, "audit", "verify")
    assert code == 1 and "BROKEN" in err and "no_checkpoint" in err, err
    with pytest.raises(IntegrityError, match="no checkpoint signs"):
        open_appliance(site.settings, environ={})  # the server will not sign the forgery


def test_forged_entry_with_only_earlier_checkpoints_kept_is_detected(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """(b) An entry forged, only the checkpoints before it kept: the unsigned tail is too long."""
    entries = site.entries()
    entries[6]["outcome"] = "denied"
    site.write_entries(entries)
    site.keep_checkpoints(6)
    code, _, err = site.cli(capsys, "audit", "verify")
    assert code == 1 and "unsigned_tail" in err, err
    with pytest.raises(IntegrityError, match="unsigned"):
        open_appliance(site.settings, environ={})


def test_deleted_entry_with_renumbered_rest_is_detected(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """(c) An entry deleted, the rest renumbered and rechained, later checkpoints dropped."""
    entries = site.entries()
    del entries[3]
    site.write_entries(entries)
    site.keep_checkpoints(3)
    code, _, err = site.cli(capsys, "audit", "verify")
    assert code == 1 and "unsigned_tail" in err and "from seq 1 on" in err, err


def test_trail_and_checkpoints_cut_together_are_caught_by_the_witness(
    witnessed: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """(d) Trail and checkpoints truncated together to an earlier, self-consistent state."""
    first_sizes = [
        json.loads(line)["statement"]["tree_size"] for line in witnessed.checkpoint_lines()
    ]
    cut = first_sizes[1]
    witnessed.trail.write_text(
        "".join(line + "\n" for line in witnessed.trail.read_text().splitlines()[:cut])
    )
    witnessed.keep_checkpoints(cut)
    code, _, err = witnessed.cli(capsys, "audit", "verify")  # the configured witness is the default
    assert code == 1 and "witness_truncated" in err and f"seq {cut}" in err, err
    code, _, err = witnessed.cli(capsys, "audit", "verify", "--witness", str(witnessed.witness))
    assert code == 1 and "witness_truncated" in err, err
    with pytest.raises(IntegrityError, match="witness"):
        open_appliance(witnessed.settings, environ={})


def test_without_a_witness_a_joint_cut_is_invisible_and_verify_says_so(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """The documented limit: no witness, a joint cut verifies, and verify warns of exactly that."""
    sizes = [json.loads(line)["statement"]["tree_size"] for line in site.checkpoint_lines()]
    site.trail.write_text(
        "".join(line + "\n" for line in site.trail.read_text().splitlines()[: sizes[1]])
    )
    site.keep_checkpoints(sizes[1])
    code, out, _ = site.cli(capsys, "audit", "verify")
    assert code == 0 and "no witness" in out


def test_forgery_inside_the_last_interval_is_caught_by_the_witness(
    witnessed: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """An edit after the second-last checkpoint, with the last one removed, is a witness miss."""
    sizes = [json.loads(line)["statement"]["tree_size"] for line in witnessed.checkpoint_lines()]
    entries = witnessed.entries()
    entries[sizes[-1] - 1]["outcome"] = "denied"
    witnessed.write_entries(entries)
    witnessed.keep_checkpoints(sizes[-2])
    assert sizes[-1] - sizes[-2] <= EVERY  # short enough to pass for a crash locally
    code, _, err = witnessed.cli(capsys, "audit", "verify", "--witness", str(witnessed.witness))
    assert code == 1 and "witness_" in err, err


def test_kek_holder_rewriting_and_resigning_everything_is_caught_only_by_the_witness(
    witnessed: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the signing key, a full rewrite verifies locally; the witness still refutes it."""
    from appliance.crypto.kek import load_kek, locate_kek
    from appliance.crypto.keyring import KeyRing
    from appliance.wiring import _database, _signing_key

    settings = witnessed.settings
    database = _database(settings)
    try:
        key = _signing_key(
            database, KeyRing(load_kek(locate_kek(witnessed.data_dir, {})), SystemClock())
        )
    finally:
        database.dispose()
    entries = witnessed.entries()
    del entries[2]  # the operation the attacker wants gone
    witnessed.write_entries(entries)
    resign(witnessed, key, len(entries))
    code, out, err = witnessed.cli(
        capsys, "audit", "verify", "--witness", str(witnessed.witness / "none")
    )
    assert code == 2 and "does not exist" in err  # a wrong witness path is refused, not skipped
    witnessed.config.write_text(f"[audit]\ncheckpoint_every = {EVERY}\n")
    code, out, err = witnessed.cli(capsys, "audit", "verify")
    assert code == 0 and "intact" in out, err  # locally perfect: the KEK holder wins here
    code, _, err = witnessed.cli(capsys, "audit", "verify", "--witness", str(witnessed.witness))
    assert code == 1 and "witness_mismatch" in err, err


def resign(site: Site, key: Any, size: int) -> None:
    """Sign fresh v2 checkpoints every ``EVERY`` entries and at the end, as the writer would."""
    tree = MerkleTree()
    for line in site.trail.read_bytes().splitlines():
        tree.append(line)
    entries = site.entries()
    lines: list[bytes] = []
    last = None
    for n, end in enumerate([*range(1, size, EVERY), size]):
        cp = sign_checkpoint(
            key,
            tree_size=end,
            root_hash=tree.root(end).hex(),
            head_hash=entries[end - 1]["hash"],
            time="2026-01-01T00:00:00.000000Z",
            consistency_from=None if last is None else last.tree_size,
            consistency_proof=tuple(
                h.hex() for h in (tree.consistency_proof(last.tree_size, end) if last else [])
            ),
            counter=n,
            previous="0" * 64 if last is None else last.statement_hash(),
            checkpoint_every=EVERY,
        )
        lines.append(cp.line())
        last = cp
    site.checkpoints.write_bytes(b"".join(line + b"\n" for line in lines))
