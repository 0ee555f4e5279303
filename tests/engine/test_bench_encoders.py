"""`appliance bench encoders`: structure of the figures at a tiny size (no timing asserted)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from appliance.bench.encoders import encoders_command, format_report, run_encoder_benchmark

PERCENTILES = {"p50_ms", "p95_ms", "p99_ms"}


def test_benchmark_report_structure(encoder) -> None:
    """run_encoder_benchmark gives bare and engine figures per batch size, ratios and goals."""
    report = run_encoder_benchmark(
        {"text": encoder}, batch_sizes=(1, 4), callers=4, requests=8, overhead_requests=4
    )
    assert [(r["modality"], r["batch_size"]) for r in report["results"]] == [
        ("text", 1),
        ("text", 4),
    ]
    for row in report["results"]:
        assert PERCENTILES.issubset(row["bare"]) and PERCENTILES.issubset(row["engine"])
        assert row["bare"]["throughput"] > 0 and row["engine"]["throughput"] > 0
        assert row["engine"]["items"] == 8 * row["batch_size"]
        assert row["engine"]["callers"] == 4 and row["engine"]["batches"] >= 1
        assert row["bare"]["items"] == row["engine"]["items"]  # same inputs both sides
        assert len(row["bare"]["batch_sizes"]) == 2  # one bare batch size per engine round
        assert row["ratio"] == pytest.approx(
            row["engine"]["throughput"] / row["bare"]["throughput"], rel=0.01
        )
    overhead = report["overhead"]["text"]
    assert {"bare", "engine", "overhead_p50_ms", "overhead_mean_ms"} <= set(overhead)
    assert set(report["goals"]) == {"text_ratio_at_4>=0.9", "text_batch1_overhead<2.0ms"}
    assert report["runtime"]["device"] == "cpu"
    json.dumps(report)
    table = format_report(report)
    assert "text" in table and "goals" in table


@pytest.mark.bench
def test_cli_runs_on_tiny_random_models(tmp_path) -> None:
    """The click command builds tiny random CLIP models, runs, prints a table and writes JSON."""
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        encoders_command,
        ["--modality", "text", "--batch-sizes", "1,2", "--callers", "2", "--requests", "2",
         "--overhead-requests", "2", "--device", "cpu", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "batch-1 latency overhead" in result.output
    report = json.loads(out.read_text())
    assert report["models"]["text"]["dimension"] > 0
    assert [r["batch_size"] for r in report["results"]] == [1, 2]


def test_fair_bare_gets_the_engines_inputs_and_batches(make_engine, encoder) -> None:
    """The bare side encodes exactly the engine's inputs, in batches of the size asked."""
    from appliance.bench import loadtest
    from appliance.bench.fair import engine_items, run_bare_batched

    engine = make_engine()
    pool = [f"sentence number {i}" for i in range(10)]
    seen: list[str] = []
    original = encoder.prepare

    def recording(raw):
        seen.append(raw)
        return original(raw)

    encoder.prepare = recording
    loadtest.run_engine(engine, pool, 2, 6, 3)
    assert sorted(seen) == sorted(engine_items(pool, 2, 6, 3))
    seen.clear()
    encoder.forward_sizes.clear()
    run = run_bare_batched(encoder, engine_items(pool, 2, 6, 3), 5, 1)
    assert sorted(seen) == sorted(engine_items(pool, 2, 6, 3))
    assert encoder.forward_sizes == [5, 5, 2]
    assert run.items == 12 and run.batches == 3 and len(run.latencies) == 3


def test_cli_rejects_bad_batch_sizes_and_exclusive_options(tmp_path) -> None:
    """Bad --batch-sizes and --pack with --real-size are usage errors, nothing is loaded."""
    runner = CliRunner()
    assert runner.invoke(encoders_command, ["--batch-sizes", "1,x"]).exit_code == 2
    assert runner.invoke(encoders_command, ["--batch-sizes", "0"]).exit_code == 2
    both = runner.invoke(encoders_command, ["--pack", str(tmp_path), "--real-size"])
    assert both.exit_code == 2 and "exclude" in both.output


def test_bench_group_offers_encoders() -> None:
    """`appliance bench encoders` is registered on the bench command group."""
    from appliance.cli.bench import bench

    assert "encoders" in bench.commands
