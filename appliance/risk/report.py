"""The self-contained risk report: one HTML file (no scripts, no CDN, no external links;
the trade-off plot embedded as a base64 PNG) and the JSON next to it."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Mapping, Sequence
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


def by_defence(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The sweep's rows grouped by defence, in order (one plotted line each)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row["defence"]), []).append(row)
    return groups


def render_png(draw: Callable[[Any], None]) -> bytes:
    """A 7 x 4.5 in figure drawn by ``draw(axes)``, as PNG bytes (headless backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        draw(axes)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def tradeoff_png(result: dict[str, Any]) -> bytes:
    """Re-identification top-1 against retrieval recall@10, one line per defence."""

    def draw(axes: Any) -> None:
        for defence, rows in by_defence(result["rows"]).items():
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

    return render_png(draw)


def category_png(result: dict[str, Any], verdict: dict[str, Any]) -> bytes:
    """One category's trade-off: re-identification (stronger attacker, x chance) against
    the utility kept, one line per defence, the limit and the utility goal marked."""
    from appliance.risk.policy import reidentification

    def draw(axes: Any) -> None:
        utility_key = "utility_kept" if "utility_kept" in result["rows"][0] else "recall@10"
        for defence, rows in by_defence(result["rows"]).items():
            axes.plot(
                [r[utility_key] for r in rows],
                [reidentification(r, verdict.get("attacker", "any")) for r in rows],
                marker="o",
                label=defence,
            )
        axes.axhline(1.0, color="grey", linestyle=":", label="chance")
        axes.axhline(verdict["max"], color="red", linestyle="--", label=f"limit {verdict['max']}x")
        if verdict.get("min_utility_kept") is not None:
            axes.axvline(
                verdict["min_utility_kept"], color="green", linestyle="--", label="utility goal"
            )
        if verdict.get("value") is not None and verdict.get("utility_kept") is not None:
            axes.plot(
                [verdict["utility_kept"]],
                [verdict["value"]],
                marker="*",
                markersize=16,
                color="black",
                linestyle="none",
                label=f"policy: {verdict['defence']}",
            )
        direction = result.get("utility", {}).get("direction", "neighbour")
        axes.set_xlabel(f"utility: share of undefended {direction} recall@10 kept")
        axes.set_ylabel("attack: top-1 re-identification / chance")
        axes.set_xlim(0, 1.05)
        axes.set_ylim(
            0, max(2.2 * verdict["max"], 1.05 * max(reidentification(r) for r in result["rows"]))
        )
        axes.legend(fontsize=7, loc="upper left")
        axes.set_title(f"{verdict['limit']}: {verdict['title']}", fontsize=9)

    return render_png(draw)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _verdict_section(
    result: dict[str, Any], pngs: Mapping[str, bytes], explanation: str | None = None
) -> str:
    """The policy verdict table, the chosen defence and its cost, a plot per category
    (``explanation``: the paragraph under the heading, escaped; default: re-identification)."""
    esc = html.escape
    verdicts = result.get("verdicts") or []
    if not verdicts:
        return ""
    rows = []
    for v in verdicts:
        outcome = str(v.get("outcome", "-")).upper()
        colour = {"PASS": "#cfc", "FAIL": "#fcc"}.get(outcome, "#eee")
        utility = "-" if v["utility_passed"] is None else "PASS" if v["utility_passed"] else "FAIL"
        rows.append(
            f"<tr><td>{_breakable(v['limit'])}</td><td>{esc(', '.join(v['categories']))}</td>"
            f"<td>{_breakable(v['metric'])}</td><td>{_cell(v['baseline'])}</td>"
            f"<td>{_cell(v['value'])}</td><td>{_cell(v['max'])}</td>"
            f'<td>{_breakable(v["defence"])}</td><td style="background:{colour}">{outcome}</td>'
            f"<td>{_cell(v['utility_kept'])}</td><td>{_cell(v['min_utility_kept'])}</td>"
            f"<td>{utility}</td><td>{esc(v['block'])}</td>"
            f"<td>{esc(str(v.get('attacker', 'any')))}</td></tr>"
        )
    parts = [
        "<h2>Policy verdicts</h2>",
        f"<p>{esc(explanation)}</p>"
        if explanation is not None
        else "<p>Each limit of the site policy, measured with the defence it requires. "
        "Re-identification is top-1 divided by chance, of the stronger linkage attacker "
        "(attacker <code>any</code>) or of the one holding only stored vectors "
        "(<code>stored</code>); "
        "utility kept is the share of the undefended "
        f"{esc(str(result.get('utility', {}).get('direction', 'utility')))} recall@10 the "
        "defended vectors keep. A failed limit with block <code>on_fail</code> refuses "
        "ingestion of its categories until an audit passes.</p>",
        "<table><tr><th>limit</th><th>categories</th><th>metric</th><th>no defence</th>"
        "<th>with defence</th><th>max</th><th>defence</th><th>verdict</th>"
        "<th>utility kept</th><th>goal</th><th>utility</th><th>block</th><th>attacker</th></tr>",
        *rows,
        "</table>",
    ]
    for v in verdicts:
        choices = (result.get("choices") or {}).get(v["limit"])
        if not choices:
            continue
        both = [c for c in choices if c["meets_both"]]
        goal = (
            f"re-identification at most {v['max']}x chance while "
            f"{esc(str(result.get('utility', {}).get('direction', 'utility')))} recall@10 "
            f"keeps at least {_cell(v['min_utility_kept'])} of its undefended value"
        )
        met = v["passed"] and v["utility_passed"] is not False
        cost = "-" if v["utility_kept"] is None else f"{1 - v['utility_kept']:.3f}"
        parts.append(f"<h3>{esc(v['limit'])}: chosen defence and its cost</h3>")
        parts.append(
            f"<p>Policy defence <code>{esc(v['defence'])}</code>: re-identification "
            f"{_cell(v['value'])}x chance (undefended {_cell(v['baseline'])}x), utility "
            f"kept {_cell(v['utility_kept'])} (cost {cost}).</p>"
        )
        parts.append(
            f"<table><tr><th>goal</th><th>result</th></tr><tr><td>{goal}</td>"
            f"<td>{'PASS' if met else 'FAIL'}</td></tr></table>"
        )
        listed = "".join(
            f"<tr><td>{esc(c['defence'])}</td><td>{esc(c['level'])}</td>"
            f"<td>{_cell(c['risk'])}</td><td>{_cell(c['utility_kept'])}</td>"
            f"<td>{_cell(c.get('utility_mrr'))}</td>"
            f"<td>{'yes' if c['meets_both'] else 'no'}</td></tr>"
            for c in choices
        )
        parts.append(
            "<p>Servable levels (keyed noise) measured: "
            f"{len(both)} meet both the limit and the utility goal.</p>"
            "<table><tr><th>defence</th><th>level</th><th>x chance</th><th>utility kept</th>"
            "<th>MRR</th>"
            f"<th>meets both</th></tr>{listed}</table>"
        )
        if v["limit"] in pngs:
            parts.append(_img(pngs[v["limit"]], f"trade-off for {v['limit']}"))
    return "\n".join(parts)


def _extra_section(section: Mapping[str, Any]) -> str:
    """A section another attack contributes: ``title``, optional ``text`` (paragraphs),
    ``table`` (a list of flat dicts) and ``png`` (bytes); all escaped, nothing fetched."""
    esc = html.escape
    parts = [f"<h2>{esc(str(section.get('title', 'More results')))}</h2>"]
    text = section.get("text")
    for paragraph in [text] if isinstance(text, str) else list(text or []):
        parts.append(f"<p>{esc(str(paragraph))}</p>")
    table = list(section.get("table") or [])
    if table:
        columns = list(dict.fromkeys(k for row in table for k in row))
        parts.append("<table><tr>" + "".join(f"<th>{esc(str(c))}</th>" for c in columns) + "</tr>")
        for row in table:
            cells = "".join(f"<td>{esc(_cell(row.get(c)))}</td>" for c in columns)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    if section.get("png"):
        parts.append(_img(section["png"], str(section.get("title", "plot"))))
    return "\n".join(parts)


STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:80em}"
    "table{border-collapse:collapse;font-size:90%;margin-bottom:1em;max-width:100%}"
    "td,th{border:1px solid #bbb;padding:2px 6px}td{text-align:right}"
)
"""The page's only style (no script, nothing fetched)."""


def _breakable(identifier: str) -> str:
    """An identifier escaped, with break opportunities after ``_ . ( ,`` so a wide table
    (the verdicts) wraps its long names instead of running off the page."""
    escaped = html.escape(identifier)
    for mark in ("_", ".", "(", ","):
        escaped = escaped.replace(mark, mark + "<wbr>")
    return escaped


def render_html(
    result: dict[str, Any],
    png: bytes,
    extra_sections: Sequence[Mapping[str, Any]] = (),
    category_pngs: Mapping[str, bytes] | None = None,
) -> str:
    """The report as one HTML document: the overall trade-off plot ``png``, the policy
    verdicts (with ``category_pngs``, limit id -> plot), every defence level, averaging,
    then ``extra_sections`` (e.g. inversion and membership results; see ``_extra_section``)."""
    esc = html.escape
    head = "".join(f"<th>{esc(title)}</th>" for _, title in COLUMNS)
    names = sorted({name for row in result["rows"] for name in row["attributes"]})
    head += "".join(f"<th>{esc(name)} AUC</th>" for name in names)
    directions = sorted({d for row in result["rows"] for d in row.get("utility", {})})
    head += "".join(f"<th>{esc(d)} R@10</th>" for d in directions)
    head += "<th>utility kept</th>" if directions else ""
    body = []
    for row in result["rows"]:
        cells = "".join(f"<td>{_cell(row[key])}</td>" for key, _ in COLUMNS)
        cells += "".join(f"<td>{_cell(row['attributes'].get(name))}</td>" for name in names)
        cells += "".join(f"<td>{_cell(row.get('utility', {}).get(d))}</td>" for d in directions)
        cells += f"<td>{_cell(row.get('utility_kept'))}</td>" if directions else ""
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
    utility = result.get("utility")
    utility_note = (
        f" Utility: {utility['pairs']} {esc(utility['direction'])} alignment pairs."
        if utility
        else ""
    )
    verdicts = _verdict_section(result, category_pngs or {})
    extras = "\n".join(_extra_section(section) for section in extra_sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Risk audit</title>
<style>{STYLE}</style></head><body>
<h1>Re-identification risk audit</h1>
<p>{result["samples"]} {esc(str(result.get("modality", "")))} samples of
{result["identities"]} identities, dimension {result["dimension"]}; manifest SHA-256
<code>{esc(str(result.get("manifest_sha256", "-")))}</code>; policy
<code>{esc(str(result.get("policy_hash", "-"))[:16])}</code>; audit trail entry
{esc(str(result.get("audit_seq", "-")))}. Chance top-1 {base["chance_top1"]:.3f},
top-5 {base["chance_top5"]:.3f}.{utility_note}</p>
{verdicts}
<h2>Trade-off</h2>
{_img(png, "top-1 re-identification against recall@10 per defence")}
<h2>Every defence level</h2>
<p>top-1/top-5/EER/TAR/probe/attributes: an attacker holding some stored vectors with known
identities links the others. cross top-1: the attacker links stored vectors to clean vectors
he computes with the public model. recall@10: the defended vectors' neighbours against the
clean ones'. text-&gt;modality R@10: the alignment audit's retrieval with the defence on the
stored side; utility kept: its share of the undefended value.</p>
<table><tr><th>defence</th><th>level</th><th>on</th>{head}</tr>
{"".join(body)}</table>
<h2>Averaging attack</h2>
<p>Cosine distance to the clean vector of one answer and of the mean of all answers.</p>
<table><tr><th>sigma</th><th>mode</th><th>queries</th><th>one answer</th><th>mean</th></tr>
{averaging}</table>
{extras}
</body></html>
"""


def write_report(
    result: dict[str, Any],
    directory: Path,
    extra_sections: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Write ``risk-report.html``, ``risk-report.json`` and one ``tradeoff-<limit>.png`` per
    judged re-identification limit into ``directory``; returns the HTML path."""
    directory.mkdir(parents=True, exist_ok=True)
    page = directory / "risk-report.html"
    pngs = {
        v["limit"]: category_png(result, v)
        for v in result.get("verdicts") or []
        if v["metric"] == "reidentification_top1_over_chance" and v["value"] is not None
    }
    for limit, png in pngs.items():
        (directory / f"tradeoff-{limit}.png").write_bytes(png)
    page.write_text(
        render_html(result, tradeoff_png(result), extra_sections, pngs), encoding="utf-8"
    )
    (directory / "risk-report.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return page


def render_attack_html(
    title: str,
    header: str,
    result: dict[str, Any],
    explanation: str,
    extra_sections: Sequence[Mapping[str, Any]],
) -> str:
    """The report of an attack other than the re-identification sweep (inversion,
    membership): the header paragraph, the policy verdicts, then ``extra_sections``; the
    same self-contained page (no script, nothing fetched)."""
    esc = html.escape
    extras = "\n".join(_extra_section(section) for section in extra_sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{esc(title)}</h1>
<p>{esc(header)}</p>
{_verdict_section(result, {}, explanation)}
{extras}
</body></html>
"""


def write_attack_report(
    directory: Path,
    title: str,
    header: str,
    result: dict[str, Any],
    explanation: str,
    extra_sections: Sequence[Mapping[str, Any]],
) -> Path:
    """Write ``risk-report.html`` (``render_attack_html``), ``risk-report.json`` and each
    section's plot as ``<name>.png`` into ``directory``; returns the HTML path."""
    directory.mkdir(parents=True, exist_ok=True)
    page = directory / "risk-report.html"
    for section in extra_sections:
        if section.get("png") and section.get("name"):
            (directory / f"{section['name']}.png").write_bytes(section["png"])
    page.write_text(
        render_attack_html(title, header, result, explanation, extra_sections), encoding="utf-8"
    )
    (directory / "risk-report.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return page
