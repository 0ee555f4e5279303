"""`appliance status` shows the data-dir format: the store's schema and on-disk versions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from appliance.index.snapshot import SNAPSHOT_VERSION
from tests.conftest import run_appliance


def test_status_shows_the_schema_the_store_records(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, isolated_cli: None
) -> None:
    """The schema version in `status --json` is the one in the store's migration table, and
    the text output names the same data-dir format."""
    data_dir = tmp_path / "data"
    code, _, err = run_appliance(capsys, "--data-dir", str(data_dir), "init")
    assert code == 0, err
    with sqlite3.connect(data_dir / "appliance.db") as connection:
        recorded = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    code, out, err = run_appliance(capsys, "--data-dir", str(data_dir), "status", "--json")
    assert code == 0, err
    shown = json.loads(out)["format"]
    assert shown["schema_version"] == recorded == shown["schema_latest"]
    assert shown["index_snapshot"] == SNAPSHOT_VERSION
    assert shown["data_dir"] == f"{recorded}.{SNAPSHOT_VERSION}"
    code, out, _ = run_appliance(capsys, "--data-dir", str(data_dir), "status")
    assert f"format        {recorded}.{SNAPSHOT_VERSION} (store schema {recorded} of" in out
