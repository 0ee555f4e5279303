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
