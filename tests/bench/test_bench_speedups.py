"""`appliance bench speedups`: every variant measured in one served appliance, tiny size."""

from __future__ import annotations

from pathlib import Path

from appliance.bench.speedups import VARIANTS, format_report, run_speedups


def test_variants_alternate_and_switch_the_running_appliance(tmp_path: Path) -> None:
    """Each variant is measured at each load with every request answered, in rotated
    order, and ratios are to the baseline."""
    names = ("baseline", "cache", "shipped")
    report = run_speedups(
        variants=names,
        loads=[(2, 2)],
        rounds=1,
        requests_per_round=3,
        pack="test",
        workdir=tmp_path,
    )
    (load,) = report["loads"]
    assert list(load["variants"]) == list(names)
    for name, figures in load["variants"].items():
        assert figures["requests"] == 3 and figures["sentences"] == 6, name
        assert figures["sentences_per_s"] > 0 and "ratio" in figures
    assert load["variants"]["baseline"]["ratio"] == 1.0
    assert report["params"]["variants"] == list(names)
    assert "baseline" in format_report(report)
    assert set(names) <= set(VARIANTS)
