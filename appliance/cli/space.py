"""``space``: the deployment record of the active space, and activating a space."""

from __future__ import annotations

import json

import click

from appliance.cli.context import CliContext, pass_context


@click.group()
def space() -> None:
    """The active embedding space and its deployment record."""


def _policy_hash() -> str:
    from appliance.policy import PolicyEngine

    return PolicyEngine.load(None).policy_hash


@space.command("show")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def show(ctx: CliContext, as_json: bool) -> None:
    """Model and adapter hashes, provenance, DP budget, scores, policy hash, activation."""
    from appliance.align.record import deployment_record
    from appliance.models import ModelStore

    record = deployment_record(ModelStore(ctx.settings.models_dir), _policy_hash())
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"space {record['space']} (version {record['version']}, {record['dimension']} d)")
    for model in record["models"]:
        privacy = model.get("privacy") or {}
        budget = (
            f", DP epsilon {privacy['epsilon_spent']:.2f} delta {privacy['delta']:g}"
            if privacy.get("private")
            else ""
        )
        label = "" if model["semantic"] else " [NON-SEMANTIC]"
        click.echo(
            f"  {model['role']:<16} {model['name']:<20} {model['content_hash'][:16]}{label}{budget}"
        )
        backbone = model.get("backbone")
        if backbone:
            files = ", ".join(f"{n} sha256 {h}" for n, h in sorted(backbone["sha256"].items()))
            click.echo(f"    backbone {backbone['name']} ({backbone['package']}): {files}")
    for modality, slot in sorted(record["encoders"].items()):
        state = "semantic" if slot["semantic"] else "NON-SEMANTIC"
        origin = "trained" if slot["trained"] else "random weights"
        click.echo(f"  {modality:<6} slot: {state}, {origin}")
    baseline = record["alignment_baseline"]
    if baseline:
        for direction, figures in baseline.get("scores", {}).items():
            click.echo(
                f"  alignment {direction}: recall@1 {figures['recall@1']:.3f}, "
                f"MRR {figures['mrr']:.3f}"
            )
    else:
        click.echo("  alignment: no baseline (run `appliance align audit`)")
    click.echo(f"  policy {record['policy_hash'][:16]}")
    activation = record["activation"] or {}
    click.echo(f"  activated by {activation.get('by', '?')} at {activation.get('at', '?')}")


@space.command("activate")
@click.option("--modality", type=click.Choice(["image", "audio"]), default=None)
@click.option("--model", default=None, help="Stored model serving --modality.")
@click.option(
    "--adapter",
    default=None,
    help="Stored linear adapter over --model, or a trained tower that serves alone.",
)
@pass_context
def activate_command(
    ctx: CliContext, modality: str | None, model: str | None, adapter: str | None
) -> None:
    """Activate the space (optionally re-slotting one modality); audited with its record."""
    from appliance.align.record import (
        activate,
        deployment_record,
        operator_name,
        record_activation,
    )
    from appliance.domain.types import Actor
    from appliance.models import ModelStore

    app = ctx.appliance()  # the audit trail must be writable before anything changes
    store = ModelStore(ctx.settings.models_dir)
    previous = store.space()
    activated = activate(store, modality, model, adapter)
    try:
        record_activation(store, activated, operator_name())
        record = deployment_record(store, _policy_hash())
        app.audit.append(
            actor=Actor.operator(),
            action="space.activated",
            outcome="ok",
            details={
                "space": record["space"],
                "version": record["version"],
                "policy_hash": record["policy_hash"],
                "models": [f"{m['name']}:{m['content_hash']}" for m in record["models"]],
                "privacy": [
                    f"{m['name']}:epsilon={m['privacy']['epsilon_spent']},"
                    f"delta={m['privacy']['delta']}"
                    for m in record["models"]
                    if (m.get("privacy") or {}).get("private")
                ],
                "by": record["activation"]["by"],
            },
        )
    except BaseException:
        if previous is not None:  # an activation that is not on the record does not stand
            store.set_space(previous)
        raise
    click.echo(f"space {activated.name} active (version {activated.version})")
