"""The writer: checkpoints, durability, fail-closed writes, torn tails, concurrent writers."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import multiprocessing
import os
import stat
import threading
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from appliance.audit import TORN_TAIL_ACTION, AuditTrail, merkle, verify_trail
from appliance.audit import storage as audit_storage
from appliance.audit.entry import canonical_json
from appliance.clock import SystemClock
from appliance.domain.types import Actor
from appliance.errors import AuditWriteError, IntegrityError


def store_item(trail: AuditTrail, actor: Actor, store: list[str]) -> None:
    """The pattern every service follows: audit first, then act."""
    trail.append(actor=actor, action="items.store", outcome="ok", collection="notes")
    store.append("item")


def test_checkpoints_are_signed_every_n_entries_and_on_demand(fill, signing_key, tamper):
    """checkpoint_every=4: 10 entries are signed at 4 and 8; checkpoint() adds 10, only once."""
    trail = fill(10, every=4, close=False)
    assert [c["statement"]["tree_size"] for c in tamper.checkpoint_dicts()] == [4, 8]
    latest = trail.checkpoint()
    assert latest is not None and latest.tree_size == 10
    assert trail.checkpoint() == latest
    trail.close()
    trail.close()
    checkpoints = tamper.checkpoint_dicts()
    assert [c["statement"]["tree_size"] for c in checkpoints] == [4, 8, 10]

    public = signing_key.public_key()
    raw_public = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    lines = tamper.lines(tamper.trail)
    entries = tamper.entries()
    previous = None
    for cp in checkpoints:
        st = cp["statement"]
        public.verify(base64.b64decode(cp["signature"]), canonical_json(st))
        assert st["key_id"] == hashlib.sha256(raw_public).hexdigest()[:16] == trail.key_id
        assert st["root_hash"] == merkle.root(lines[: st["tree_size"]]).hex()
        assert st["head_hash"] == entries[st["tree_size"] - 1]["hash"]
        if previous is None:
            assert cp["consistency"] is None
        else:
            assert cp["consistency"]["from_size"] == previous["tree_size"]
            assert merkle.verify_consistency(
                previous["tree_size"],
                st["tree_size"],
                bytes.fromhex(previous["root_hash"]),
                bytes.fromhex(st["root_hash"]),
                [bytes.fromhex(h) for h in cp["consistency"]["proof"]],
            )
        previous = st


def test_empty_trail_has_no_checkpoint(make_trail, tamper):
    """checkpoint() and close() on an empty trail sign nothing."""
    trail = make_trail()
    assert trail.head is None
    assert trail.checkpoint() is None
    trail.close()
    assert tamper.checkpoints.read_bytes() == b""


def test_reopened_trail_continues_the_chain(fill, make_trail, actor, signing_key, audit_dir):
    """A second writer picks up the head and the last checkpoint from disk."""
    first = fill(5, every=4)
    head = first.head
    assert head is not None and head[0] == 4
    again = make_trail(4)
    assert again.head == head
    entry = again.append(actor=actor, action="items.search", outcome="ok")
    assert (entry.seq, entry.prev) == (5, head[1])
    again.close()
    report = verify_trail(audit_dir, signing_key.public_key())
    assert report.ok and report.entries == 6 and report.signed_entries == 6


def test_files_are_private(fill, audit_dir):
    """The audit directory is 0700 and its files 0600."""
    fill(2)
    assert stat.S_IMODE(audit_dir.stat().st_mode) == 0o700
    for name in ("trail.jsonl", "checkpoints.jsonl", "trail.lock"):
        assert stat.S_IMODE((audit_dir / name).stat().st_mode) == 0o600


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO])
def test_failed_fsync_fails_closed(
    make_trail, actor, monkeypatch, tamper, code, audit_dir, signing_key
):
    """An fsync error raises AuditWriteError, the operation does not run, the line is cut back."""
    trail = make_trail()
    store_item(trail, actor, [])
    before, head = tamper.trail.read_bytes(), trail.head
    assert head is not None and head[0] == 0
    store: list[str] = []

    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(audit_storage.os, "fsync", failing_fsync)
    with pytest.raises(AuditWriteError) as caught:
        store_item(trail, actor, store)
    monkeypatch.undo()
    assert store == []
    assert caught.value.code == "audit_unavailable" and caught.value.remedy
    assert os.strerror(code) in caught.value.message
    assert tamper.trail.read_bytes() == before and trail.head == head
    store_item(trail, actor, store)
    assert store == ["item"]
    trail.close()
    assert verify_trail(audit_dir, signing_key.public_key()).ok


def test_partial_write_is_cut_back(make_trail, actor, monkeypatch, tamper, audit_dir, signing_key):
    """Disk full half-way through a line: AuditWriteError and no half line left behind."""
    trail = make_trail()
    store_item(trail, actor, [])
    before = tamper.trail.read_bytes()
    real_write = os.write
    calls = []

    def half_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit_storage.os, "write", half_then_full)
    with pytest.raises(AuditWriteError, match="No space left"):
        store_item(trail, actor, [])
    monkeypatch.undo()
    assert len(calls) == 2
    assert tamper.trail.read_bytes() == before
    store_item(trail, actor, [])
    trail.close()
    report = verify_trail(audit_dir, signing_key.public_key())
    assert report.ok and report.entries == 2


def test_unopenable_directory_fails_closed(tmp_path, signing_key, clock):
    """A data dir path that is a file (or unreadable) refuses to open with AuditWriteError."""
    blocker = tmp_path / "audit"
    blocker.write_text("not a directory")
    with pytest.raises(AuditWriteError, match="could not open"):
        AuditTrail(blocker, signing_key, clock=clock)


def test_permission_denied_fails_closed(make_trail, monkeypatch):
    """A permission error opening the trail files (read-only mount, wrong owner) fails closed."""
    real_open = os.open

    def deny(path, flags, *args):
        if str(path).endswith("trail.jsonl"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(audit_storage.os, "open", deny)
    with pytest.raises(AuditWriteError, match="Permission denied"):
        make_trail()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_parent_directory_fails_closed(tmp_path, signing_key, clock):
    """Without write permission on the data dir the trail cannot be created: AuditWriteError."""
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(AuditWriteError):
            AuditTrail(tmp_path / "audit", signing_key, clock=clock)
    finally:
        tmp_path.chmod(0o700)


def test_closed_trail_refuses_appends(make_trail, actor):
    """Appending after close() raises AuditWriteError."""
    trail = make_trail()
    trail.close()
    with pytest.raises(AuditWriteError, match="closed"):
        store_item(trail, actor, [])


def test_torn_tail_is_moved_aside_and_recorded(fill, make_trail, tamper, audit_dir, signing_key):
    """A last line without newline moves to trail.jsonl.torn-<time>; an entry records that."""
    fill(6)
    acknowledged = tamper.trail.read_bytes()
    torn = b'{"action":"items.store","actor":{"role":"ing'
    with tamper.trail.open("ab") as handle:
        handle.write(torn)
    trail = make_trail()
    moved = sorted(audit_dir.glob("trail.jsonl.torn-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == torn
    assert tamper.trail.read_bytes().startswith(acknowledged)
    recovered = tamper.entries()[-1]
    assert recovered["seq"] == 6 and recovered["action"] == TORN_TAIL_ACTION
    assert recovered["actor"]["role"] == "system"
    assert recovered["details"] == {
        "file": "trail.jsonl",
        "torn_bytes": len(torn),
        "moved_to": moved[0].name,
    }
    assert trail.head == (6, recovered["hash"])
    trail.close()
    assert verify_trail(audit_dir, signing_key.public_key()).ok


def test_torn_checkpoint_line_is_moved_aside(fill, make_trail, tamper, audit_dir, signing_key):
    """A torn last checkpoint line is moved aside too, and recorded in the trail."""
    fill(5)
    with tamper.checkpoints.open("ab") as handle:
        handle.write(b'{"consistency":{"from_size":5,')
    make_trail().close()
    assert len(list(audit_dir.glob("checkpoints.jsonl.torn-*"))) == 1
    assert tamper.entries()[-1]["details"]["file"] == "checkpoints.jsonl"
    report = verify_trail(audit_dir, signing_key.public_key())
    assert report.ok, report.summary()


def test_torn_tail_left_by_another_writer_is_recovered_on_append(
    make_trail, actor, tamper, audit_dir, signing_key
):
    """A writer that crashed mid-line while we were open: our next append recovers first."""
    trail = make_trail()
    store_item(trail, actor, [])
    with tamper.trail.open("ab") as handle:
        handle.write(b'{"seq":1,"ti')
    entry = trail.append(actor=actor, action="items.search", outcome="ok")
    assert entry.seq == 2
    assert [e["action"] for e in tamper.entries()] == [
        "items.store",
        TORN_TAIL_ACTION,
        "items.search",
    ]
    trail.close()
    assert verify_trail(audit_dir, signing_key.public_key()).ok


def test_open_refuses_a_trail_shorter_than_its_checkpoint(fill, make_trail, tamper):
    """Entries cut below the last signed checkpoint: opening raises IntegrityError."""
    fill(8)
    tamper.write(tamper.trail, tamper.lines(tamper.trail)[:6])
    with pytest.raises(IntegrityError, match="from seq 6"):
        make_trail()


def test_open_refuses_a_checkpoint_from_another_key(fill, make_trail):
    """A trail whose checkpoint another key signed does not open with this key."""
    fill(4)
    with pytest.raises(IntegrityError, match="signed by key"):
        make_trail(key=Ed25519PrivateKey.generate())


def test_open_refuses_an_unreadable_last_entry(fill, make_trail, tamper):
    """A complete but garbled last line is an integrity failure, not a torn tail."""
    fill(3)
    lines = tamper.lines(tamper.trail)
    tamper.write(tamper.trail, [*lines[:-1], b"garbage"])
    with pytest.raises(IntegrityError, match="unreadable"):
        make_trail()


def test_trail_cut_while_open_stops_all_appends(make_trail, actor, tamper):
    """A trail truncated behind an open writer raises IntegrityError, then refuses every append."""
    trail = make_trail(every=100)
    for _ in range(3):
        store_item(trail, actor, [])
    tamper.write(tamper.trail, tamper.lines(tamper.trail)[:1])
    with pytest.raises(IntegrityError, match="shrank"):
        store_item(trail, actor, [])
    with pytest.raises(AuditWriteError, match="refused"):
        store_item(trail, actor, [])


def test_threads_share_one_trail(make_trail, audit_dir, signing_key):
    """Four threads appending through one AuditTrail produce one valid chain."""
    trail = make_trail(every=8)

    def work(n: int) -> None:
        for _ in range(25):
            store_item(trail, Actor(token_id=f"tok_{n}", role="ingest"), [])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trail.close()
    report = verify_trail(audit_dir, signing_key.public_key())
    assert report.ok and report.entries == 100 and report.signed_entries == 100


def _process_writer(directory: str, key: bytes, name: str, count: int, barrier) -> None:
    trail = AuditTrail(
        Path(directory),
        Ed25519PrivateKey.from_private_bytes(key),
        clock=SystemClock(),
        checkpoint_every=5,
    )
    barrier.wait()
    for _ in range(count):
        trail.append(actor=Actor(token_id=name, role="ingest"), action="items.store", outcome="ok")
    trail.close()


def test_two_processes_append_to_one_valid_chain(audit_dir, signing_key, tamper):
    """Server and CLI appending at once: a gap-free chain with every entry of both, verified."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    raw = signing_key.private_bytes_raw()
    procs = [
        ctx.Process(target=_process_writer, args=(str(audit_dir), raw, name, 20, barrier))
        for name in ("server", "cli")
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    entries = tamper.entries()
    assert [e["seq"] for e in entries] == list(range(40))
    assert Counter(e["actor"]["token_id"] for e in entries) == {"server": 20, "cli": 20}
    sizes = [c["statement"]["tree_size"] for c in tamper.checkpoint_dicts()]
    assert sizes == sorted(set(sizes)) and sizes[-1] == 40
    report = verify_trail(audit_dir, signing_key.public_key())
    assert report.ok, report.summary()
    assert json.loads(tamper.lines(tamper.trail)[-1])["seq"] == 39


def test_integrity_is_checked_before_a_torn_tail_is_touched(fill, make_trail, tamper, audit_dir):
    """A trail both cut below its checkpoint and torn is refused and left exactly as found."""
    fill(8)
    tamper.write(tamper.trail, tamper.lines(tamper.trail)[:6])
    with tamper.trail.open("ab") as handle:
        handle.write(b'{"seq":6')
    before = tamper.trail.read_bytes()
    with pytest.raises(IntegrityError):
        make_trail()
    assert tamper.trail.read_bytes() == before
    assert not list(audit_dir.glob("*.torn-*"))


def test_append_many_chains_like_single_appends(tmp_path, signing_key, clock) -> None:
    """A group commit writes a valid chain that verifies like one-by-one appends."""
    from appliance.audit import AuditTrail, verify_trail
    from appliance.domain.types import Actor

    trail = AuditTrail(tmp_path / "a", signing_key, clock=clock, checkpoint_every=3)
    trail.append(actor=Actor.operator(), action="batch.first", outcome="ok")
    entries = trail.append_many(
        [{"actor": Actor.operator(), "action": f"batch.item{n}", "outcome": "ok"} for n in range(5)]
    )
    trail.close()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    report = verify_trail(tmp_path / "a", signing_key.public_key())
    assert report.ok, report.problem
    assert report.entries == 6
