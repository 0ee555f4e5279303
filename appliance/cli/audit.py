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
@pass_context
def verify(ctx: CliContext) -> None:
    """Exit 0 if the trail is intact; exit 1 naming the first bad entry."""
    from appliance.audit import verify_trail

    report = verify_trail(ctx.settings.data_dir / "audit", audit_public_key(ctx.settings))
    if report.ok:
        click.echo(
            f"audit trail intact: {report.entries} entries, {report.checkpoints} signed checkpoints"
        )
        return
    click.echo(f"audit trail BROKEN: {report.problem}", err=True)
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

    directory = ctx.settings.data_dir / "audit"
    if output is None:
        export_jsonl(directory, sys.stdout)
        return
    with output.open("w", encoding="utf-8") as handle:
        export_jsonl(directory, handle)
    click.echo(f"exported to {output}", err=True)
