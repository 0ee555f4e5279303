"""``align``: train adapters into the anchor space (optionally with DP), bridge two models,
and audit cross-modal retrieval (the result becomes the baseline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import CliContext, pass_context


@click.group()
def align() -> None:
    """On-premise alignment training and audits."""


def _store(ctx: CliContext) -> Any:
    from appliance.models import ModelStore

    return ModelStore(ctx.settings.models_dir)


def _config(**options: Any) -> Any:
    from appliance.align.trainer import TrainConfig

    return TrainConfig(**options)


_TRAIN_OPTIONS = [
    click.option("--kind", type=click.Choice(["linear", "mlp"]), default="mlp", show_default=True),
    click.option("--hidden", default=256, show_default=True, help="MLP width."),
    click.option("--epochs", default=30, show_default=True),
    click.option("--batch-size", default=64, show_default=True),
    click.option("--lr", default=2e-3, show_default=True),
    click.option("--temperature", default=0.05, show_default=True),
    click.option("--seed", default=0, show_default=True),
    click.option("--epsilon", type=float, default=None, help="DP-SGD target epsilon (off)."),
    click.option("--delta", type=float, default=None, help="DP delta (default below 1/n)."),
    click.option("--max-grad-norm", default=1.0, show_default=True, help="DP clipping norm."),
    click.option("--accountant", type=click.Choice(["rdp", "prv"]), default="rdp"),
]


def _train_options(func: Any) -> Any:
    for option in reversed(_TRAIN_OPTIONS):
        func = option(func)
    return func


@align.command("train")
@click.option(
    "--pairs", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True
)
@click.option("--modality", type=click.Choice(["audio", "image"]), required=True)
@click.option(
    "--features",
    default=None,
    help="logmel or speech-embedding (audio), pixels (image) or model:<dir>.",
)
@click.option("--name", required=True, help="Store name of the adapter.")
@_train_options
@click.option(
    "--vocabulary",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Public captions, one a line: the negatives of the private loss.",
)
@click.option("--init", "init", default=None, help="Fine-tune this stored adapter.")
@click.option(
    "--keep-alignment",
    default=0.0,
    show_default=True,
    help="Weight of the regulariser against drift from --init.",
)
@click.option("--held-out", default=0.1, show_default=True, help="Share of pairs audited.")
@click.option(
    "--anchor",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Anchor text model directory (default: the bundled MiniLM).",
)
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save every epoch here; resume from it when present.",
)
@click.option("--replace", is_flag=True, help="Overwrite an adapter of the same name.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def train_command(
    ctx: CliContext,
    pairs: Path,
    modality: str,
    features: str | None,
    name: str,
    vocabulary: Path | None,
    init: str | None,
    keep_alignment: float,
    held_out: float,
    anchor: Path | None,
    checkpoint: Path | None,
    replace: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Train an adapter from a JSON-lines manifest of text + file pairs into the store."""
    from appliance.align.pairs import read_pairs
    from appliance.align.pipeline import train_from_pairs

    config = _config(**options, keep_alignment=keep_alignment)
    words = None
    if vocabulary is not None:
        words = [w.strip() for w in vocabulary.read_text("utf-8").splitlines() if w.strip()]
    trained = train_from_pairs(
        _store(ctx),
        read_pairs(pairs),
        name=name,
        modality=modality,
        features=features or {"audio": "logmel", "image": "pixels"}[modality],
        config=config,
        anchor_dir=anchor,
        vocabulary=words,
        init=init,
        held_out=held_out,
        checkpoint=checkpoint,
        replace=replace,
        progress=not as_json,
    )
    record = {
        "adapter": trained.name,
        "content_hash": trained.content_hash,
        "provenance": trained.provenance,
    }
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    prov = trained.provenance
    click.echo(f"adapter {trained.name} stored ({trained.content_hash[:16]})")
    click.echo(f"  {prov['summary']}")
    for direction, figures in prov["audit"].items():
        if isinstance(figures, dict):
            click.echo(
                f"  {direction}: recall@1 {figures['recall@1']:.3f}, MRR {figures['mrr']:.3f}"
            )


@align.command("bridge")
@click.option(
    "--source",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="Model whose other tower should land in the target space.",
)
@click.option(
    "--target",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="Model whose text space is the destination.",
)
@click.option(
    "--modality",
    type=click.Choice(["audio", "image"]),
    required=True,
    help="The source's non-text tower the adapter will serve.",
)
@click.option(
    "--texts",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Training texts, one a line (default: a public word-list corpus).",
)
@click.option("--name", required=True)
@_train_options
@click.option("--replace", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@pass_context
def bridge_command(
    ctx: CliContext,
    source: Path,
    target: Path,
    modality: str,
    texts: Path | None,
    name: str,
    replace: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Bridge two models with text towers by training on text alone."""
    from appliance.align.bridge import train_bridge
    from appliance.align.pairs import fingerprint
    from appliance.align.publish import build_provenance, publish_adapter
    from appliance.encoders.tokenizer_files import corpus

    lines = (
        [t.strip() for t in texts.read_text("utf-8").splitlines() if t.strip()]
        if texts
        else corpus(400)
    )
    config = _config(**{**options, "kind": "linear"})
    bridged = train_bridge(source, target, lines, config, progress=not as_json)
    provenance = build_provenance(
        modality=modality,
        features=f"bridge: text of {source.name} -> text of {target.name}",
        anchor=str(target),
        fingerprint=fingerprint(lines, [b""] * len(lines)),
        pairs=len(set(lines)),
        texts=len(set(lines)),
        hyperparameters=config.to_json(),
        privacy=bridged.result.privacy(),
        training={"epochs": bridged.result.epochs, "seconds": round(bridged.result.seconds, 3)},
        audit={"on": "held-out texts", "before": bridged.before, "after": bridged.after},
    )
    content_hash = publish_adapter(
        _store(ctx),
        bridged.result.tower,
        name=name,
        from_model=source.name,
        modality=modality,
        provenance=provenance,
        replace=replace,
    )
    record = {"adapter": name, "content_hash": content_hash, "provenance": provenance}
    click.echo(
        json.dumps(record, indent=2)
        if as_json
        else f"adapter {name} stored: "
        f"held-out text recall@1 {bridged.before['text->bridged']['recall@1']:.3f} -> "
        f"{bridged.after['text->bridged']['recall@1']:.3f}"
    )


@align.command("audit")
@click.option(
    "--pairs", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True
)
@click.option("--modality", type=click.Choice(["audio", "image"]), required=True)
@click.option(
    "--adapter",
    default=None,
    help="A stored trained adapter (its features come from its provenance); "
    "default: the active space's encoders.",
)
@click.option("--no-baseline", is_flag=True, help="Report only; keep the stored baseline.")
@click.option(
    "--probe-pairs",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="A small manifest of NON-PHI pairs stored with the baseline (in clear) and "
    "re-embedded by the service at start-up to watch alignment drift.",
)
@click.option("--ranks", is_flag=True, help="Include every query's rank in --json output.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def audit_command(
    ctx: CliContext,
    pairs: Path,
    modality: str,
    adapter: str | None,
    no_baseline: bool,
    probe_pairs: Path | None,
    ranks: bool,
    as_json: bool,
) -> None:
    """Rank of the true match, recall@1/5/10 and MRR per direction on known pairs."""
    from appliance.align.audit import audit_vectors, headline
    from appliance.align.baseline import drift_section, merged
    from appliance.align.pairs import fingerprint, read_pairs
    from appliance.align.publish import read_baseline, save_baseline

    loaded = read_pairs(pairs)
    texts = [p.text for p in loaded]
    payloads = [p.payload for p in loaded]
    store = _store(ctx)

    def vectors(texts: list[str], payloads: list[bytes]) -> tuple[Any, Any, str]:
        if adapter is not None:
            return _adapter_vectors(store, adapter, modality, texts, payloads)
        return _space_vectors(ctx, store, modality, texts, payloads)

    items, text_vectors, subject = vectors(texts, payloads)
    report = audit_vectors(modality, items, text_vectors, [p.key for p in loaded])
    probes = read_pairs(probe_pairs) if probe_pairs is not None else None
    probe_vectors = (
        vectors([p.text for p in probes], [p.payload for p in probes]) if probes else None
    )
    stats, stored_probes = drift_section(
        modality,
        items,
        window=ctx.settings.drift.window,
        probes=probes,
        probe_vectors=probe_vectors[:2] if probe_vectors else None,
    )
    record: dict[str, Any] = {
        "subject": subject,
        "modality": modality,
        "pairs": len(loaded),
        "data_fingerprint_sha256": fingerprint(texts, payloads),
        "scores": headline(report),
    }
    if not no_baseline:
        kept = {**record, "drift": {modality: stats}}
        if stored_probes is not None:
            kept["probes"] = {modality: stored_probes}
        record["baseline"] = str(
            save_baseline(store, subject, merged(read_baseline(store, subject), kept))
        )
    if "probe_recall@1" in stats:
        record["probe_recall@1"] = stats["probe_recall@1"]
    if ranks:
        record["ranks"] = {d: r["ranks"] for d, r in report.items()}
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"alignment audit of {subject} on {len(loaded)} {modality} pairs")
    for direction, figures in record["scores"].items():
        click.echo(
            f"  {direction:<14} recall@1 {figures['recall@1']:.3f}  @5 {figures['recall@5']:.3f}"
            f"  @10 {figures['recall@10']:.3f}  MRR {figures['mrr']:.3f}"
        )


def _adapter_vectors(
    store: Any, adapter: str, modality: str, texts: list[str], payloads: list[bytes]
) -> tuple[Any, Any, str]:
    from appliance.align.features import anchor_texts, extractor
    from appliance.align.pipeline import embed_with
    from appliance.align.publish import load_published

    tower, provenance = load_published(store, adapter)
    features = extractor(str(provenance["features"]), modality)(payloads)
    anchor = provenance.get("anchor", "")
    anchor_dir = Path(anchor) if anchor and Path(anchor).is_dir() else None
    return embed_with(tower, features), anchor_texts(texts, anchor_dir), adapter


def _space_vectors(
    ctx: CliContext, store: Any, modality: str, texts: list[str], payloads: list[bytes]
) -> tuple[Any, Any, str]:
    import numpy as np

    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_space

    space = load_space(store, ctx.settings.encoders)

    def run(kind: str, inputs: list[Any]) -> Any:
        encoder = space.encoders[kind]  # type: ignore[index]
        return np.vstack(
            [encode_now(encoder, inputs[i : i + 32]) for i in range(0, len(inputs), 32)]
        )

    return run(modality, payloads), run("text", texts), space.name


@align.command("text-baseline")
@click.option(
    "--texts",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Texts like those the space will embed, one a line (e.g. de-identified notes).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_context
def text_baseline_command(ctx: CliContext, texts: Path, as_json: bool) -> None:
    """Store the text part of the space's drift baseline (aggregate statistics only)."""
    from appliance.align.baseline import text_section
    from appliance.align.publish import read_baseline, save_baseline
    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_space
    from appliance.errors import InvalidInputError

    lines = [line.strip() for line in texts.read_text("utf-8").splitlines() if line.strip()]
    minimum = ctx.settings.drift.min_samples
    if len(lines) < minimum:
        raise InvalidInputError(
            f"{len(lines)} texts: a baseline needs at least drift.min_samples ({minimum})",
            remedy="give more texts, one a line",
        )
    store = _store(ctx)
    space = load_space(store, ctx.settings.encoders)
    encoder = space.encoders["text"]  # type: ignore[index]
    import numpy as np

    vectors = np.vstack([encode_now(encoder, lines[i : i + 32]) for i in range(0, len(lines), 32)])
    stats = text_section(vectors, window=ctx.settings.drift.window)
    previous = read_baseline(store, space.name) or {"subject": space.name}
    saved = save_baseline(
        store, space.name, {**previous, "drift": {**previous.get("drift", {}), "text": stats}}
    )
    record = {
        "subject": space.name,
        "texts": len(lines),
        "concentration": stats["concentration"],
        "nn_similarity": stats["nn_similarity"],
        "baseline": str(saved),
    }
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(
        f"text drift baseline of {space.name} from {len(lines)} texts stored "
        f"(concentration {stats['concentration']:.3f}, "
        f"median nearest-neighbour cosine {stats['nn_similarity']['p50']:.3f})"
    )
