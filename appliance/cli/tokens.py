"""``tokens create|list|revoke``: API bearer tokens."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from appliance.cli.context import CliContext, pass_context
from appliance.domain.roles import Role
from appliance.domain.types import Actor


@click.group()
def tokens() -> None:
    """API bearer tokens (stored hashed; the secret is shown once)."""


@tokens.command()
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--label", default="", help="A note saying who or what holds it.")
@click.option("--expires-in-days", type=click.IntRange(min=1), help="Expiry; default never.")
@pass_context
def create(ctx: CliContext, role: str, label: str, expires_in_days: int | None) -> None:
    """Print a new token, and nothing else, on standard output."""
    ttl = timedelta(days=expires_in_days) if expires_in_days else None
    token = ctx.appliance().tokens.create(role, actor=Actor.operator(), label=label, ttl=ttl)
    click.echo(token)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def list_tokens(ctx: CliContext, as_json: bool) -> None:
    """Every token's id, role, label and state (never the secret)."""
    rows = ctx.appliance().tokens.list()
    records = [
        {
            "id": t.id,
            "role": t.role,
            "label": t.label,
            "created_at": t.created_at.isoformat(),
            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            "revoked": t.revoked_at is not None,
        }
        for t in rows
    ]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for r in records:
        state = "revoked" if r["revoked"] else f"expires {r['expires_at'] or 'never'}"
        click.echo(f"{r['id']}  {r['role']:<8} {state:<36} {r['label']}")


@tokens.command()
@click.argument("token_id")
@pass_context
def revoke(ctx: CliContext, token_id: str) -> None:
    """Revoke a token by id, at once."""
    ctx.appliance().tokens.revoke(token_id, actor=Actor.operator())
    click.echo(f"revoked {token_id}")
