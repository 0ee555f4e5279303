"""Shared fixtures: settings on a temp data dir, an initialised appliance, shared data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import structlog

from appliance.clock import FixedClock
from appliance.settings import Settings, load_settings

if TYPE_CHECKING:
    from appliance.wiring import Appliance

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_dir(name: str) -> Path:
    """A folder of ../shared/data; skipped when absent, but a failure under CI."""
    path = Path(os.environ.get("APPLIANCE_TEST_DATA", SHARED_DATA)) / name
    if not path.exists():
        message = f"test data {path} is absent (../shared/data is not beside this checkout)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI runs reconfigure structlog onto captured streams; put the config back after."""
    previous = structlog.get_config()
    yield
    structlog.configure(**previous)


@pytest.fixture
def clock() -> FixedClock:
    """A clock that stands still at 2026-01-01 until advanced."""
    return FixedClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings on a fresh data dir, ignoring the caller's environment."""
    return load_settings(data_dir=tmp_path / "data", environ={})


@pytest.fixture
def appliance(settings: Settings, clock: FixedClock) -> Iterator[Appliance]:
    """An initialised, opened appliance; closed after the test."""
    from appliance.wiring import init_appliance, open_appliance

    init_appliance(settings, clock=clock, environ={})
    app = open_appliance(settings, clock=clock, environ={})
    yield app
    app.close()


@pytest.fixture
def isolated_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No site config, systemd credentials or data-dir variable leak into CLI runs."""
    for name in ("APPLIANCE_CONFIG", "CREDENTIALS_DIRECTORY", "APPLIANCE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("appliance.settings.DEFAULT_CONFIG_FILE", tmp_path / "absent.toml")


def run_appliance(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``appliance ARGV`` in-process through its real entry point; (code, out, err)."""
    from appliance.cli.main import main

    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def init_with_test_pack(capsys: pytest.CaptureFixture[str], root: Path) -> str:
    """``appliance init`` a data dir under ``root`` and import the tiny test pack into it
    through the CLI; returns the data dir (as the CLI's ``--data-dir`` argument)."""
    from appliance.encoders.testpack import write_test_pack

    data = str(root / "data")
    assert run_appliance(capsys, "--data-dir", data, "init")[0] == 0
    pack = write_test_pack(root / "pack")
    code, _, err = run_appliance(capsys, "--data-dir", data, "models", "import", str(pack))
    assert code == 0, err
    return data
