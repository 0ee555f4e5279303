"""`appliance bench profile`: the per-stage breakdown of one /v1/embeddings request, tiny."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.bench.profile import STAGES, format_report, run_profile


@pytest.mark.bench
def test_profile_breaks_one_request_into_stages(tmp_path: Path) -> None:
    """Every stage has a non-negative median; the remainder closes the end-to-end p50."""
    report = run_profile(requests=4, pack="test", workdir=tmp_path)
    assert report["end_to_end"]["requests"] == 4
    assert list(report["stages"]) == [*STAGES, "http_framework_and_rest"]
    measured = [report["stages"][name]["ms"] for name in STAGES]
    assert all(ms >= 0 for ms in measured)
    assert report["stages"]["forward"]["ms"] > 0 and report["stages"]["detectors"]["ms"] > 0
    total = sum(row["ms"] for row in report["stages"].values())
    assert total == pytest.approx(report["end_to_end"]["p50_ms"], abs=0.01)
    assert report["runtime"]["device"] == "cpu"
    assert "forward" in format_report(report)


def test_profile_is_registered_with_json_output() -> None:
    """`appliance bench profile` and `bench peer` are on the bench group; profile has --json."""
    from appliance.cli.bench import bench

    assert {"profile", "peer"} <= set(bench.commands)
    help_text = CliRunner().invoke(bench, ["profile", "--help"]).output
    assert "--json" in help_text and "--requests" in help_text
