"""``appliance bench retrieval``: nDCG@10 on BEIR SciFact through the appliance's real path.

1. The real path: the starter pack imported, abstracts ingested over HTTP into an encrypted
   collection (detection, policy, de-identification, sealing, the HNSW index), the 300 test
   claims searched over HTTP with the litestar app.
2. Exact search on the very vectors the real path stored (read back from the collection's
   index), so HNSW and policy costs are told apart; redactions and refusals are counted with
   their reasons.
3. Exact (brute-force cosine) nDCG@10 on MiniLM vectors of all the raw abstracts
   (``title + " " + text``, 256 tokens), the figure MTEB publishes (0.645). An abstract
   stored unchanged was embedded from its raw text by the same engine into an f32 index,
   so its stored vector is its raw-text vector; only abstracts the policy changed or
   refused (and any not ingested) are encoded again, and a sample of unchanged ones is
   re-encoded to check the equivalence (``raw_vector_check``). ``--http-limit`` ingests
   only part of the corpus (every judged abstract first) when the whole would take too
   long on a small CPU; the subset figures are then compared with exact search on the
   same subset.

The corpus is read from ``--data`` (never copied); everything else lives in a scratch dir.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from appliance.align.beir import exact_top10, load_scifact, ndcg_at_10

PUBLISHED_MINILM_NDCG10 = 0.645
CONTEXT = {"subject_role": "patient", "purpose": "treatment"}


def _subset(corpus: dict, qrels: dict, limit: int | None) -> list[str]:
    """Every document judged relevant to a test claim first, then the rest, up to ``limit``."""
    relevant = {d for q in qrels.values() for d in q}
    ordered = [d for d in corpus if d in relevant] + [d for d in corpus if d not in relevant]
    return ordered if limit is None else ordered[:limit]


def _served_queries(screening: Any, texts: list[str]) -> list[str]:
    """Each claim as the search path would embed it (screened under ``CONTEXT`` with no
    consents; an input defence may have rewritten it); a refused claim stays as written."""
    from appliance.domain.types import Modality
    from appliance.policy.decisions import ConsentState, RequestContext

    context = RequestContext.from_mapping(CONTEXT, modality=Modality.TEXT)
    served = []
    for text in texts:
        admission = screening.screen(Modality.TEXT, text, context, ConsentState.none()).admission
        payload = admission.payload if admission.allowed else None
        served.append(payload if isinstance(payload, str) else text)
    return served


def run_retrieval_benchmark(
    data: Path,
    *,
    http_limit: int | None = None,
    batch: int = 64,
    workdir: Path | None = None,
    partial: Path | None = None,
    check_sample: int = 64,
    request_deadline_s: float = 1800.0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Exact search over the whole corpus; the HTTP path over the first ``http_limit``
    documents (all of them by default); redaction tally. ``partial``: rewrite the report
    there after each phase."""
    import httpx

    from appliance.bench.served import prepared_appliance, serve_in_thread
    from appliance.domain.types import Modality
    from appliance.store import repository

    corpus, queries, qrels = load_scifact(Path(data))
    dids, qids = list(corpus), list(queries)
    root = Path(workdir or tempfile.mkdtemp(prefix="bench-retrieval-"))
    # a benchmark of quality, not latency: a batch may take long on a small, shared CPU
    slow_cpu = {"APPLIANCE_LIMITS__REQUEST_DEADLINE_S": str(request_deadline_s)}
    app, state, token = prepared_appliance(root, "starter", progress, environ=slow_cpu)
    engine = state.encoders.engine(Modality.TEXT)
    report: dict[str, Any] = {
        "params": {"documents": len(dids), "queries": len(qids), "batch": batch},
        "ndcg@10": {"published_minilm": PUBLISHED_MINILM_NDCG10},
        "timings": {},
    }

    def save() -> None:
        if partial is not None:
            partial.write_text(json.dumps(report, indent=2), "utf-8")

    def encode(texts: list[str], what: str) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        out = np.zeros((len(texts), state.encoders.dimension), np.float32)  # type: ignore[union-attr]
        for i in range(0, len(order), batch):
            chunk = order[i : i + batch]
            out[chunk] = engine.encode_items([texts[j] for j in chunk]).vectors
            progress(f"{what}: {min(i + batch, len(texts))}/{len(texts)}")
        return out

    started = time.perf_counter()
    query_vectors = encode([queries[q] for q in qids], "encoding claims")
    report["timings"]["encode_claims_s"] = time.perf_counter() - started
    # the claims as the search path embeds them: screened under the search's context, so
    # an input defence (redact_before_encode) rewrites some before the encoder
    served_texts = _served_queries(state.screening, [queries[q] for q in qids])
    rewritten = [i for i, q in enumerate(qids) if served_texts[i] != queries[q]]
    served_query_vectors = query_vectors.copy()
    if rewritten:
        served_query_vectors[rewritten] = encode(
            [served_texts[i] for i in rewritten], "encoding claims as the search path does"
        )
    report["params"]["queries_rewritten_by_policy"] = len(rewritten)
    subset = _subset(corpus, qrels, http_limit)
    sub_qrels = {q: {d: g for d, g in r.items() if d in set(subset)} for q, r in qrels.items()}
    sub_qrels = {q: r for q, r in sub_qrels.items() if r}
    sub_qids = [q for q in qids if q in sub_qrels]
    sub_queries = query_vectors[[qids.index(q) for q in sub_qids]]
    sub_served_queries = served_query_vectors[[qids.index(q) for q in sub_qids]]
    report["params"].update({"http_documents": len(subset), "http_queries": len(sub_qids)})
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    unchanged: set[str] = set()  # stored with their text as given (no de-identification)
    server, url = serve_in_thread(state)
    try:
        client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600
        )
        client.post("/v1/collections", json={"name": "scifact"}).raise_for_status()
        started = time.perf_counter()
        for i in range(0, len(subset), batch):
            chunk = subset[i : i + batch]
            items = [
                {
                    "id": d,
                    "subject_id": f"doc-{d}",
                    "modality": "text",
                    "data": corpus[d],
                    "context": CONTEXT,
                }
                for d in chunk
            ]
            reply = client.post("/v1/collections/scifact/items", json={"items": items})
            reply.raise_for_status()
            for d, outcome in zip(chunk, reply.json()["items"], strict=True):
                kind = outcome["status"]
                notes = outcome.get("notes") or {}
                if kind == "stored" and (
                    notes.get("deidentified") or notes.get("redacted_before_encode")
                ):
                    kind = "stored_redacted"
                    categories.update((outcome.get("decision") or {}).get("categories", []))
                elif kind == "stored":
                    unchanged.add(d)
                statuses[kind] += 1
                if outcome.get("error"):
                    reasons[outcome["error"]["message"][:120]] += 1
            progress(f"ingest over HTTP: {min(i + batch, len(subset))}/{len(subset)}")
        report["timings"]["http_ingest_s"] = time.perf_counter() - started
        started = time.perf_counter()
        run: dict[str, list[str]] = {}
        for qid in sub_qids:
            reply = client.post(
                "/v1/collections/scifact/search",
                json={
                    "query": {"modality": "text", "data": queries[qid]},
                    "k": 10,
                    "context": CONTEXT,
                },
            )
            reply.raise_for_status()
            run[qid] = [str(hit["id"]) for hit in reply.json()["results"]]
        report["timings"]["http_search_s"] = time.perf_counter() - started
        client.close()
        collection = app.collections.get("scifact")
        index = app.indexes.get(collection, state.encoders.space_version)
        keys = index.keys()
        stored = index.vectors_for(keys)
        with app.database.read() as connection:
            rows = repository.live_items_by_row_ids(
                connection, collection.id, keys.tolist(), app.clock.now()
            )
        # the store keeps keyed references to client ids; map them back to abstract ids
        abstract_of = {app.items.stored_id("scifact", d): d for d in subset}
        stored_ids = [abstract_of[rows[int(k)].item_id] for k in keys]
        # Raw-text vectors: an abstract stored unchanged was embedded from its raw text by
        # this very engine, so its stored vector is its raw vector (f32 index); only the
        # abstracts the policy changed or refused, and those never ingested, are encoded
        # again. A sample of unchanged ones is re-encoded to check the equivalence.
        stored_row = {d: i for i, d in enumerate(stored_ids)}
        started = time.perf_counter()
        fresh = [d for d in dids if d not in unchanged or d not in stored_row]
        check = sorted(unchanged & set(stored_row))[:check_sample]
        encoded = encode([corpus[d] for d in fresh + check], "encoding changed/other abstracts")
        report["timings"]["encode_raw_s"] = time.perf_counter() - started
        fresh_row = {d: i for i, d in enumerate(fresh)}
        raw = np.vstack(
            [encoded[fresh_row[d]] if d in fresh_row else stored[stored_row[d]] for d in dids]
        )
        if check:
            again = encoded[len(fresh) :]
            kept = stored[[stored_row[d] for d in check]]
            report["raw_vector_check"] = {
                "reencoded": len(check),
                "max_abs_difference": float(np.abs(again - kept).max()),
                "min_cosine": float(
                    (
                        (again * kept).sum(1)
                        / np.linalg.norm(again, axis=1)
                        / np.linalg.norm(kept, axis=1)
                    ).min()
                ),
            }
        report["params"].update(
            {"raw_vectors_from_store": len(dids) - len(fresh), "raw_vectors_encoded": len(fresh)}
        )
    finally:
        server.should_exit = True
        state.encoders.close()  # type: ignore[attr-defined]
        app.close()
    exact_raw = ndcg_at_10(exact_top10(query_vectors, raw, qids, dids), qrels)
    report["ndcg@10"]["exact_raw_text"] = exact_raw
    report["deltas"] = {"exact_raw_vs_published": exact_raw - PUBLISHED_MINILM_NDCG10}
    position = {d: i for i, d in enumerate(dids)}
    raw_sub = raw[[position[d] for d in subset]]
    http = ndcg_at_10(run, sub_qrels)
    served_run = exact_top10(sub_served_queries, stored, sub_qids, stored_ids)
    exact_same = ndcg_at_10(served_run, sub_qrels)
    exact_sub_raw = ndcg_at_10(exact_top10(sub_queries, raw_sub, sub_qids, subset), sub_qrels)
    report["ndcg@10"].update(
        {
            "subset_exact_raw_text": exact_sub_raw,
            "subset_exact_stored_vectors": exact_same,
            "subset_http_hnsw_path": http,
        }
    )
    report["deltas"].update(
        {
            "http_vs_exact_stored_vectors": http - exact_same,
            "policy_cost (exact stored - exact raw, subset)": exact_same - exact_sub_raw,
        }
    )
    report["policy"] = {
        "outcomes": dict(statuses),
        "redacted_categories": dict(categories.most_common(20)),
        "refusal_reasons": dict(reasons.most_common(10)),
    }
    report["goals"] = {
        "exact within 0.005 of published": abs(exact_raw - PUBLISHED_MINILM_NDCG10) <= 0.005,
        "HNSW path within 0.005 of exact": abs(http - exact_same) <= 0.005,
    }
    save()
    return report


def run_policy_tally(
    data: Path, *, workdir: Path | None = None, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """The policy's cost without the encoder: every abstract screened by the served
    appliance's own ``Screening`` (detection, policy decision, admission) under the bench's
    context, as the HTTP ingest would; what would be stored, redacted or refused, and why."""
    from appliance.bench.served import prepared_appliance
    from appliance.domain.types import Modality
    from appliance.errors import ApplianceError
    from appliance.policy.decisions import RequestContext

    corpus, _, qrels = load_scifact(Path(data))
    judged = {d for q in qrels.values() for d in q}
    root = Path(workdir or tempfile.mkdtemp(prefix="bench-policy-"))
    app, state, _ = prepared_appliance(root, "starter", progress)
    screening = state.screening
    context = RequestContext.from_mapping(CONTEXT, modality=Modality.TEXT)
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    redacted: Counter[str] = Counter()
    decided: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    with_findings = judged_changed = 0
    started = time.perf_counter()
    try:
        for n, (d, text) in enumerate(corpus.items()):
            try:
                consents = screening.consents_for(f"doc-{d}", context.purpose)
                screened = screening.screen(Modality.TEXT, text, context, consents, item_id=d)
            except ApplianceError as exc:
                statuses["error"] += 1
                reasons[str(exc)[:120]] += 1
                continue
            decision = screened.classification.decision
            assert decision is not None
            decided[decision.outcome.value] += 1
            categories.update(decision.categories)
            with_findings += bool(screened.classification.findings)
            if not screened.admission.allowed:
                statuses["denied"] += 1
                reasons["; ".join(screened.admission.reasons)[:120]] += 1
            elif screened.admission.notes.get("deidentified") or screened.admission.notes.get(
                "redacted_before_encode"
            ):
                statuses["stored_redacted"] += 1
                redacted.update(decision.categories)
            else:
                statuses["stored"] += 1
                continue
            judged_changed += d in judged
            if n % 1000 == 999:
                progress(f"screened {n + 1}/{len(corpus)}")
    finally:
        state.encoders.close()  # type: ignore[attr-defined]
        app.close()
    return {
        "abstracts": len(corpus),
        "context": CONTEXT,
        "outcomes": dict(statuses),
        "decision_outcomes": dict(decided),
        "abstracts_with_findings": with_findings,
        "decision_categories": dict(categories.most_common(20)),
        "redacted_categories": dict(redacted.most_common(20)),
        "refusal_reasons": dict(reasons.most_common(10)),
        "judged_abstracts_changed_or_refused": judged_changed,
        "seconds": round(time.perf_counter() - started, 1),
    }


@click.command("retrieval")
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("../shared/data/scifact"),
    show_default=True,
    help="BEIR SciFact folder (corpus.jsonl, queries.jsonl, qrels/test.tsv); read in place.",
)
@click.option(
    "--http-limit",
    type=int,
    default=None,
    help="Ingest only this many abstracts over HTTP (every judged one first); exact search "
    "still covers the whole corpus.",
)
@click.option(
    "--partial",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Rewrite the report here after each phase (long runs).",
)
@click.option("--batch", default=64, show_default=True)
@click.option(
    "--policy-only",
    is_flag=True,
    help="Only screen every abstract (detection, policy, admission; no encoding): what "
    "would be stored, redacted or refused, and why.",
)
@click.option("--json", "as_json", is_flag=True)
def retrieval_command(
    data: Path,
    http_limit: int | None,
    partial: Path | None,
    batch: int,
    policy_only: bool,
    as_json: bool,
) -> None:
    """SciFact nDCG@10: exact search vs the HTTP/HNSW path, and what the policy costs."""
    if policy_only:
        tally = run_policy_tally(data, progress=lambda m: click.echo(f"... {m}", err=True))
        click.echo(json.dumps(tally, indent=2 if as_json else None))
        return
    report = run_retrieval_benchmark(
        data,
        http_limit=http_limit,
        batch=batch,
        partial=partial,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for section in ("ndcg@10", "deltas", "policy", "timings", "goals"):
        click.echo(f"{section}: {json.dumps(report[section])}")
