"""How the text recognisers' running time grows with hostile input.

Each recogniser (every pattern of ``text_patterns``, the lexicon/context scanner, and the
whole detector, overlap settling included) runs
on adversarial strings of growing length (``"a." * n``, ``"\\r\\n" * n``, emoji, digits,
slashes, one long word ...); the growth exponent is the slope of log CPU time against
log length, fitted over the sizes. Linear code scores about 1, a backtracking pattern
about 2 or more. Used by ``appliance bench phi --adversarial`` and by the tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

ADVERSARIAL: dict[str, str] = {
    "a.": "a.",
    "crlf": "\r\n",
    "emoji": "\U0001f600",
    "digits": "1",
    "slashes": "/",
    "long_word": "a",
    "digit_slash": "1/",
    "digit_dot": "1.",
    "digit_dash": "1-",
    "at": "a@",
    "colons": "a:",
    "hex_colon": "ab:",
    "caps_words": "AB ",
    "title_words": "Ab ",
    "titles": "Dr. ",
    "name_comma": "Smith, ",
    "spaces": " ",
    "www": "www.a",
    "plus_digits": "+1 ",
    "dense_phi": "dr smith 9/14/2020 617-555-0143 ",
}
SIZES = (2_000, 8_000, 32_000)
MAX_SECONDS = 2.0
"""A run slower than this at a middle size stops the series (the growth is clear)."""


def _cpu_seconds(call: Callable[[str], Any], text: str, floor: float, repeats: int) -> float:
    """Best of three CPU-time measurements, each repeating the call for at least
    ``floor`` seconds (so tiny timings are not all noise)."""
    best = math.inf
    for _ in range(repeats):
        runs, start = 0, time.thread_time()
        while True:
            call(text)
            runs += 1
            spent = time.thread_time() - start
            if spent >= floor or spent > MAX_SECONDS:
                break
        best = min(best, spent / runs)
        if spent > MAX_SECONDS:
            break
    return max(best, 1e-7)


def exponent(
    call: Callable[[str], Any],
    unit: str,
    sizes: Sequence[int] = SIZES,
    *,
    floor: float = 0.004,
    repeats: int = 3,
) -> float:
    """Fitted growth exponent of ``call`` on ``unit`` repeated to each of ``sizes`` chars."""
    points: list[tuple[float, float]] = []
    for size in sizes:
        text = (unit * (size // len(unit) + 1))[:size]
        seconds = _cpu_seconds(call, text, floor, repeats)
        points.append((math.log(size), math.log(seconds)))
        if seconds > MAX_SECONDS:
            break
    if len(points) < 2:
        return math.inf
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return num / den


def recognisers() -> dict[str, Callable[[str], Any]]:
    """Every text recogniser by name, as a callable over a text."""
    from appliance.detectors.text import TextDetector
    from appliance.detectors.text_context import ContextScanner
    from appliance.detectors.text_lexicon import lexicon
    from appliance.detectors.text_patterns import PATTERNS

    calls: dict[str, Callable[[str], Any]] = {
        f"pattern:{p.name}": (lambda text, p=p: list(p.finditer(text, gate=False)))
        for p in PATTERNS
    }
    calls["context:names_places"] = ContextScanner(lexicon()).scan
    detector = TextDetector()
    detector.load()
    calls["detector:analyze"] = detector.analyze  # all of them, and settling overlaps
    return calls


def growth_report(
    sizes: Sequence[int] = SIZES,
    inputs: dict[str, str] | None = None,
    *,
    floor: float = 0.004,
    repeats: int = 3,
) -> dict[str, Any]:
    """Growth exponent of every recogniser on every adversarial input, and the worst."""
    table: dict[str, dict[str, float]] = {}
    worst = (-math.inf, "", "")
    for name, call in recognisers().items():
        row = {}
        for label, unit in (inputs or ADVERSARIAL).items():
            value = exponent(call, unit, sizes, floor=floor, repeats=repeats)
            row[label] = round(value, 3)
            if value > worst[0]:
                worst = (value, name, label)
        table[name] = row
    return {
        "sizes": list(sizes),
        "worst_exponent": round(worst[0], 3),
        "worst": {"recogniser": worst[1], "input": worst[2]},
        "exponents": table,
    }
