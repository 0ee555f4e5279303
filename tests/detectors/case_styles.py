"""The three letter-case styles clinical notes come in, and what the detector finds."""

from __future__ import annotations

from appliance.detectors import TextDetector

STYLES = {"title": str, "upper": str.upper, "lower": str.lower}


def kinds_over(detector: TextDetector, sentence: str, value: str, style: str) -> list[str]:
    """Kinds of the findings that overlap ``value`` in ``sentence`` written in ``style``."""
    text = STYLES[style](sentence)
    start = text.index(STYLES[style](value))
    end = start + len(value)
    return [
        f.kind.value
        for f in detector.analyze(text)
        if f.location["start"] < end and start < f.location["end"]
    ]


def found_in(detector: TextDetector, sentence: str, style: str) -> list[tuple[str, str]]:
    """(text, kind) of every finding in ``sentence`` written in ``style``."""
    text = STYLES[style](sentence)
    return [
        (text[f.location["start"] : f.location["end"]], f.kind.value)
        for f in detector.analyze(text)
    ]
