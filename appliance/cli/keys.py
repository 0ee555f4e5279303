"""``keys rotate`` and ``keys status``."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from appliance.cli.context import CliContext, pass_context
from appliance.domain.types import Actor
from appliance.wiring import open_appliance


@click.group()
def keys() -> None:
    """The key encryption key and the data keys it wraps."""


@keys.command()
@pass_context
def rotate(ctx: CliContext) -> None:
    """New KEK version; every data key rewrapped (resumes an interrupted rotation)."""
    app = open_appliance(ctx.settings, exclusive=True)
    try:
        report = app.keys.rotate(actor=Actor.operator())
    finally:
        app.close()
    verb = "resumed and finished" if report.resumed else "rotated"
    click.echo(
        f"{verb}: KEK version {report.from_version} -> {report.to_version}, "
        f"{report.rewrapped} data keys rewrapped"
    )


@keys.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def status(ctx: CliContext, as_json: bool) -> None:
    """KEK versions and how many data keys each protects."""
    report = ctx.appliance().keys.status()
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
        return
    click.echo(f"KEK file      {report.source}")
    click.echo(f"active        {report.active}")
    click.echo(f"pending       {report.pending if report.pending is not None else '-'}")
    click.echo(f"versions      {', '.join(map(str, report.versions))}")
    for version, count in sorted(report.keys_by_kek_version.items()):
        click.echo(f"  v{version}: {count} data keys")
    for kind, count in sorted(report.keys_by_kind.items()):
        click.echo(f"  {kind}: {count}")
    click.echo(
        f"KEK shreds    {report.shreds_pending} pending, {report.shreds_overdue} overdue"
        + (f" (next due {report.next_shred_due})" if report.next_shred_due else "")
    )
    if report.kek_inside_data_dir:
        click.echo("warning       the KEK is inside the data dir (development default)")


@keys.command()
@click.option("--force", is_flag=True, help="Shred for every pending erasure, due or not.")
@pass_context
def shred(ctx: CliContext, force: bool) -> None:
    """Run due KEK shreds (rotate, retire old versions); exit 1 if one is due but blocked."""
    from appliance.errors import KeyUnavailableError

    app = ctx.appliance()
    report = app.keys.shred_due(actor=Actor.operator(), force=force)
    if report is not None:
        click.echo(
            f"shredded: KEK version {report.rotation.from_version} -> "
            f"{report.rotation.to_version}, {report.requests_done} erasure(s) covered, "
            f"retired versions {', '.join(map(str, report.retired_versions)) or '-'}"
        )
        return
    status = app.keys.status()
    blocked = status.shreds_overdue or (force and status.shreds_pending)
    if blocked and not app.kek_location.writable:
        raise KeyUnavailableError(
            f"{status.shreds_pending} KEK shred(s) pending but the KEK is a read-only credential",
            remedy="rotate a copy (appliance keys rotate) and re-encrypt it with systemd-creds",
        )
    click.echo(
        f"nothing due ({status.shreds_pending} pending"
        + (f", next due {status.next_shred_due})" if status.next_shred_due else ")")
    )
