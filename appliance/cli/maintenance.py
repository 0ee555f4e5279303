"""``init``, ``status`` and ``subjects`` commands."""

from __future__ import annotations

import json

import click

from appliance.cli.context import CliContext, pass_context
from appliance.domain.types import Actor
from appliance.wiring import init_appliance


@click.command()
@pass_context
def init(ctx: CliContext) -> None:
    """Create the data dir (0700), keys, schema and audit genesis; safe to re-run."""
    report = init_appliance(ctx.settings)
    if report.created:
        click.echo(f"initialised {report.data_dir}: created {', '.join(report.created)}")
    else:
        click.echo(f"{report.data_dir} is already initialised; nothing overwritten")
    if report.migrations:
        click.echo(f"schema migrations applied: {', '.join(map(str, report.migrations))}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def status(ctx: CliContext, as_json: bool) -> None:
    """Summarise the appliance: keys, audit trail, collections."""
    from appliance.audit import verify_trail

    app = ctx.appliance()
    keys = app.keys.status()
    trail = verify_trail(app.settings.data_dir / "audit", app.signing_public_key)
    collections = [{"name": c.name, "dimension": c.dimension} for c in app.collections.list()]
    summary = {
        "data_dir": str(app.settings.data_dir),
        "kek": {"active": keys.active, "pending": keys.pending, "source": keys.source},
        "data_keys": keys.keys_by_kind,
        "audit": {"intact": trail.ok, "entries": trail.entries, "checkpoints": trail.checkpoints},
        "collections": collections,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"data dir      {summary['data_dir']}")
    click.echo(f"KEK           version {keys.active} ({keys.source})")
    click.echo(f"data keys     {sum(keys.keys_by_kind.values())} {keys.keys_by_kind}")
    state = "intact" if trail.ok else f"BROKEN: {trail.problem}"
    click.echo(f"audit trail   {trail.entries} entries, {trail.checkpoints} checkpoints, {state}")
    click.echo(f"collections   {len(collections)}")
    for c in collections:
        click.echo(f"  {c['name']} (dimension {c['dimension']})")


@click.group()
def subjects() -> None:
    """Data subjects."""


@subjects.command("delete")
@click.argument("subject_id")
@pass_context
def delete_subject(ctx: CliContext, subject_id: str) -> None:
    """Erase a subject everywhere by destroying their key (idempotent, audited)."""
    erased = ctx.appliance().erasure.erase_subject(subject_id, actor=Actor.operator())
    click.echo(json.dumps({"deleted": erased}))
