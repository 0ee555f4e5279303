"""`appliance bench retrieval` on a slice of SciFact: the HTTP/HNSW path compared with exact
search on the same stored vectors and the claims as the search path embeds them."""

from __future__ import annotations

import json
from pathlib import Path

from appliance.bench.retrieval import load_scifact, run_retrieval_benchmark
from tests.conftest import shared_data_dir

NAMED_DOC = "d-named"
NAMED_CLAIM = "q-named"


def _slice(source: Path, target: Path, claims: int = 4, others: int = 8) -> None:
    """A SciFact-format folder: ``claims`` test claims, their judged abstracts, ``others``
    unjudged ones, plus one abstract and one claim naming a person (redacted before the
    encoder by the shipped policy)."""
    corpus, queries, qrels = load_scifact(source)
    chosen = sorted(queries)[:claims]
    judged = sorted({d for q in chosen for d in qrels[q]})
    extra = [d for d in corpus if d not in judged][:others]
    (target / "qrels").mkdir(parents=True)
    rows = [f"{q}\t{d}\t{g}" for q in chosen for d, g in qrels[q].items()]
    rows.append(f"{NAMED_CLAIM}\t{NAMED_DOC}\t1")
    (target / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n", "utf-8"
    )
    docs = [{"_id": d, "title": "", "text": corpus[d]} for d in judged + extra]
    docs.append(
        {
            "_id": NAMED_DOC,
            "title": "Case report",
            "text": "Dr. Margaret Holloway treated a patient with refractory migraine using "
            "occipital nerve blocks; headache days fell by half within a month.",
        }
    )
    (target / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), "utf-8")
    claims_rows = [{"_id": q, "text": queries[q]} for q in chosen]
    claims_rows.append(
        {"_id": NAMED_CLAIM, "text": "Dr. Margaret Holloway's nerve blocks reduce migraine days."}
    )
    (target / "queries.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in claims_rows), "utf-8"
    )


def test_http_path_equals_exact_search_on_stored_vectors_and_policy_cost_is_separate(
    tmp_path: Path,
) -> None:
    """Over HTTP the HNSW path scores what exact search scores on the stored vectors with the
    claims embedded as search embeds them; the named abstract and claim are counted as
    rewritten by the policy, and its cost is reported apart from the index's."""
    data = tmp_path / "scifact"
    _slice(shared_data_dir("scifact"), data)
    report = run_retrieval_benchmark(data, batch=16, workdir=tmp_path / "work")
    ndcg, deltas = report["ndcg@10"], report["deltas"]
    assert abs(deltas["http_vs_exact_stored_vectors"]) < 1e-9
    assert report["params"]["queries_rewritten_by_policy"] == 1
    assert report["policy"]["outcomes"]["stored_redacted"] >= 1
    assert "hipaa.names" in report["policy"]["redacted_categories"]
    assert ndcg["exact_raw_text"] > 0.5  # the real MiniLM finds judged abstracts
    policy_cost = deltas["policy_cost (exact stored - exact raw, subset)"]
    assert policy_cost == ndcg["subset_exact_stored_vectors"] - ndcg["subset_exact_raw_text"]
    assert report["goals"]["HNSW path within 0.005 of exact"]
