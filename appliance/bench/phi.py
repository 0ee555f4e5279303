"""``appliance bench phi``: the text PHI detector scored on annotated notes, and its
worst-case running time on adversarial input.

The corpus is JSON lines (``docs/phi-detection.md``): one document a line,
``{"text": ..., "spans": [{"start": int, "end": int, "kind": "<finding kind>"}]}``.
A hospital can run it on its own annotated notes; nothing is sent anywhere and the
output carries figures only, never text.

Figures: per kind, span recall by overlap with a finding of any kind (what redaction
needs) and of the same kind; span precision (findings that overlap some annotated
span), token precision and recall (word tokens inside findings against tokens inside
annotations), the share of PHI-free documents with any finding, and throughput in
MB/s and documents/s (process CPU time and wall time).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Document:
    """One annotated note: its text and its PHI spans ``(start, end, kind)``."""

    text: str
    spans: tuple[tuple[int, int, str], ...]


def read_corpus(path: Path) -> list[Document]:
    """Documents from a ``.jsonl`` file or every ``*.jsonl`` file under a folder."""
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise click.ClickException(f"no .jsonl files under {path}")
    documents = []
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = str(row["text"])
                spans = tuple(
                    (int(s["start"]), int(s["end"]), str(s["kind"])) for s in row.get("spans", [])
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise click.ClickException(
                    f"{file}:{number}: not a corpus line ({exc}); see docs/phi-detection.md"
                ) from exc
            for start, end, _ in spans:
                if not 0 <= start < end <= len(text):
                    raise click.ClickException(f"{file}:{number}: span {start}-{end} out of text")
            documents.append(Document(text, spans))
    return documents


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _tokens(text: str, spans: Iterable[tuple[int, int]]) -> set[int]:
    """Start offsets of word tokens that lie (partly) inside any span."""
    ranges = sorted(spans)
    inside: set[int] = set()
    for match in _TOKEN.finditer(text):
        if any(_overlap(match.span(), r) for r in ranges):
            inside.add(match.start())
    return inside


Found = Sequence[tuple[int, int, str]]


def score(documents: Sequence[Document], found: Sequence[Found]) -> dict[str, Any]:
    """Recall per kind (any kind, same kind), span and token precision, PHI-free flagging."""
    per_kind: dict[str, dict[str, int]] = {}
    findings = true_findings = 0
    tokens_true = tokens_found = tokens_both = 0
    free = free_flagged = 0
    for document, hits in zip(documents, found, strict=True):
        for start, end, kind in document.spans:
            row = per_kind.setdefault(kind, {"total": 0, "found_any": 0, "found_same": 0})
            row["total"] += 1
            row["found_any"] += any(_overlap((start, end), (s, e)) for s, e, _ in hits)
            row["found_same"] += any(
                k == kind and _overlap((start, end), (s, e)) for s, e, k in hits
            )
        findings += len(hits)
        true_findings += sum(
            any(_overlap((s, e), (a, b)) for a, b, _ in document.spans) for s, e, _ in hits
        )
        truth = _tokens(document.text, [(s, e) for s, e, _ in document.spans])
        flagged = _tokens(document.text, [(s, e) for s, e, _ in hits])
        tokens_true += len(truth)
        tokens_found += len(flagged)
        tokens_both += len(truth & flagged)
        if not document.spans:
            free += 1
            free_flagged += bool(hits)
    total = sum(r["total"] for r in per_kind.values())
    return {
        "documents": len(documents),
        "spans": total,
        "recall_any": _ratio(sum(r["found_any"] for r in per_kind.values()), total),
        "recall_same": _ratio(sum(r["found_same"] for r in per_kind.values()), total),
        "per_kind": {
            kind: {
                "total": row["total"],
                "recall_any": _ratio(row["found_any"], row["total"]),
                "recall_same": _ratio(row["found_same"], row["total"]),
            }
            for kind, row in sorted(per_kind.items())
        },
        "findings": findings,
        "span_precision": _ratio(true_findings, findings),
        "token_precision": _ratio(tokens_both, tokens_found),
        "token_recall": _ratio(tokens_both, tokens_true),
        "phi_free_documents": free,
        "phi_free_flagged": _ratio(free_flagged, free) if free else None,
    }


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 1.0


def run_phi_benchmark(
    documents: Sequence[Document], analyze: Callable[[str], Sequence[Any]], *, repeats: int = 1
) -> dict[str, Any]:
    """Score ``analyze`` (a ``TextDetector.analyze``) on ``documents`` and time it."""
    analyze(documents[0].text if documents else "warm up")
    found: list[Found] = []
    cpu, wall = time.process_time(), time.perf_counter()
    for round_ in range(repeats):
        for document in documents:
            hits = analyze(document.text)
            if round_ == 0:
                found.append([(f.location["start"], f.location["end"], f.kind.value) for f in hits])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    megabytes = repeats * sum(len(d.text.encode("utf-8")) for d in documents) / 1e6
    result = score(documents, found)
    result["throughput"] = {
        "megabytes": round(megabytes, 4),
        "mb_per_s_cpu": round(megabytes / cpu, 4) if cpu else math.inf,
        "mb_per_s_wall": round(megabytes / wall, 4) if wall else math.inf,
        "docs_per_s_wall": round(repeats * len(documents) / wall, 2) if wall else math.inf,
    }
    return result


def format_table(result: dict[str, Any]) -> str:
    """A fixed-width report of ``run_phi_benchmark``."""
    lines = [f"{'kind':24} {'n':>5} {'recall':>7} {'same':>7}"]
    for kind, row in result["per_kind"].items():
        lines.append(
            f"{kind:24} {row['total']:5d} {row['recall_any']:7.3f} {row['recall_same']:7.3f}"
        )
    lines.append(
        f"{'all':24} {result['spans']:5d} {result['recall_any']:7.3f} {result['recall_same']:7.3f}"
    )
    lines.append(
        f"span precision {result['span_precision']:.3f}, token precision "
        f"{result['token_precision']:.3f}, token recall {result['token_recall']:.3f}, "
        + (
            f"PHI-free documents flagged {result['phi_free_flagged']:.1%} "
            f"of {result['phi_free_documents']}"
            if result["phi_free_documents"]
            else "no PHI-free documents"
        )
    )
    if "throughput" in result:
        t = result["throughput"]
        lines.append(
            f"throughput {t['mb_per_s_wall']:.3f} MB/s wall ({t['mb_per_s_cpu']:.3f} CPU), "
            f"{t['docs_per_s_wall']:.1f} documents/s"
        )
    if "adversarial" in result:
        lines.append(f"worst growth exponent {result['adversarial']['worst_exponent']:.2f}")
    return "\n".join(lines)


@click.command("phi")
@click.option(
    "--corpus",
    type=click.Path(exists=True, path_type=Path),
    help="A .jsonl file or a folder of them (format: docs/phi-detection.md).",
)
@click.option("--repeats", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--adversarial", is_flag=True, help="Also time every recogniser on hostile long strings."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead.")
def phi_command(corpus: Path | None, repeats: int, adversarial: bool, as_json: bool) -> None:
    """Recall, precision and throughput of the text PHI detector on annotated notes."""
    from appliance.detectors.text import TextDetector

    if corpus is None and not adversarial:
        raise click.UsageError("give --corpus DIR, --adversarial, or both")
    detector = TextDetector()
    detector.load()
    result: dict[str, Any] = {}
    if corpus is not None:
        result = run_phi_benchmark(read_corpus(corpus), detector.analyze, repeats=repeats)
    if adversarial:
        from appliance.detectors.text_growth import growth_report

        result["adversarial"] = growth_report()
    if as_json:
        click.echo(json.dumps(result, indent=2))
    elif corpus is not None:
        click.echo(format_table(result))
    else:
        click.echo(f"worst growth exponent {result['adversarial']['worst_exponent']:.2f}")
