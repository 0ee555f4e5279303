"""The operator CLI: init, status, keys, audit, subjects (in-process, real data dir)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from appliance.domain.types import Actor, Modality
from appliance.services.items import NewItem
from appliance.settings import load_settings
from appliance.wiring import open_appliance
from tests.conftest import run_appliance as run


@pytest.fixture
def data_dir(tmp_path: Path, isolated_cli: None) -> Path:
    """A not-yet-initialised data dir, with no site config or credentials in the way."""
    return tmp_path / "data"


def test_init_creates_private_dir_and_key_once(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    """init makes a 0700 data dir and 0600 KEK, and a re-run overwrites nothing."""
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "init")
    assert code == 0 and "created" in out
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    kek = data_dir / "keys" / "kek"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    before = kek.read_bytes()
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "init")
    assert code == 0 and "already initialised" in out
    assert kek.read_bytes() == before


def test_commands_before_init_explain_the_remedy(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    """Using an uninitialised data dir fails with a message and a remedy, not a traceback."""
    code, _, err = run(capsys, "--data-dir", str(data_dir), "keys", "status")
    assert code == 2
    assert "remedy: run `appliance init`" in err
    assert "Traceback" not in err


def test_audit_verify_passes_then_names_the_edited_entry(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    """verify exits 0 on an intact trail and 1 naming the first edited entry."""
    run(capsys, "--data-dir", str(data_dir), "init")
    run(capsys, "--data-dir", str(data_dir), "init")
    run(capsys, "--data-dir", str(data_dir), "init")
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "audit", "verify")
    assert code == 0 and "intact" in out
    trail = data_dir / "audit" / "trail.jsonl"
    lines = trail.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["outcome"] = "forged"
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    trail.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "--data-dir", str(data_dir), "audit", "verify")
    assert code == 1
    assert "BROKEN" in err and "1" in err


def test_audit_export_writes_json_lines(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    """export writes one JSON object per entry, genesis first."""
    run(capsys, "--data-dir", str(data_dir), "init")
    out_file = tmp_path / "export.jsonl"
    code, _, _ = run(capsys, "--data-dir", str(data_dir), "audit", "export", "-o", str(out_file))
    assert code == 0
    entries = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert entries[0]["action"] == "audit.genesis"


def test_keys_rotate_and_status(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    """rotate moves every data key to version 2; status reports it as JSON."""
    run(capsys, "--data-dir", str(data_dir), "init")
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "keys", "rotate")
    assert code == 0 and "1 -> 2" in out
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "keys", "status", "--json")
    status = json.loads(out)
    assert status["active"] == 2 and status["versions"] == [2]
    assert status["keys_by_kek_version"] == {"2": 2}


def test_subjects_delete_reports_erased_items(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    """subjects delete erases the subject's items and prints the count as JSON."""
    run(capsys, "--data-dir", str(data_dir), "init")
    app = open_appliance(load_settings(data_dir=data_dir, environ={}), environ={})
    app.collections.create("notes", 4, Actor.operator())
    vectors = np.eye(4, dtype=np.float32)
    app.items.store(
        "notes",
        [NewItem("MRN-9", Modality.TEXT, v, item_id=f"i{n}") for n, v in enumerate(vectors)],
        actor=Actor.operator(),
        space="s",
    )
    app.close()
    ids = data_dir.parent / "ids.txt"
    ids.write_text("MRN-9\n")
    code, out, _ = run(
        capsys, "--data-dir", str(data_dir), "subjects", "delete", "--file", str(ids)
    )
    assert code == 0 and json.loads(out) == {"deleted": 4}
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "status", "--json")
    assert json.loads(out)["audit"]["intact"] is True


def test_tokens_create_prints_only_the_token(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    """tokens create prints the token alone on stdout; list shows it without the secret."""
    run(capsys, "--data-dir", str(data_dir), "init")
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "tokens", "create", "--role", "query")
    token = out.strip()
    assert code == 0 and out.count("\n") == 1 and token.startswith("apl_")
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "tokens", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["role"] == "query" and token.split("_", 2)[2] not in out
    code, out, _ = run(capsys, "--data-dir", str(data_dir), "tokens", "revoke", listed["id"])
    assert code == 0
