"""The index benchmark harness at a tiny size: structure and recall, no timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.bench.index import format_table, index_command, run_index_benchmark

pytestmark = pytest.mark.bench


def test_harness_reports_every_figure_and_ours_builds_its_own_graph(tmp_path: Path) -> None:
    """A 2000-vector run returns all figures; ours (exact at this size) has recall 1."""
    lines: list[str] = []
    result = run_index_benchmark(
        n=2000, dim=32, k=10, queries=50, workdir=tmp_path, repeats=1, progress=lines.append
    )
    assert set(result) >= {"params", "build_s", "bare", "ours", "ratios", "goals", "goals_met"}
    assert result["build_s"] == result["ours"]["build_s"] > 0
    assert result["rebuild_per_item_ms"] > 0
    for side in ("bare", "ours"):
        figures = result[side]
        assert set(figures) >= {"qps_batch", "qps_single", "recall_at_k", "save_s", "load_s"}
        timed = ("qps_batch", "qps_single", "recall_at_k", "save_s", "load_s", "build_s")
        assert all(figures[name] > 0 for name in timed)
        assert 0.5 < figures["recall_at_k"] <= 1.0
    assert result["params"]["exact_search_max"] >= 2000
    assert result["ours"]["recall_at_k"] == 1.0  # brute force at this size
    assert result["ours"]["unreachable_kept"] >= 0 and result["bare"]["unfindable_self"] >= 0
    assert result["goals"]["recall >= bare - 0.01"] is True
    assert set(result["ratios"]) >= {"qps_batch", "qps_single", "save", "load"}
    assert result["ours"]["bytes_per_vector"] > 32 * 4
    assert lines and list(tmp_path.iterdir()) == []
    table = format_table(result)
    assert "recall@10" in table and "ours/bare" in table
    json.dumps(result)


def test_cli_prints_json_and_table(tmp_path: Path) -> None:
    """`index --json` prints parseable JSON; without it, a readable table."""
    runner = CliRunner()
    args = ["--n", "300", "--dim", "16", "--queries", "10", "--repeats", "1"]
    args += ["--dtype", "i8", "--data", "clustered", "--workdir", str(tmp_path)]
    done = runner.invoke(index_command, [*args, "--json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["params"]["dtype"] == "i8" and payload["params"]["n"] == 300
    assert payload["params"]["data"] == "clustered"
    assert 0.5 < payload["ours"]["recall_at_k"] <= 1.0  # i8: exact on quantised vectors
    table = runner.invoke(index_command, args)
    assert table.exit_code == 0 and "search QPS, batched" in table.stdout
    refused = runner.invoke(index_command, ["--n", "5", "--k", "10"])
    assert refused.exit_code != 0 and "--k" in refused.output
