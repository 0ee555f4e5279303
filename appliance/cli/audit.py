"""``audit verify`` and ``audit export``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from appliance.cli.context import CliContext, pass_context
from appliance.wiring import audit_public_key


@click.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command()
@click.option(
    "--witness",
    type=click.Path(path_type=Path, exists=True),
    help="Hold the trail to this witness: the file or directory of audit.witness_path (the "
    "default when set), or a journal export (journalctl -u appliance -o cat).",
)
@pass_context
def verify(ctx: CliContext, witness: Path | None) -> None:
    """Exit 0 if the trail is intact; exit 1 naming the first bad entry. The outcome is
    recorded in the data dir: a serving appliance is not ready while the last one failed."""
    from appliance.audit import verify_trail
    from appliance.wiring import audit_trail_store, audit_witness, record_audit_verification

    settings = ctx.settings
    with audit_trail_store(settings) as store:
        report = verify_trail(
            settings.data_dir / "audit",
            audit_public_key(settings),
            checkpoint_every=settings.audit.checkpoint_every,
            witness=witness or audit_witness(settings),
            store=store,
        )
    record_audit_verification(
        settings, ok=report.ok, reason="" if report.ok else str(report.problem or "")
    )
    if report.ok:
        witnessed = (
            " (no witness: a trail cut together with its checkpoints goes unseen; "
            "set audit.witness_path or pass --witness)"
            if report.witnessed_entries is None
            else f", {report.witnessed_entries} entries under a witnessed checkpoint"
        )
        click.echo(
            f"audit trail intact: {report.entries} entries, "
            f"{report.checkpoints} signed checkpoints{witnessed}"
        )
        return
    more = len(report.problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    click.echo(f"audit trail BROKEN: {report.problem}{suffix}", err=True)
    sys.exit(1)


@audit.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of standard output.",
)
@pass_context
def export(ctx: CliContext, output: Path | None) -> None:
    """Write the audit entries as JSON lines."""
    from appliance.audit import export_jsonl
    from appliance.wiring import audit_trail_store

    directory = ctx.settings.data_dir / "audit"
    with audit_trail_store(ctx.settings) as store:
        if output is None:
            export_jsonl(directory, sys.stdout, store)
            return
        with output.open("w", encoding="utf-8") as handle:
            export_jsonl(directory, handle, store)
    click.echo(f"exported to {output}", err=True)
