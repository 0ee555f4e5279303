"""Scoring a text detector on the synthetic notes: recall per kind by span overlap, and
false positives on PHI-free sentences. The tests assert goals on these figures; the
benchmark and reports quote them (``text_benchmark(TextDetector().analyze)``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from appliance.domain.findings import Finding, FindingKind
from tests.detectors.synthetic.synthetic import SyntheticNote, generate_notes, phi_free_sentences


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def recall_table(
    notes: Sequence[SyntheticNote], findings: Sequence[Iterable[Finding]]
) -> dict[FindingKind, dict[str, float]]:
    """Per kind: ground-truth count, recall by overlap with a finding of the same kind,
    and recall by overlap with a finding of any kind (what de-identification needs)."""
    table: dict[FindingKind, dict[str, float]] = {}
    for note, found in zip(notes, findings, strict=True):
        located = [(f.kind, (int(f.location["start"]), int(f.location["end"]))) for f in found]
        for span in note.spans:
            row = table.setdefault(span.kind, {"total": 0, "found": 0, "found_any": 0})
            row["total"] += 1
            row["found"] += any(
                k == span.kind and _overlaps(s, (span.start, span.end)) for k, s in located
            )
            row["found_any"] += any(_overlaps(s, (span.start, span.end)) for _, s in located)
    for row in table.values():
        row["recall"] = row["found"] / row["total"]
        row["recall_any"] = row["found_any"] / row["total"]
    return dict(sorted(table.items(), key=lambda item: item[0].value))


def format_table(table: dict[FindingKind, dict[str, float]]) -> str:
    """A fixed-width table of ``recall_table`` for reports and ``pytest -s``."""
    lines = [f"{'kind':24} {'n':>5} {'recall':>7} {'any-kind':>9}"]
    for kind, row in table.items():
        lines.append(
            f"{kind.value:24} {int(row['total']):5d} {row['recall']:7.3f} {row['recall_any']:9.3f}"
        )
    return "\n".join(lines)


def false_positives(
    analyze: Callable[[str], Sequence[Finding]], sentences: Sequence[str]
) -> dict[str, Any]:
    """Findings on PHI-free sentences: how many sentences were flagged, and by which kinds."""
    flagged, by_kind = 0, Counter()
    for sentence in sentences:
        found = analyze(sentence)
        flagged += bool(found)
        by_kind.update(f.kind.value for f in found)
    return {
        "sentences": len(sentences),
        "flagged": flagged,
        "rate": flagged / len(sentences) if sentences else 0.0,
        "by_kind": dict(by_kind),
    }


def text_benchmark(
    analyze: Callable[[str], Sequence[Finding]],
    *,
    notes: int = 300,
    sentences: int = 300,
    phrasing: str = "tuned",
    seed: int = 20240611,
) -> dict[str, Any]:
    """Per-kind recall on ``notes`` synthetic notes and false positives on PHI-free text:
    the figures the tests assert and the reports quote."""
    generated = generate_notes(notes, seed, phrasing=phrasing)
    table = recall_table(generated, [analyze(note.text) for note in generated])
    return {
        "phrasing": phrasing,
        "recall": table,
        "false_positives": false_positives(analyze, phi_free_sentences(sentences, seed)),
    }
