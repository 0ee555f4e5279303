"""The self-contained risk report: one HTML file (no scripts, no CDN, no external links;
the trade-off plot embedded as a base64 PNG) and the JSON next to it."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

COLUMNS = (
    ("top1", "top-1"),
    ("top5", "top-5"),
    ("cross_top1", "cross top-1"),
    ("eer", "EER"),
    ("tar_at_far_0.001", "TAR @ FAR 0.1%"),
    ("probe_accuracy", "probe accuracy"),
    ("recall@10", "recall@10"),
)


def tradeoff_png(result: dict[str, Any]) -> bytes:
    """Re-identification top-1 against retrieval recall@10, one line per defence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        by_defence: dict[str, list[dict[str, Any]]] = {}
        for row in result["rows"]:
            by_defence.setdefault(row["defence"], []).append(row)
        for defence, rows in by_defence.items():
            axes.plot(
                [r["recall@10"] for r in rows], [r["top1"] for r in rows], marker="o", label=defence
            )
        chance = result["rows"][0]["chance_top1"]
        axes.axhline(chance, color="grey", linestyle=":", label="chance")
        axes.axhline(2 * chance, color="red", linestyle="--", label="2x chance")
        axes.set_xlabel("utility: recall@10 of the defended vectors")
        axes.set_ylabel("attack: top-1 re-identification")
        axes.set_xlim(0, 1.02)
        axes.set_ylim(0, 1.02)
        axes.legend(fontsize=8, loc="lower right")
        axes.set_title(f"{result.get('modality', '')} probe set: defence trade-off")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def render_html(result: dict[str, Any], png: bytes) -> str:
    """The report as one HTML document."""
    esc = html.escape
    head = "".join(f"<th>{esc(title)}</th>" for _, title in COLUMNS)
    names = sorted({name for row in result["rows"] for name in row["attributes"]})
    head += "".join(f"<th>{esc(name)} AUC</th>" for name in names)
    body = []
    for row in result["rows"]:
        cells = "".join(f"<td>{_cell(row[key])}</td>" for key, _ in COLUMNS)
        cells += "".join(f"<td>{_cell(row['attributes'].get(name))}</td>" for name in names)
        body.append(
            f"<tr><td>{esc(row['defence'])}</td><td>{esc(row['level'])}</td>"
            f"<td>{esc(row['on'])}</td>{cells}</tr>"
        )
    averaging = "".join(
        f"<tr><td>{row['sigma']}</td><td>{esc(row['mode'])}</td><td>{row['repeats']}</td>"
        f"<td>{row['single_distance']:.2e}</td><td>{row['averaged_distance']:.2e}</td></tr>"
        for row in result["averaging"]
    )
    base = result["rows"][0]
    image = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Risk audit</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}
table{{border-collapse:collapse;font-size:90%}}td,th{{border:1px solid #bbb;padding:2px 6px}}
td{{text-align:right}}</style></head><body>
<h1>Re-identification risk audit</h1>
<p>{result["samples"]} {esc(str(result.get("modality", "")))} samples of
{result["identities"]} identities, dimension {result["dimension"]}; manifest SHA-256
<code>{esc(str(result.get("manifest_sha256", "-")))}</code>; audit trail entry
{esc(str(result.get("audit_seq", "-")))}. Chance top-1 {base["chance_top1"]:.3f},
top-5 {base["chance_top5"]:.3f}.</p>
<h2>Trade-off</h2>
<img alt="top-1 re-identification against recall@10 per defence"
 src="data:image/png;base64,{image}">
<h2>Every defence level</h2>
<p>top-1/top-5/EER/TAR/probe/attributes: an attacker holding some stored vectors with known
identities links the others. cross top-1: the attacker links stored vectors to clean vectors
he computes with the public model. recall@10: the defended vectors' neighbours against the
clean ones' (utility).</p>
<table><tr><th>defence</th><th>level</th><th>on</th>{head}</tr>
{"".join(body)}</table>
<h2>Averaging attack</h2>
<p>Cosine distance to the clean vector of one answer and of the mean of all answers.</p>
<table><tr><th>sigma</th><th>mode</th><th>queries</th><th>one answer</th><th>mean</th></tr>
{averaging}</table>
</body></html>
"""


def write_report(result: dict[str, Any], directory: Path) -> Path:
    """Write ``risk-report.html`` and ``risk-report.json`` into ``directory``; the HTML path."""
    directory.mkdir(parents=True, exist_ok=True)
    page = directory / "risk-report.html"
    page.write_text(render_html(result, tradeoff_png(result)), encoding="utf-8")
    (directory / "risk-report.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return page
