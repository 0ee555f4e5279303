"""``retention run``: erase items past their retention deadline (crypto-shredding)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from appliance.cli.context import CliContext, pass_context
from appliance.clock import isoformat
from appliance.domain.types import Actor
from appliance.errors import InvalidInputError


def parse_instant(text: str | None, what: str = "--now") -> datetime | None:
    """An ISO 8601 instant (``2029-01-01`` or ``2029-01-01T12:00:00Z``); naive means UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(
            f"{what}: {text!r} is not an ISO 8601 date or time",
            remedy="use e.g. 2029-01-01 or 2029-01-01T12:00:00Z",
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.group()
def retention() -> None:
    """Retention deadlines set by the policies."""


@retention.command("run")
@click.option("--now", "now_text", help="Treat this ISO 8601 time as now (default: the clock).")
@click.option("--dry-run", is_flag=True, help="Count the expired items, erase nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def run(ctx: CliContext, now_text: str | None, dry_run: bool, as_json: bool) -> None:
    """Erase every item whose retention deadline has passed (audited, idempotent)."""
    app = ctx.appliance()
    service = app.retention
    now = parse_instant(now_text) or app.clock.now()
    if dry_run:
        count = service.due(now)
        key = "due"
    else:
        count = service.run(now, actor=Actor.operator())
        key = "erased"
    if as_json:
        click.echo(json.dumps({key: count, "now": isoformat(now), "dry_run": dry_run}))
    elif dry_run:
        click.echo(f"{count} item(s) past their retention deadline at {isoformat(now)}")
    else:
        click.echo(f"erased {count} item(s) past their retention deadline at {isoformat(now)}")
