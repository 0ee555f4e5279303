"""``appliance models import|list|verify|make-test-pack``: the local model store."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from appliance.cli.context import CliContext, pass_context
from appliance.errors import ApplianceError
from appliance.models import ModelEntry, ModelStore

F = TypeVar("F", bound=Callable[..., Any])


def _errors(func: F) -> F:
    """Print an ``ApplianceError`` as message + remedy on stderr and exit with its status."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ApplianceError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.remedy:
                click.echo(f"remedy: {exc.remedy}", err=True)
            raise SystemExit(exc.exit_status) from exc

    return wrapper  # type: ignore[return-value]


def _store(ctx: CliContext) -> ModelStore:
    return ModelStore(ctx.settings.models_dir)


def _size(entry: ModelEntry) -> str:
    total = float(sum(f.size for f in entry.files))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if total < 1024 or unit == "GiB":
            return f"{total:.0f} {unit}" if unit == "B" else f"{total:.1f} {unit}"
        total /= 1024
    return f"{total:.1f} GiB"


@click.group("models")
def models() -> None:
    """Local model store: safetensors only, SHA-256 manifest, never remote code."""


@models.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Store a single model under this name (default: directory name).")
@click.option("--note", "provenance", default="", help="Provenance note recorded in the manifest.")
@click.option("--replace", is_flag=True, help="Overwrite models of the same name.")
@click.option(
    "--activate/--no-activate",
    default=None,
    help="Make the pack's space (or a lone multimodal model) active. Default: packs yes; "
    "a single model only when no space is active.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
@_errors
def import_(
    ctx: CliContext,
    path: Path,
    name: str | None,
    provenance: str,
    replace: bool,
    activate: bool | None,
    as_json: bool,
) -> None:
    """Import a model directory, a pack directory, or a tarball of either."""
    result = _store(ctx).import_path(
        path, name=name, provenance=provenance, replace_existing=replace, activate=activate
    )
    if as_json:
        payload = {
            "models": list(result.models),
            "pack": result.pack or None,
            "space": result.space.to_json() if result.space else None,
            "skipped": list(result.skipped),
        }
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    what = f"pack {result.pack!r}: " if result.pack else ""
    click.echo(f"imported {what}{', '.join(result.models)}")
    for line in result.skipped:
        click.echo(f"skipped {line}")
    if result.space is not None:
        label = "" if result.space.semantic else " (NON-SEMANTIC test models)"
        click.echo(f"active space {result.space.name} version {result.space.version}{label}")


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print models, space and readiness as JSON.")
@pass_context
@_errors
def list_(ctx: CliContext, as_json: bool) -> None:
    """List imported models and the active space."""
    store = _store(ctx)
    manifest = store.manifest()
    ready = store.ready()
    if as_json:
        payload = {
            "models": [manifest.models[n].to_json() for n in sorted(manifest.models)],
            "space": manifest.space.to_json() if manifest.space else None,
            "ready": {"ok": ready.ok, "reason": ready.reason},
        }
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    if not manifest.models:
        click.echo("no models imported")
    for name in sorted(manifest.models):
        entry = manifest.models[name]
        flags = "" if entry.semantic else " non-semantic"
        state = "ok" if entry.available else f"UNAVAILABLE: {entry.problem}"
        click.echo(
            f"{name:20} {entry.family:8} {'+'.join(entry.modalities) or '-':12} "
            f"dim={entry.dimension:<5} {_size(entry):>10}  {state}{flags}"
        )
    space = manifest.space
    if space is not None:
        slots = ", ".join(
            f"{m}={s.model}" + (f"+{s.adapter}" if s.adapter else "")
            for m, s in space.encoders.items()
        )
        click.echo(f"space {space.name} version {space.version} dim={space.dimension}: {slots}")
    click.echo(f"ready: {'yes' if ready.ok else 'no (' + ready.reason + ')'}")


@models.command("verify")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
@_errors
def verify(ctx: CliContext, names: tuple[str, ...], as_json: bool) -> None:
    """Re-hash every file; a changed model becomes unavailable (exit 1)."""
    report = _store(ctx).verify(names or None)
    if as_json:
        payload = {"ok": report.ok, "models": {c.name: list(c.problems) for c in report.checks}}
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        for check in report.checks:
            click.echo(f"{check.name}: {'ok' if check.ok else 'FAILED'}")
            for problem in check.problems:
                click.echo(f"  {problem}")
        if not report.checks:
            click.echo("no models imported")
    if not report.ok:
        click.echo("error: model verification failed; affected models are unavailable", err=True)
        click.echo("remedy: re-import them from a trusted copy", err=True)
        raise SystemExit(1)


@models.command("make-test-pack")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--size",
    type=click.Choice(["tiny", "real"]),
    default="tiny",
    show_default=True,
    help="tiny: seconds on a CPU; real: released architecture sizes (for benchmarks).",
)
@_errors
def make_test_pack(directory: Path, size: str) -> None:
    """Write a random-weight pack (CLIP, CLAP, BERT-style text), labelled non-semantic."""
    if directory.exists() and any(directory.iterdir()):
        raise click.UsageError(f"{directory} exists and is not empty")
    from appliance.encoders.testpack import write_test_pack

    write_test_pack(directory, size=size)  # type: ignore[arg-type]
    click.echo(f"wrote non-semantic test pack to {directory}")
    click.echo(f"import it with: appliance models import {directory}")
