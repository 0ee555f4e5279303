"""The api benchmark harness runs end to end at a tiny size and reports its comparisons."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.bench.api import format_report, run_api_benchmark


@pytest.mark.bench
def test_api_benchmark_reports_ratios_and_stages(tmp_path: Path) -> None:
    """A tiny run yields HTTP, in-process and ingest figures, ratios and a stage breakdown."""
    report = run_api_benchmark(
        requests=8, clients=2, ingest_items=4, batch=2, pack="test", workdir=tmp_path
    )
    embeddings, ingest = report["embeddings"], report["ingest"]
    for side in ("http", "in_process", "service_in_process"):
        assert embeddings[side]["throughput_rps"] > 0
        assert embeddings[side]["p99_ms"] >= embeddings[side]["p50_ms"]
    assert embeddings["ratio"] > 0 and ingest["ratio"] > 0
    assert set(ingest["stage_ms_per_item"]) == {
        "detect_and_decide",
        "encode",
        "seal_store_audit_index",
    }
    assert "ratio HTTP / engine" in format_report(report)
