"""The witness: every checkpoint copied outside the audit dir and logged; verify holds to it."""

from __future__ import annotations

import contextlib
import errno
import io
import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from appliance.audit import AuditTrail, verify_trail
from appliance.audit.checkpoint import key_id
from appliance.audit.witness import LOG_EVENT, FileWitness, witness_file
from appliance.domain.types import Actor
from appliance.errors import AuditWriteError, ConfigError, IntegrityError
from appliance.observability import configure_logging
from appliance.settings import load_settings


@pytest.fixture
def witness_dir(tmp_path: Path) -> Path:
    path = tmp_path / "witness"
    path.mkdir()
    return path


@pytest.fixture
def witnessed_trail(audit_dir, signing_key, clock, witness_dir):
    opened: list[AuditTrail] = []

    def make(every: int = 4) -> AuditTrail:
        trail = AuditTrail(
            audit_dir, signing_key, clock=clock, checkpoint_every=every, witness=witness_dir
        )
        opened.append(trail)
        return trail

    yield make
    for trail in opened:
        with contextlib.suppress(Exception):
            trail.close()


def _append(trail: AuditTrail, n: int) -> None:
    for _ in range(n):
        trail.append(actor=Actor.operator(), action="items.search", outcome="ok")


def _witness_lines(witness_dir: Path, signing_key) -> list[bytes]:
    path = witness_file(witness_dir, key_id(signing_key.public_key()))
    return path.read_bytes().splitlines()


def test_every_checkpoint_reaches_the_witness_and_the_log(
    witnessed_trail, witness_dir, signing_key, tamper
):
    """The witness file (per key, in a directory) holds each checkpoint line; each is logged."""
    with capture_logs() as logs:
        trail = witnessed_trail(4)
        _append(trail, 10)
        trail.close()
    local = tamper.lines(tamper.checkpoints)
    assert len(local) == 3
    assert _witness_lines(witness_dir, signing_key) == local
    events = [e for e in logs if e["event"] == LOG_EVENT]
    assert [e["counter"] for e in events] == [0, 1, 2]
    assert [e["tree_size"] for e in events] == [4, 8, 10]
    assert events[-1]["checkpoint"]["signature"] == json.loads(local[-1])["signature"]


def test_a_witness_file_path_is_used_as_is(audit_dir, signing_key, clock, tmp_path, tamper):
    """A witness setting naming a file appends to that file."""
    target = tmp_path / "elsewhere.jsonl"
    trail = AuditTrail(audit_dir, signing_key, clock=clock, checkpoint_every=4, witness=target)
    _append(trail, 4)
    trail.close()
    assert target.read_bytes().splitlines() == tamper.lines(tamper.checkpoints)


def test_unwritable_witness_fails_closed_then_catches_up(
    witnessed_trail, witness_dir, signing_key, monkeypatch, tamper, audit_dir
):
    """A witness write error refuses the operation; the next one sends what was missed."""
    trail = witnessed_trail(4)
    _append(trail, 3)

    def full(self, lines):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileWitness, "append", full)
    with pytest.raises(AuditWriteError, match="witness") as caught:
        _append(trail, 1)
    assert "audit.witness_path" in caught.value.remedy
    with pytest.raises(AuditWriteError, match="witness"):
        _append(trail, 1)  # still refused while the witness is down
    monkeypatch.undo()
    _append(trail, 1)
    trail.close()
    assert _witness_lines(witness_dir, signing_key) == tamper.lines(tamper.checkpoints)
    assert verify_trail(audit_dir, signing_key.public_key(), witness=witness_dir).ok


def test_missing_witness_directory_refuses_to_open(audit_dir, signing_key, clock, tmp_path):
    """A witness whose directory does not exist (an unmounted disk) refuses the trail."""
    with pytest.raises(AuditWriteError, match="witness"):
        AuditTrail(audit_dir, signing_key, clock=clock, witness=tmp_path / "unmounted" / "w.jsonl")


def test_a_newly_configured_witness_receives_the_current_checkpoint(
    fill, witnessed_trail, witness_dir, signing_key, tamper, audit_dir
):
    """Opening with a witness for the first time sends the last checkpoint at once."""
    fill(6, every=4)
    witnessed_trail(4)
    assert _witness_lines(witness_dir, signing_key) == tamper.lines(tamper.checkpoints)[-1:]
    report = verify_trail(audit_dir, signing_key.public_key(), witness=witness_dir)
    assert report.ok and report.witnessed_entries == 6


def test_open_refuses_a_trail_cut_below_its_witness(witnessed_trail, tamper):
    """Trail and checkpoints cut back together: the writer refuses, it does not carry on."""
    trail = witnessed_trail(4)
    _append(trail, 10)
    trail.close()
    tamper.write(tamper.trail, tamper.lines(tamper.trail)[:4])
    tamper.write(tamper.checkpoints, tamper.lines(tamper.checkpoints)[:1])
    with pytest.raises(IntegrityError, match="witness"):
        witnessed_trail(4)


def test_open_refuses_checkpoints_cut_below_the_witness_counter(witnessed_trail, tamper):
    """The last checkpoint removed, its entries kept: the witness's counter shows the cut."""
    trail = witnessed_trail(4)
    _append(trail, 10)
    trail.close()
    tamper.write(tamper.checkpoints, tamper.lines(tamper.checkpoints)[:2])
    with pytest.raises(IntegrityError, match="checkpoints were cut"):
        witnessed_trail(4)


def test_verify_reads_a_journal_export_as_witness(audit_dir, signing_key, clock, tmp_path, tamper):
    """The JSON log lines (other events mixed in) serve as a witness; a cut below them fails."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    trail = AuditTrail(audit_dir, signing_key, clock=clock, checkpoint_every=4)
    _append(trail, 9)
    trail.close()
    journal = tmp_path / "journal.jsonl"
    journal.write_text('{"event": "server.started", "level": "info"}\n' + stream.getvalue())
    report = verify_trail(audit_dir, signing_key.public_key(), witness=journal)
    assert report.ok and report.witnessed_entries == 9
    tamper.write(tamper.trail, tamper.lines(tamper.trail)[:8])
    tamper.write(tamper.checkpoints, tamper.lines(tamper.checkpoints)[:2])
    report = verify_trail(audit_dir, signing_key.public_key(), witness=journal)
    assert (report.problem.kind, report.problem.seq) == ("witness_truncated", 8)


def test_witness_lines_that_are_not_this_keys_checkpoints_are_reported(
    witnessed_trail, witness_dir, signing_key, audit_dir
):
    """A garbled line and a line with a forged signature in the witness are both named."""
    trail = witnessed_trail(4)
    _append(trail, 8)
    trail.close()
    path = witness_file(witness_dir, key_id(signing_key.public_key()))
    lines = path.read_bytes().splitlines()
    forged = json.loads(lines[0])
    forged["statement"]["tree_size"] = 3
    path.write_bytes(b"\n".join([*lines, b"not json", json.dumps(forged).encode()]) + b"\n")
    report = verify_trail(audit_dir, signing_key.public_key(), witness=witness_dir)
    assert {p.kind for p in report.problems} == {"witness_malformed", "witness_bad_signature"}


def test_a_forked_witness_is_reported(witnessed_trail, witness_dir, signing_key, audit_dir, clock):
    """Two different checkpoints with one counter (a re-signed history) are a fork."""
    trail = witnessed_trail(4)
    _append(trail, 4)
    trail.close()
    first = _witness_lines(witness_dir, signing_key)
    other = AuditTrail(audit_dir.parent / "other", signing_key, clock=clock, checkpoint_every=4)
    other.append(actor=Actor.operator(), action="items.delete", outcome="ok")
    other.close()
    fork = (audit_dir.parent / "other" / "checkpoints.jsonl").read_bytes().splitlines()
    path = witness_file(witness_dir, key_id(signing_key.public_key()))
    path.write_bytes(b"\n".join([*first, *fork]) + b"\n")
    report = verify_trail(audit_dir, signing_key.public_key(), witness=witness_dir)
    assert "witness_inconsistent" in {p.kind for p in report.problems}


def test_verify_refuses_an_absent_witness(fill, audit_dir, signing_key, tmp_path):
    """Naming a witness that is not there is an error, not a silent pass."""
    from appliance.errors import NotFoundError

    fill(4)
    with pytest.raises(NotFoundError):
        verify_trail(audit_dir, signing_key.public_key(), witness=tmp_path / "absent.jsonl")


def test_witness_setting_must_be_absolute_and_outside_the_data_dir(tmp_path, clock):
    """A relative witness path, or one inside the data dir, is a configuration error."""
    from appliance.wiring import init_appliance

    with pytest.raises(ConfigError, match="absolute"):
        load_settings(data_dir=tmp_path / "d", environ={"APPLIANCE_AUDIT__WITNESS_PATH": "w"})
    inside = load_settings(
        data_dir=tmp_path / "d",
        environ={"APPLIANCE_AUDIT__WITNESS_PATH": str(tmp_path / "d" / "w.jsonl")},
    )
    with pytest.raises(ConfigError, match="inside the data directory"):
        init_appliance(inside, clock=clock, environ={})


def test_init_signs_and_witnesses_the_genesis_entry(tmp_path, clock, witness_dir):
    """A fresh install has checkpoint 0 over the genesis entry, locally and at the witness."""
    from appliance.wiring import audit_public_key, init_appliance

    settings = load_settings(
        data_dir=tmp_path / "d", environ={"APPLIANCE_AUDIT__WITNESS_PATH": str(witness_dir)}
    )
    init_appliance(settings, clock=clock, environ={})
    public = audit_public_key(settings, environ={})
    (line,) = (witness_dir / f"audit-checkpoints-{_kid(public)}.jsonl").read_bytes().splitlines()
    statement = json.loads(line)["statement"]
    assert (statement["counter"], statement["tree_size"]) == (0, 1)
    assert statement["previous"] == "0" * 64
    report = verify_trail(settings.data_dir / "audit", public, witness=witness_dir)
    assert report.ok and report.witnessed_entries == 1


def _kid(public: bytes) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return key_id(Ed25519PublicKey.from_public_bytes(public))


def _witnessing_writer(directory: str, witness: str, key: bytes, name: str, barrier) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance.clock import SystemClock

    trail = AuditTrail(
        Path(directory),
        Ed25519PrivateKey.from_private_bytes(key),
        clock=SystemClock(),
        checkpoint_every=3,
        witness=Path(witness),
    )
    barrier.wait()
    for _ in range(15):
        trail.append(actor=Actor(token_id=name, role="ingest"), action="items.store", outcome="ok")
    trail.close()


def test_two_processes_witness_one_checkpoint_chain(audit_dir, witness_dir, signing_key, tamper):
    """Server and CLI checkpointing at once: the witness holds the local chain, in order."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    raw = signing_key.private_bytes_raw()
    procs = [
        ctx.Process(
            target=_witnessing_writer,
            args=(str(audit_dir), str(witness_dir), raw, name, barrier),
        )
        for name in ("server", "cli")
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    local = tamper.lines(tamper.checkpoints)
    assert [json.loads(line)["statement"]["counter"] for line in local] == list(range(len(local)))
    assert _witness_lines(witness_dir, signing_key) == local
    report = verify_trail(audit_dir, signing_key.public_key(), witness=witness_dir)
    assert report.ok and report.entries == 30 and report.witnessed_entries == 30


def test_latest_witnessed_checkpoint_comes_from_the_end_of_a_long_file(
    witnessed_trail, witness_dir, signing_key, monkeypatch
):
    """A writer reads only the last part of the witness and still finds the newest checkpoint."""
    from appliance.audit import witness as witness_module

    trail = witnessed_trail(2)
    _append(trail, 40)
    trail.close()
    monkeypatch.setattr(witness_module, "_TAIL_BYTES", 3000)  # a few lines of 20
    path = witness_file(witness_dir, key_id(signing_key.public_key()))
    assert path.stat().st_size > 3 * 3000
    latest = FileWitness(witness_dir, key_id(signing_key.public_key())).latest()
    assert latest is not None and (latest.counter, latest.tree_size) == (19, 40)
    witnessed_trail(2).close()  # and a writer opens against it
