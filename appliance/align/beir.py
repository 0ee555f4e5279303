"""A BEIR retrieval set (SciFact's layout) read in place, and how it is scored: exact top-10
search and nDCG@10. Shared by ``bench retrieval``, ``bench runtimes`` and the risk audit's
text utility (``risk.scifact_utility``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def load_scifact(root: Path) -> tuple[dict, dict, dict]:
    """(corpus id -> text, test query id -> text, query id -> {doc id: grade})."""
    qrels: dict[str, dict[str, int]] = {}
    for line in (root / "qrels" / "test.tsv").read_text("utf-8").splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    corpus = {}
    for line in (root / "corpus.jsonl").read_text("utf-8").splitlines():
        doc = json.loads(line)
        corpus[str(doc["_id"])] = (doc.get("title", "") + " " + doc.get("text", "")).strip()
    queries = {}
    for line in (root / "queries.jsonl").read_text("utf-8").splitlines():
        query = json.loads(line)
        if str(query["_id"]) in qrels:
            queries[str(query["_id"])] = query["text"]
    return corpus, queries, qrels


def ndcg_at_10(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 over the judged queries (BEIR's definition, linear gains)."""
    scores = []
    for qid, judged in qrels.items():
        ranked = run.get(qid, [])[:10]
        dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked))
        ideal = sorted(judged.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        scores.append(dcg / idcg if idcg else 0.0)
    return float(np.mean(scores))


def exact_top10(
    qv: np.ndarray, dv: np.ndarray, qids: list[str], dids: list[str]
) -> dict[str, list[str]]:
    """Each query's ten best documents by dot product (brute force)."""
    scores = qv @ dv.T
    top = np.argsort(-scores, axis=1)[:, :10]
    return {q: [dids[j] for j in top[i]] for i, q in enumerate(qids)}
