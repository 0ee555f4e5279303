"""`appliance bench gpu`: without a CUDA device it measures nothing, says so, exits 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.bench import gpu
from appliance.cli.main import cli


def test_without_a_gpu_the_command_says_so_and_exits_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CUDA device (forced here, so a GPU host runs the same path): exit 0 in seconds,
    a message naming what to do, and a JSON report that says no GPU figure was taken."""
    monkeypatch.setattr(gpu, "gpu_available", lambda: False)
    out = tmp_path / "gpu.json"
    result = CliRunner().invoke(cli, ["bench", "gpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "no CUDA GPU is visible" in result.output and "bench gpu" in result.output
    assert json.loads(out.read_text()) == {"gpu": False, "message": gpu.NO_GPU}
