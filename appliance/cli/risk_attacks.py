"""``appliance risk inversion`` and ``appliance risk membership``: the text inversion attack on
the active space's text encoder and membership inference against adapters trained with the
appliance's trainer; each prints its table (or ``--json``) and puts the figures only on the
signed audit trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import CliContext, pass_context


def register(group: click.Group) -> None:
    """Add both commands to the ``risk`` group."""
    group.add_command(inversion_command)
    group.add_command(membership_command)


def _text_embedder(ctx: CliContext) -> Any:
    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_space
    from appliance.models import ModelStore

    space = load_space(ModelStore(ctx.settings.models_dir), ctx.settings.encoders)
    encoder = space.encoders["text"]  # type: ignore[index]

    def embed(texts: list[str], advance: Any) -> Any:
        import numpy as np

        parts = []
        for start in range(0, len(texts), 32):
            parts.append(encode_now(encoder, texts[start : start + 32]))
            advance(len(texts[start : start + 32]))
        return np.vstack(parts).astype(np.float32)

    return embed


POLICIES = click.option(
    "--policies",
    "policies_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Policy directory whose [[risk_limits]] are judged (default: the one in force).",
)
REPORT = click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write risk-report.html (self-contained, plots embedded), .json and the plot.",
)


def _limits(policies_dir: Path | None) -> tuple[Any, str]:
    from appliance.policy import PolicyEngine

    engine = PolicyEngine.load(policies_dir)
    return engine.policy.risk_limits, engine.policy_hash


def _record(
    ctx: CliContext,
    action: str,
    details: dict[str, Any],
    result: dict[str, Any],
    policy_hash: str,
) -> None:
    """The attack's figures-only entry, then one ``risk.verdict`` per measured verdict and
    the gate's verdict file, exactly as ``risk audit`` records them."""
    from appliance.cli.risk_run import record_verdicts
    from appliance.domain.types import Actor

    app = ctx.appliance()
    actor = Actor.operator()
    verdicts = result["verdicts"]
    details = {**details, "policy_hash": policy_hash}
    details["verdicts"] = [f"{v['limit']}={v['outcome']}" for v in verdicts]
    entry = app.audit.append(actor=actor, action=action, outcome="ok", details=details)
    result["audit_seq"] = int(entry.seq)
    result["policy_hash"] = policy_hash
    record_verdicts(app, ctx, actor, result, verdicts, policy_hash)


def _print_verdicts(result: dict[str, Any]) -> None:
    for v in result["verdicts"]:
        click.echo(
            f"{v['limit']}: {v['outcome'].upper()} ({v['metric']} {v['value']} "
            f"{'>' if v['passed'] is False else '<='} {v['max']} "
            f"with {v['defence']}; undefended {v['baseline']}; block {v['block']})"
        )
    click.echo(f"summary signed into the audit trail (seq {result['audit_seq']})")


def _conclude(
    report_dir: Path | None,
    title: str,
    header: str,
    result: dict[str, Any],
    sections: Any,
    as_json: bool,
) -> None:
    """Write the report when asked; print the result as JSON when asked (the caller prints
    its table and the verdicts otherwise)."""
    if report_dir is not None:
        from appliance.risk.report import write_attack_report

        explanation = (
            "Each limit of the site policy this attack measures, judged with the defence it "
            "requires (docs/risk-audit.md). A failed limit with block on_fail refuses "
            "ingestion of its categories until a run passes it; never only reports."
        )
        page = write_attack_report(report_dir, title, header, result, explanation, sections)
        click.echo(f"report written to {page}", err=True)
    if as_json:
        click.echo(json.dumps(result, indent=2))


def _deployed_epsilon(ctx: CliContext, modality: str) -> float | None:
    """The DP target epsilon of the active space's adapter (or tower) for ``modality``;
    None when it is not DP-trained or none is active."""
    from appliance.align.record import deployment_record
    from appliance.errors import NotFoundError
    from appliance.models import ModelStore

    try:
        record = deployment_record(ModelStore(ctx.settings.models_dir), "")
    except NotFoundError:
        return None
    for model in record["models"]:
        privacy = model.get("privacy") or {}
        if model["role"] in (f"{modality} adapter", f"{modality} tower") and privacy.get("private"):
            return float(privacy["epsilon_target"])
    return None


@click.command("inversion")
@click.option("--public", default=1000, show_default=True, help="Fabricated training notes.")
@click.option("--notes", default=150, show_default=True, help="Synthetic canary notes attacked.")
@click.option("--epochs", default=12, show_default=True, help="Decoder training epochs.")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--scifact",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="BEIR SciFact folder: also price every level by exact nDCG@10 of its test claims "
    "over its abstracts (read in place; the policy's min_utility_kept is judged on it).",
)
@click.option(
    "--ndcg-cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Cache of the clean SciFact vectors (default ~/.cache/appliance/bench; vectors "
    "and hashes only, keyed on the space's model hashes and the corpus).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@POLICIES
@REPORT
@pass_context
def inversion_command(
    ctx: CliContext,
    public: int,
    notes: int,
    epochs: int,
    seed: int,
    scifact: Path | None,
    ndcg_cache: Path | None,
    as_json: bool,
    policies_dir: Path | None,
    report_dir: Path | None,
) -> None:
    """Train a bag-of-tokens decoder on fabricated public notes (about the people on the
    canaries' roster), embedded by the active text encoder, and measure token F1 and
    canary name / MRN recovery from synthetic notes under every text defence level (the
    redact_before_encode rows re-embed the notes as the real detector redacts them); judge
    the policy's canary_recovery limits, recorded for the ingest gate. ``--scifact``: each
    level's SciFact nDCG@10 too (``risk.scifact_utility``)."""
    from tqdm import tqdm

    from appliance.bench.risk_report import print_inversion
    from appliance.risk import inversion_sweep
    from appliance.risk.attack_report import inversion_sections
    from appliance.risk.inversion import train_decoder
    from appliance.risk.notes import canary_notes, public_text, roster
    from appliance.risk.policy import judge_inversion, required_redactions, required_sigmas
    from appliance.risk.redaction import redaction_rows

    ctx.appliance()  # the audit trail must be writable before the attack runs
    limits, policy_hash = _limits(policies_dir)
    canaries = canary_notes(notes, seed=seed)
    train_texts = public_text(public, seed=seed + 1, candidates=roster(canaries))
    utility_texts = public_text(max(notes, 24), seed=seed + 2)
    texts = train_texts + [n.text for n in canaries] + utility_texts
    embed = _text_embedder(ctx)
    with tqdm(total=len(texts), desc="embedding", unit="text", file=sys.stderr) as bar:
        vectors = embed(texts, bar.update)
    train_v = vectors[: len(train_texts)]
    note_v = vectors[len(train_texts) : len(train_texts) + notes]
    utility_v = vectors[len(train_texts) + notes :]
    with tqdm(total=epochs, desc="decoder", unit="epoch", file=sys.stderr) as bar:
        decoder = train_decoder(train_v, train_texts, epochs=epochs, seed=seed, progress=bar.update)
    rewrites = redaction_rows(required_redactions(limits), ctx.settings.encoders)
    with tqdm(desc="defences", unit="level", file=sys.stderr) as steps:
        rows = inversion_sweep.sweep(
            decoder,
            (train_v, train_texts),
            (note_v, canaries),
            (utility_v, utility_texts),
            progress=lambda name: (steps.set_postfix_str(name), steps.update()),
            extra_sigmas=required_sigmas(limits, "text"),
            rewrites=rewrites,
            embed=lambda batch: embed(list(batch), lambda _: None),
        )
    params = {"public_texts": public, "canary_notes": notes, "epochs": epochs, "seed": seed}
    result: dict[str, Any] = {"params": params, "rows": rows}
    if scifact is not None:
        result["scifact_ndcg"] = _scifact_ndcg(
            ctx,
            scifact,
            ndcg_cache,
            rows,
            train_v,
            required_sigmas(limits, "text"),
            embed,
            rewrites,
        )
    result["verdicts"] = judge_inversion(rows, [lim for lim in limits if lim.modality == "text"])
    details = {**params, "rows": inversion_sweep.summary(rows)}
    if scifact is not None:
        from appliance.risk.scifact_utility import summary

        details["scifact_ndcg"] = summary(result["scifact_ndcg"])
    _record(ctx, "risk.inversion_audited", details, result, policy_hash)
    header = (
        f"{notes} synthetic canary notes attacked; decoder trained {epochs} epochs on "
        f"{public} fabricated public notes; policy {policy_hash[:16]}; audit trail entry "
        f"{result['audit_seq']}."
    )
    sections = inversion_sections(rows, result["verdicts"])
    _conclude(report_dir, "Text inversion risk audit", header, result, sections, as_json)
    if not as_json:
        print_inversion(rows, click.echo)
        _print_verdicts(result)


def _scifact_ndcg(
    ctx: CliContext,
    scifact: Path,
    cache: Path | None,
    rows: list[dict[str, Any]],
    public_vectors: Any,
    sigmas: list[float],
    embed: Any,
    rewrites: Any = (),
) -> dict[str, Any]:
    """Every level of the sweep priced by SciFact nDCG@10 with the active space's text
    encoder (cached under its models' hashes), joined to ``rows``."""
    from tqdm import tqdm

    from appliance.models import ModelStore
    from appliance.risk import scifact_utility

    space_version = ModelStore(ctx.settings.models_dir).space_version()  # its models' hashes
    with tqdm(desc="SciFact nDCG@10", unit="step", file=sys.stderr) as bar:
        return scifact_utility.price_sweep(
            scifact,
            rows,
            public_vectors,
            lambda texts: embed(texts, lambda _n: None),
            space_version,
            extra_sigmas=sigmas,
            rewrites=rewrites,
            cache_dir=cache,
            progress=lambda step: (bar.set_postfix_str(step[:40]), bar.update()),
        )


@click.command("membership")
@click.option(
    "--pairs",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Alignment pairs (align train's manifest): half trains the target, half shadows.",
)
@click.option("--modality", type=click.Choice(["audio", "image"]), required=True)
@click.option(
    "--features",
    default=None,
    help="logmel | speech-embedding | pixels | model:<dir> (by modality).",
)
@click.option("--epsilon", "epsilons", type=float, multiple=True, default=(8.0, 1.0))
@click.option("--epochs", default=30, show_default=True)
@click.option("--shadows", default=2, show_default=True, help="Shadow adapters per setting.")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--anchor",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Anchor text model directory (default: MiniLM, as align train).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@POLICIES
@REPORT
@pass_context
def membership_command(
    ctx: CliContext,
    pairs: Path,
    modality: str,
    features: str | None,
    epsilons: tuple[float, ...],
    epochs: int,
    shadows: int,
    seed: int,
    anchor: Path | None,
    as_json: bool,
    policies_dir: Path | None,
    report_dir: Path | None,
) -> None:
    """Loss-threshold and shadow-model membership inference against adapters trained by the
    appliance's trainer on the pairs, without DP and at each --epsilon, next to the bound
    the epsilon spent allows; the policy's membership_auc limits of --modality are judged
    on the row trained like the deployed adapter (its DP epsilon, or no DP)."""
    import numpy as np
    from tqdm import tqdm

    from appliance.align.features import anchor_texts, extractor
    from appliance.align.pairs import fingerprint, read_pairs
    from appliance.align.trainer import TrainConfig
    from appliance.bench.risk_report import print_membership
    from appliance.risk.attack_report import membership_sections
    from appliance.risk.membership import PairSet, membership_attack
    from appliance.risk.policy import judge_membership

    ctx.appliance()
    limits, policy_hash = _limits(policies_dir)
    deployed = _deployed_epsilon(ctx, modality)
    if deployed is not None and deployed not in epsilons:
        epsilons = (*epsilons, deployed)
    loaded = read_pairs(pairs)
    vocabulary = sorted({p.text for p in loaded})
    name = features or ("logmel" if modality == "audio" else "pixels")
    x = extractor(name, modality)([p.payload for p in loaded])
    labels = np.array([vocabulary.index(p.text) for p in loaded])
    pool = PairSet(x.astype(np.float32), labels, anchor_texts(vocabulary, anchor))
    order = np.random.default_rng(seed).permutation(len(labels))
    target, shadow = pool.take(order[: len(order) // 2]), pool.take(order[len(order) // 2 :])
    settings: list[float | None] = [None, *epsilons]
    rows = []
    with tqdm(total=len(settings), desc="membership", unit="setting", file=sys.stderr) as bar:
        for epsilon in settings:
            private = epsilon is not None
            config = TrainConfig(
                epochs=epochs,
                batch_size=128 if private else 64,
                seed=seed,
                epsilon=epsilon,
                delta=min(1e-5, 1 / (10 * len(target.labels))) if private else None,
            )
            bar.set_postfix_str(f"epsilon {epsilon}")
            rows.append(membership_attack(target, shadow, config, shadows=shadows, seed=seed))
            bar.update()
    params = {
        "modality": modality,
        "features": name,
        "pairs": len(loaded),
        "pairs_sha256": fingerprint([p.text for p in loaded], [p.payload for p in loaded]),
        "epochs": epochs,
        "shadows": shadows,
    }
    result: dict[str, Any] = {"params": params, "rows": rows, "deployed_epsilon": deployed}
    result["manifest_sha256"] = params["pairs_sha256"]
    result["verdicts"] = judge_membership(rows, limits, modality, deployed)
    lines = [
        f"epsilon {r['epsilon_target']}: loss AUC {r['loss_threshold']['auc']:.3f} shadow AUC "
        f"{r['shadow']['auc']:.3f} bound AUC {r['bound']['auc']:.3f}"
        for r in rows
    ]
    details = {**params, "deployed_epsilon": deployed, "rows": lines}
    _record(ctx, "risk.membership_audited", details, result, policy_hash)
    header = (
        f"{len(loaded)} {modality} pairs ({name} features, SHA-256 "
        f"{params['pairs_sha256'][:16]}...); deployed adapter's DP epsilon: "
        f"{'none' if deployed is None else f'{deployed:g}'}; policy {policy_hash[:16]}; "
        f"audit trail entry {result['audit_seq']}."
    )
    sections = membership_sections(rows, result["verdicts"])
    _conclude(report_dir, "Membership inference risk audit", header, result, sections, as_json)
    if not as_json:
        print_membership(rows, click.echo)
        _print_verdicts(result)
