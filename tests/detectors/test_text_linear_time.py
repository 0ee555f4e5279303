"""Every text recogniser runs in linear time on hostile input (issue 9's hangs)."""

from __future__ import annotations

import re

from appliance.detectors.text_growth import ADVERSARIAL, exponent, growth_report

SIZES = (1_000, 4_000, 16_000)
LIMIT = 1.5
"""Linear code fits about 1.0; a backtracking pattern 2 or more. Generous on purpose."""


def test_every_recogniser_grows_linearly_on_adversarial_input() -> None:
    """No pattern nor the context scanner grows faster than n^1.5 on any hostile string."""
    report = growth_report(SIZES, floor=0.001, repeats=2)
    print(f"\nworst growth exponent {report['worst_exponent']} at {report['worst']}")
    assert set(report["exponents"]["context:names_places"]) == set(ADVERSARIAL)
    assert "detector:analyze" in report["exponents"]
    slow = {
        (name, label): value
        for name, row in report["exponents"].items()
        for label, value in row.items()
        if value > LIMIT
    }
    assert slow == {}


def test_the_fit_flags_a_backtracking_pattern() -> None:
    """The measurement is able to fail: a classic quadratic pattern scores above the limit."""
    quadratic = re.compile(r"[a-z0-9.]*\.(?:com|org)\b")  # rescans the run from every start
    value = exponent(lambda text: quadratic.findall(text), "a.", SIZES, floor=0.001, repeats=2)
    assert value > LIMIT


def test_overlap_settling_is_local_to_overlapping_findings() -> None:
    """Findings are settled per run of overlapping spans, so a note with thousands of
    findings is not compared pairwise (1 MB of dense PHI took minutes before)."""
    from appliance.detectors.text import _clusters, _Hit, _resolve
    from appliance.domain.findings import FindingKind

    hits = [_Hit(FindingKind.DATE, 10 * i, 10 * i + 4, 0.7, "p") for i in range(5000)]
    hits += [
        _Hit(FindingKind.PHONE_NUMBER, 10 * i + 1, 10 * i + 4, 0.5, "q") for i in range(0, 5000, 2)
    ]
    assert len(_clusters(hits)) == 5000
    kept = _resolve(hits, "x" * 50_000)
    assert len(kept) == 5000 and {h.kind for h in kept} == {FindingKind.DATE}
