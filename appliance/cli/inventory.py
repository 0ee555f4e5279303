"""``inventory DIR``: the modality inventory a deployment starts from (nothing stored)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from appliance.cli.context import CliContext, pass_context
from appliance.errors import ApplianceError
from appliance.policy.vocabulary import PURPOSES, SETTINGS, SUBJECT_ROLES

PROGRESS_MIN_FILES = 50


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--role", type=click.Choice(SUBJECT_ROLES), default="patient", show_default=True)
@click.option("--purpose", type=click.Choice(PURPOSES), default="treatment", show_default=True)
@click.option("--setting", type=click.Choice(SETTINGS), default="health_care", show_default=True)
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Policy directory (default /etc/appliance/policies, else the checkout's policies/).",
)
@pass_context
def inventory(
    ctx: CliContext,
    directory: Path,
    as_json: bool,
    role: str,
    purpose: str,
    setting: str,
    policies_dir: Path | None,
) -> None:
    """Summarise a corpus folder: modalities, formats, sizes, and what the detectors find."""
    from tqdm import tqdm

    from appliance.policy.classify import classify
    from appliance.policy.decisions import RequestContext
    from appliance.policy.engine import PolicyEngine
    from appliance.policy.inventory import Inventory, corpus_files, render_table

    engine = PolicyEngine.load(policies_dir)
    context = RequestContext(role, purpose, setting)
    files = corpus_files(directory)
    tally = Inventory(engine, directory)
    with tqdm(
        total=len(files),
        file=sys.stderr,
        unit="file",
        desc="inventory",
        disable=len(files) < PROGRESS_MIN_FILES,
    ) as progress:
        for path in files:
            try:
                tally.add(
                    classify(
                        path.read_bytes(),
                        engine=engine,
                        context=context,
                        encoder_settings=ctx.settings.encoders,
                        suffix=path.suffix,
                    )
                )
            except OSError as exc:
                tally.skip(path, "unreadable", exc.strerror or type(exc).__name__)
            except ApplianceError as exc:
                tally.skip(path, exc.code, exc.message)
            progress.update(1)
    result = tally.to_dict({"role": role, "purpose": purpose, "setting": setting})
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        for line in render_table(result):
            click.echo(line)
