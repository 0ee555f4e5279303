"""``serve`` (the intranet API) and ``quickstart`` (init + models + token + serve)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import CliContext, pass_context
from appliance.domain.types import Actor

INSECURE_HTTP_HELP = (
    "Allow plain HTTP on a non-loopback address (tokens and data cross the network "
    "unencrypted); without it such a --host needs server.tls_cert_file."
)


@click.command()
@click.option("--host", help="Listen address (default server.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Listen port (default server.port).")
@click.option("--policies", "policies_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--insecure-http", is_flag=True, help=INSECURE_HTTP_HELP)
@pass_context
def serve(
    ctx: CliContext,
    host: str | None,
    port: int | None,
    policies_dir: Path | None,
    insecure_http: bool,
) -> None:
    """Serve the intranet API until SIGTERM (drains, snapshots, audits the stop)."""
    from appliance.server import check_listener, run_server

    settings = ctx.settings
    listen = host or settings.server.host
    listen_port = port or settings.server.port
    check_listener(listen, settings.server, insecure_http=insecure_http)
    run_server(
        settings,
        host=listen,
        port=listen_port,
        policies_dir=policies_dir,
        on_ready=lambda state, url: click.echo(_banner(state, url), err=True),
        insecure_http=insecure_http,
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--insecure-http", is_flag=True, help=INSECURE_HTTP_HELP)
@click.option(
    "--speech-per-digit",
    type=click.IntRange(0, 2000),
    default=100,
    show_default=True,
    help="Spoken digit clips eSpeak NG synthesises per digit to train the audio tower on "
    "first start (0: keep the random audio tower). Needs the speech extra.",
)
@pass_context
def quickstart(
    ctx: CliContext, host: str, port: int, insecure_http: bool, speech_per_digit: int
) -> None:
    """Initialise, import a usable model set, print an admin token, serve (127.0.0.1)."""
    from appliance.cli.maintenance import warn_about_kek
    from appliance.models import ModelStore
    from appliance.server import check_listener, run_server
    from appliance.wiring import init_appliance, open_appliance

    settings = ctx.settings
    check_listener(host, settings.server, insecure_http=insecure_http)
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
        _train_starter_towers(app, store, speech_per_digit)
        token = app.tokens.create("admin", actor=Actor.operator(), label="quickstart")
    finally:
        app.close()

    def ready(state: Any, url: str) -> None:
        click.echo(_banner(state, url, token=token))

    run_server(settings, host=host, port=port, on_ready=ready, insecure_http=insecure_http)


def _train_starter_towers(app: Any, store: Any, speech_per_digit: int) -> None:
    """First start of the starter space: train its image tower on scikit-learn's digits and
    its audio tower on spoken digits eSpeak NG synthesises (when installed), activate them
    and audit the activation (an activation not on the record does not stand)."""
    from appliance.align.record import operator_name, record_activation
    from appliance.align.speech import espeak_available
    from appliance.encoders.starter import (
        DIGIT_TOWER,
        SPEECH_TOWER,
        speech_cache_dir,
        train_starter_towers,
    )

    previous = store.space()
    if previous is None or previous.name != "starter":
        return
    present = set(store.manifest().models)
    speech = speech_per_digit > 0 and SPEECH_TOWER not in present
    if speech and not espeak_available():
        click.echo(
            "the audio slot stays random (labelled non-semantic): speech synthesis needs "
            "eSpeak NG; pip install 'appliance[speech]' (GPL-3.0-or-later, run as a "
            "separate process; see docs/alignment.md) and start again",
            err=True,
        )
        speech = False
    if DIGIT_TOWER in present and not speech:
        return
    if DIGIT_TOWER not in present:
        click.echo("training the image tower on scikit-learn's digits (first start)...", err=True)
    if speech:
        click.echo(
            f"training the audio tower on {10 * speech_per_digit} spoken digits synthesised "
            "with eSpeak NG (first start)...",
            err=True,
        )
    space = train_starter_towers(
        store,
        progress=True,
        speech_per_digit=speech_per_digit if speech else 0,
        speech_cache=speech_cache_dir(store),
    )
    if space is None:
        return
    trained = [n for n in (DIGIT_TOWER, SPEECH_TOWER) if n in store.manifest().models]
    try:
        record_activation(store, space, operator_name())
        app.audit.append(
            actor=Actor.operator(),
            action="space.activated",
            outcome="ok",
            details={
                "space": space.name,
                "version": space.version,
                "models": [f"{n}:{store.get(n).content_hash}" for n in trained],
                "trained": "image slot on scikit-learn digits"
                + ("; audio slot on eSpeak NG spoken digits" if SPEECH_TOWER in trained else ""),
            },
        )
    except BaseException:
        store.set_space(previous)
        raise


def _banner(state: Any, url: str, *, token: str | None = None) -> str:
    """What the operator reads at start: the address really listened on (the bound
    socket's), the space and its models (non-semantic ones labelled), the quickstart token."""
    encoders = state.encoders
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
