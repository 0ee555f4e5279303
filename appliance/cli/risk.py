"""``appliance risk audit``: attack the active space's embeddings of an auditor's labelled
probe set, sweep the defences, print the table, and put a signed summary on the audit trail."""

from __future__ import annotations

import json
import sys
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
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write risk-report.html (self-contained, plot embedded) and .json here.",
)
@pass_context
def audit_command(ctx: CliContext, manifest: Path, as_json: bool, report_dir: Path | None) -> None:
    """Linkage, verification, identity and attribute probes, averaging; each defence level
    with its recall@10. Embeds in memory only; nothing decrypted is written to disk."""
    from tqdm import tqdm

    from appliance.domain.types import Actor
    from appliance.risk.audit import ProbeSet, run_audit, summary
    from appliance.risk.manifest import read_probe_manifest

    app = ctx.appliance()  # the audit trail must be writable before the audit runs
    probe_manifest = read_probe_manifest(manifest)
    bar = tqdm(total=len(probe_manifest.inputs), desc="embedding", unit="sample", file=sys.stderr)
    vectors = _embed(ctx, probe_manifest.modality, probe_manifest.inputs, bar.update)
    bar.close()
    probe = ProbeSet(
        vectors, probe_manifest.labels, probe_manifest.inputs, probe_manifest.attributes
    )
    with tqdm(desc="attacks", unit="step", file=sys.stderr) as steps:
        result = run_audit(
            probe, progress=lambda name: (steps.set_postfix_str(name), steps.update())
        )
    result["modality"] = probe_manifest.modality
    result["manifest_sha256"] = probe_manifest.fingerprint()
    details = {"modality": probe_manifest.modality, "manifest_sha256": result["manifest_sha256"]}
    details.update(summary(result))
    entry = app.audit.append(
        actor=Actor.operator(), action="risk.audited", outcome="ok", details=details
    )
    result["audit_seq"] = entry.seq
    if report_dir is not None:
        from appliance.risk.report import write_report

        click.echo(f"report written to {write_report(result, report_dir)}", err=True)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _print_table(result)


def _embed(ctx: CliContext, modality: str, inputs: list[Any], advance: Any) -> Any:
    import numpy as np

    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_space
    from appliance.models import ModelStore

    space = load_space(ModelStore(ctx.settings.models_dir), ctx.settings.encoders)
    encoder = space.encoders[modality]  # type: ignore[index]
    parts = []
    for start in range(0, len(inputs), 32):
        batch = inputs[start : start + 32]
        parts.append(encode_now(encoder, batch))
        advance(len(batch))
    return np.vstack(parts)


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
        f"{'TAR@.1%':>8}{'probe':>6}{'R@10':>6}  attributes (AUC)"
    )
    for row in result["rows"]:
        attributes = ", ".join(f"{k} {_figure(v).strip()}" for k, v in row["attributes"].items())
        click.echo(
            f"{row['defence']:<17}{row['level']:<26}{_figure(row['top1']):>6}"
            f"{_figure(row['top5']):>6}{_figure(row['cross_top1']):>7}{_figure(row['eer']):>6}"
            f"{_figure(row['tar_at_far_0.001']):>8}{_figure(row['probe_accuracy']):>6}"
            f"{_figure(row['recall@10']):>6}  {attributes}"
        )
    click.echo("averaging attack (cosine distance to the clean vector: one answer -> mean)")
    for row in result["averaging"]:
        click.echo(
            f"  sigma={row['sigma']:<5} {row['mode']:<21} {row['single_distance']:.2e} -> "
            f"{row['averaged_distance']:.2e} over {row['repeats']} queries"
        )
    click.echo(f"summary signed into the audit trail (seq {result['audit_seq']})")
