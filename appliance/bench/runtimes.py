"""``appliance bench runtimes``: the ONNX Runtime forward pass gives torch's vectors.

The real all-MiniLM-L6-v2 is loaded twice, on torch and on ONNX Runtime (graph exported
locally into a scratch directory), and both embed SciFact's test claims and abstracts
(every abstract judged relevant first, then the others, up to ``--limit``; all by
default). Reported: the per-vector cosine between the two (minimum and mean; the goal
is >= 0.9999 for every vector), nDCG@10 of exact search with each (``bench retrieval``'s
exact path and metric; the goal is a difference within 0.002), and the encoding
throughput of each, measured in alternating chunks.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from appliance.align.beir import exact_top10, load_scifact, ndcg_at_10
from appliance.bench.retrieval import _subset

GOAL_COSINE = 0.9999
GOAL_NDCG_DELTA = 0.002


def run_runtime_check(
    data: Path,
    *,
    limit: int | None = None,
    batch: int = 32,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Embed SciFact with torch and with ONNX Runtime; cosines, nDCG@10 and throughput."""
    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_encoder
    from appliance.encoders.text_onnx import cosines
    from appliance.encoders.tokenizer_files import minilm_dir
    from appliance.settings import EncoderSettings

    corpus, queries, qrels = load_scifact(Path(data))
    dids = _subset(corpus, qrels, limit)
    qids = list(queries)
    texts = [queries[q] for q in qids] + [corpus[d] for d in dids]
    with tempfile.TemporaryDirectory(prefix="bench-runtimes-") as scratch:
        encoders = {
            name: load_encoder(
                minilm_dir(),
                settings=EncoderSettings(device="cpu", text_runtime=name),  # type: ignore[arg-type]
                derived_dir=Path(scratch),
            )
            for name in ("torch", "onnx")
        }
        vectors = {name: np.zeros((len(texts), 384), np.float32) for name in encoders}
        seconds = dict.fromkeys(encoders, 0.0)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for number, start in enumerate(range(0, len(order), batch)):
            chunk = order[start : start + batch]
            names = list(encoders) if number % 2 == 0 else list(encoders)[::-1]
            for name in names:
                began = time.perf_counter()
                vectors[name][chunk] = encode_now(encoders[name], [texts[i] for i in chunk])
                seconds[name] += time.perf_counter() - began
            progress(f"{min(start + batch, len(texts))}/{len(texts)} texts")
    similarity = cosines(vectors["torch"], vectors["onnx"])
    ndcg = {
        name: ndcg_at_10(exact_top10(v[: len(qids)], v[len(qids) :], qids, dids), qrels)
        for name, v in vectors.items()
    }
    delta = ndcg["onnx"] - ndcg["torch"]
    return {
        "params": {"claims": len(qids), "abstracts": len(dids), "batch": batch},
        "cosine": {"min": float(similarity.min()), "mean": float(similarity.mean())},
        "ndcg@10": ndcg,
        "ndcg_delta": delta,
        "texts_per_s": {n: round(len(texts) / s, 1) for n, s in seconds.items()},
        "speedup": round(seconds["torch"] / seconds["onnx"], 3),
        "goals": {
            f"cosine>={GOAL_COSINE}": bool(similarity.min() >= GOAL_COSINE),
            f"|ndcg_delta|<={GOAL_NDCG_DELTA}": abs(delta) <= GOAL_NDCG_DELTA,
        },
    }


@click.command("runtimes")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("../shared/data/scifact"), show_default=True, help="SciFact dir.")  # fmt: skip
@click.option("--limit", type=click.IntRange(1), default=None,
    help="Abstracts embedded (judged ones first; default: all).")  # fmt: skip
@click.option("--batch", default=32, show_default=True, type=click.IntRange(1))
def runtimes_command(data: Path, limit: int | None, batch: int) -> None:
    """ONNX Runtime vs torch for MiniLM: per-vector cosine, SciFact nDCG@10, throughput."""
    report = run_runtime_check(
        data, limit=limit, batch=batch, progress=lambda m: click.echo(f"... {m}", err=True)
    )
    click.echo(json.dumps(report, indent=2))
