"""Where the KEK lives: outside the data dir when keys.kek_file says so (production), inside
it only as a development default that `init` warns about."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.conftest import run_appliance


def test_init_warns_when_the_kek_is_the_development_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], isolated_cli: None
) -> None:
    """Zero configuration still works; stderr names the KEK path and why it is a dev default."""
    data_dir = tmp_path / "data"
    code, out, err = run_appliance(capsys, "--data-dir", str(data_dir), "init")
    assert code == 0 and "initialised" in out
    kek = data_dir / "keys" / "kek"
    assert kek.is_file()
    assert "warning" in err and str(kek) in err and "keys.kek_file" in err
    code, out, _ = run_appliance(capsys, "--data-dir", str(data_dir), "status", "--json")
    assert code == 0 and json.loads(out)["kek"]["inside_data_dir"] is True


def test_kek_file_setting_keeps_the_key_out_of_the_data_dir_for_every_command(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    isolated_cli: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With keys.kek_file, init creates the ring there (0600, no warning), the data dir holds
    no key, and later CLI commands read the same file."""
    kek = tmp_path / "etc" / "appliance" / "keys" / "kek"
    monkeypatch.setenv("APPLIANCE_KEYS__KEK_FILE", str(kek))
    data_dir = tmp_path / "data"
    code, _, err = run_appliance(capsys, "--data-dir", str(data_dir), "init")
    assert code == 0 and "warning" not in err
    assert kek.is_file() and stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert not (data_dir / "keys" / "kek").exists()
    assert not any(p.name == "kek" for p in data_dir.rglob("*"))
    code, out, _ = run_appliance(capsys, "--data-dir", str(data_dir), "keys", "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["source"] == str(kek) and status["kek_inside_data_dir"] is False
    monkeypatch.delenv("APPLIANCE_KEYS__KEK_FILE")
    code, _, err = run_appliance(capsys, "--data-dir", str(data_dir), "status")
    assert code == 1 and "no key encryption key" in err  # nothing in the data dir opens it
