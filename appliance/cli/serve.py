"""``serve`` (the intranet API) and ``quickstart`` (init + models + token + serve)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import CliContext, pass_context
from appliance.domain.types import Actor


@click.command()
@click.option("--host", help="Listen address (default server.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Listen port (default server.port).")
@click.option("--policies", "policies_dir", type=click.Path(path_type=Path, file_okay=False))
@pass_context
def serve(ctx: CliContext, host: str | None, port: int | None, policies_dir: Path | None) -> None:
    """Serve the intranet API until SIGTERM (drains, snapshots, audits the stop)."""
    from appliance.server import run_server

    settings = ctx.settings
    run_server(
        settings,
        host=host or settings.server.host,
        port=port or settings.server.port,
        policies_dir=policies_dir,
        on_ready=lambda state: click.echo(_banner(state, settings.server.host, port), err=True),
    )


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@pass_context
def quickstart(ctx: CliContext, port: int) -> None:
    """Initialise, import a usable model set, print an admin token, serve on 127.0.0.1."""
    from appliance.cli.maintenance import warn_about_kek
    from appliance.models import ModelStore
    from appliance.server import run_server
    from appliance.wiring import init_appliance, open_appliance

    settings = ctx.settings
    warn_about_kek(init_appliance(settings))
    store = ModelStore(settings.models_dir)
    if store.space() is None:
        click.echo("importing the starter model set (real MiniLM text encoder)...", err=True)
        from appliance.encoders.starter import write_starter_pack

        scratch = Path(tempfile.mkdtemp(prefix="starter-", dir=settings.data_dir))
        try:
            store.import_path(write_starter_pack(scratch / "pack"))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    app = open_appliance(settings)
    try:
        token = app.tokens.create("admin", actor=Actor.operator(), label="quickstart")
    finally:
        app.close()

    def ready(state: Any) -> None:
        click.echo(_banner(state, "127.0.0.1", port, token=token))

    run_server(settings, host="127.0.0.1", port=port, on_ready=ready)


def _banner(state: Any, host: str, port: int | None, *, token: str | None = None) -> str:
    encoders = state.encoders
    url = f"http://{host}:{port or 8080}"
    lines = [
        "",
        f"appliance is serving on {url}",
        f"space {encoders.space_name} ({encoders.space_version}), {encoders.dimension} dims",
    ]
    for model in encoders.models:
        label = "" if model["semantic"] else "  [NON-SEMANTIC: random weights, for smoke tests]"
        lines.append(f"  model {model['id']} ({', '.join(model['modalities'])}){label}")
    if token:
        lines += [
            "",
            f"admin token (shown once): {token}",
            "",
            "try:",
            f"  curl -s {url}/v1/embeddings -H 'Authorization: Bearer {token}' "
            "-H 'Content-Type: application/json' "
            f"""-d '{{"model": "{encoders.space_name}", "input": "chest pain on exertion"}}'""",
            "",
        ]
    return "\n".join(lines)
