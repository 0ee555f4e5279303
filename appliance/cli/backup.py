"""``backup`` and ``restore``: an encrypted archive of the data dir that holds no key."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from appliance.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from appliance.wiring import Appliance


@click.command()
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Archive to write (refused if it exists); a directory's name gets a dated file.",
)
@click.option(
    "--include-models",
    is_flag=True,
    help="Put the model files in too (default: only the manifest; re-import the models).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def backup(ctx: CliContext, output: Path, include_models: bool, as_json: bool) -> None:
    """Encrypted, authenticated archive of the data dir; the KEK never goes in."""
    from appliance.clock import SystemClock
    from appliance.services.backup import create_backup

    if output.is_dir():
        stamp = SystemClock().now().strftime("%Y%m%dT%H%M%SZ")
        output = output / f"appliance-{stamp}.backup"
    report = create_backup(ctx.appliance(), output, include_models=include_models)
    if as_json:
        click.echo(json.dumps({**asdict(report), "path": str(report.path)}))
        return
    click.echo(
        f"wrote {report.path}: {report.bytes} bytes, {report.files} files "
        f"({report.snapshots} index snapshots), sha256 {report.sha256}, "
        f"KEK version {report.kek_version}"
    )
    if report.snapshots_skipped:
        click.echo(f"{report.snapshots_skipped} index snapshot(s) left out; rebuilt on restore")
    if not include_models:
        click.echo("models: manifest only; re-import them with `appliance models import`")


@click.command()
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--kek-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The KEK kept apart from the backup, when the configured place has none yet.",
)
@pass_context
def restore(ctx: CliContext, archive: Path, kek_file: Path | None) -> None:
    """Restore ARCHIVE into a fresh (absent or empty) data dir."""
    from appliance.services.backup import restore_backup
    from appliance.wiring import init_appliance, open_appliance

    def open_restored() -> Appliance:
        init_appliance(ctx.settings)  # pending migrations, as for `init`
        return open_appliance(ctx.settings)

    report = restore_backup(ctx.settings, archive, kek_file=kek_file, open_restored=open_restored)
    click.echo(
        f"restored {report.files} files into {report.data_dir} (KEK version {report.kek_version})"
    )
    if report.kek_placed is not None:
        click.echo(f"KEK written to {report.kek_placed}")
    click.echo("next: `appliance audit verify`, `appliance models verify`")
