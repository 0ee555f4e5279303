"""SciFact nDCG@10 per text defence level (``appliance.risk.scifact_utility``): the score,
the query-side rule, rewrites, the vector cache, and a small SciFact run through MiniLM."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from appliance.risk import defences as d
from appliance.risk import scifact_utility as su
from appliance.risk.inversion_sweep import TextDefence, text_defences
from tests.conftest import shared_data_dir

KEY = b"k" * 32


def _toy() -> tuple[su.RetrievalSet, np.ndarray, np.ndarray]:
    """Three claims over five abstracts whose rankings are fixed by hand."""
    docs = np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0.6, 0, 0.8]], np.float32
    )
    queries = np.array([[1, 0, 0, 0], [0.8, 0, 0.6, 0], [0.9, 0.8, 0, 0.1]], np.float32)
    data = su.RetrievalSet(
        ("d1", "d2", "d3", "d4", "d5"),
        ("a", "b", "c", "d", "e"),
        ("q1", "q2", "q3"),
        ("x", "y", "z"),
        {"q1": {"d1": 1}, "q2": {"d3": 2, "d1": 1}, "q3": {"d5": 1}},
    )
    return data, docs, queries


def _bag_embed(calls: list[str]) -> Callable[[list[str]], np.ndarray]:
    """A deterministic bag-of-words embedding (hashed words, 32 dims) that records its inputs."""

    def embed(texts: list[str]) -> np.ndarray:
        calls.extend(texts)
        out = np.zeros((len(texts), 32), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, hashlib.sha256(word.encode()).digest()[0] % 32] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    return embed


def _synthetic(queries: int = 20, docs: int = 100) -> su.RetrievalSet:
    """Each claim shares its words with one abstract (its only relevant one)."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    doc_texts = [" ".join(rng.choice(words, 6)) for _ in range(docs)]
    return su.RetrievalSet(
        tuple(f"d{i}" for i in range(docs)),
        tuple(doc_texts),
        tuple(f"q{i}" for i in range(queries)),
        tuple(doc_texts[i].split(" ", 1)[1] for i in range(queries)),
        {f"q{i}": {f"d{i}": 1} for i in range(queries)},
    )


def test_ndcg_on_a_hand_built_toy_set_equals_the_formula() -> None:
    """Ranks 1; 1 and 2 (grades 1, 2); 3 give nDCG@10 1, (1 + 2/log2 3)/(2 + 1/log2 3), 1/2."""
    data, docs, queries = _toy()
    second = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert abs(su.ndcg(docs, queries, data) - (1 + second + 0.5) / 3) < 1e-12
    assert abs(su.ndcg(docs, queries, data) - 0.786573) < 1e-6


def test_a_defence_that_destroys_vectors_lowers_ndcg_and_noise_leaves_queries_clean() -> None:
    """Keyed noise at sigma 3 wrecks the stored abstracts (queries stay clean, as search does);
    a keyed rotation, applied to both sides, keeps nDCG@10 exactly."""
    data = _synthetic()
    embed = _bag_embed([])
    clean = (embed(list(data.docs)), embed(list(data.queries)))
    noise = TextDefence("keyed_noise", "sigma=3", lambda v, t, k: d.keyed_noise(v, t, 3.0, k))
    rotation = TextDefence(
        "rotation", "key unknown", lambda v, _t, k: v @ d.keyed_rotation(v.shape[1], k)
    )
    result = su.utility_rows([noise, rotation], data, clean, embed, KEY)
    noisy, rotated = result["rows"]
    assert result["undefended_ndcg@10"] > 0.9
    assert noisy["ndcg@10"] < result["undefended_ndcg@10"] - 0.4
    assert noisy["query_vectors"] == "clean" and "ndcg@10_queries_defended" in noisy
    assert rotated["query_vectors"] == "defended"
    assert abs(rotated["ndcg@10_kept"] - 1.0) < 1e-6


@dataclass(frozen=True)
class _Rewriting:
    """A level with a text rewrite, as ``TextDefence.rewrite`` adds it."""

    name: str
    level: str
    apply: Callable[..., np.ndarray]
    reproducible: bool = True
    rewrite: Callable[[str], str] | None = None


def test_rewrite_levels_embed_only_the_texts_they_changed() -> None:
    """Redacting one word re-embeds exactly the abstracts and claims that contained it, and
    the noise is keyed on the rewritten text."""
    data = _synthetic()
    calls: list[str] = []
    embed = _bag_embed(calls)
    clean = (embed(list(data.docs)), embed(list(data.queries)))
    calls.clear()
    level = _Rewriting(
        "redact_before_encode",
        "-",
        lambda v, _t, _k: np.asarray(v, np.float64),
        rewrite=lambda text: text.replace("w7 ", "[NAME] "),
    )
    [row] = su.utility_rows([level], data, clean, embed, KEY)["rows"]
    changed_docs = [t for t in data.docs if "w7 " in t]
    changed_queries = [t for t in data.queries if "w7 " in t]
    assert changed_docs and len(calls) == len(changed_docs) + len(changed_queries)
    assert all("[NAME]" in text for text in calls)
    assert (row["abstracts_rewritten"], row["queries_rewritten"]) == (
        len(changed_docs),
        len(changed_queries),
    )
    assert row["query_vectors"] == "defended"


def test_the_vector_cache_is_keyed_on_the_model_and_holds_no_text(tmp_path: Path) -> None:
    """Same model hash: read back without embedding; another hash: embedded again; the cache
    file contains no word of the corpus."""
    data = su.RetrievalSet(
        ("1", "2"),
        ("glioblastoma multiforme survival", "statin therapy outcomes"),
        ("q",),
        ("statin outcomes",),
        {"q": {"2": 1}},
    )
    calls: list[str] = []
    embed = _bag_embed(calls)
    first = su.clean_vectors(data, embed, "a" * 64, tmp_path)
    assert not first[2]["cached"] and len(calls) == 3
    again = su.clean_vectors(data, embed, "a" * 64, tmp_path)
    assert again[2]["cached"] and len(calls) == 3
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[1])
    other = su.clean_vectors(data, embed, "b" * 64, tmp_path)
    assert not other[2]["cached"] and len(calls) == 6
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 2
    for path in files:
        raw = path.read_bytes().lower()
        assert b"glioblastoma" not in raw and b"statin" not in raw


def test_canary_limit_reads_ndcg_kept_as_its_utility() -> None:
    """A canary verdict judged on a row with SciFact nDCG@10 kept carries it as utility_kept,
    failing the utility goal when below min_utility_kept."""
    from appliance.policy.model import RiskLimit, Source
    from appliance.risk.policy import judge_inversion

    rates = {"name_recovered": 0.0, "name_closed_top1": 0.01, "mrn_recovered": 0.0,
             "mrn_closed_top1": 0.0}  # fmt: skip
    rows = [
        {"defence": "none", "level": "-", **rates, "ndcg@10": 0.64, "ndcg@10_kept": 1.0},
        {"defence": "keyed_noise", "level": "sigma=0.3", **rates, "ndcg@10_kept": 0.8},
    ]
    limit = RiskLimit(
        id="site.risk.c", title="t", citation="c", categories=("hipaa.names",),
        modality="text", metric="canary_recovery", maximum=0.05,
        defence=("gaussian_noise", MappingProxyType({"sigma": 0.3})),
        min_utility_kept=0.9, block="on_fail", source=Source("site.toml", 1),
    )  # fmt: skip
    [verdict] = judge_inversion(rows, [limit])
    assert verdict["outcome"] == "pass"
    assert (verdict["utility_kept"], verdict["utility_passed"]) == (0.8, False)


@pytest.mark.slow
def test_scifact_subset_through_minilm_prices_each_level() -> None:
    """On 6 SciFact claims (their abstracts + 6 others) through the real MiniLM: the
    undefended row equals clean exact search, rotation keeps it, sigma 0.3 costs more than
    sigma 0.01, and binary keeps most of it."""
    data = su.RetrievalSet.load(shared_data_dir("scifact")).subset(6, 6)
    embed = su.minilm_embedder()
    clean = su.clean_vectors(data, embed, "minilm-test", cache_dir=None)
    result = su.utility_rows(text_defences(clean[0]), data, clean[:2], embed, KEY)
    rows = {(r["defence"], r["level"]): r for r in result["rows"]}
    assert result["undefended_ndcg@10"] > 0.6
    assert rows["none", "-"]["ndcg@10"] == result["undefended_ndcg@10"]
    assert abs(rows["rotation", "key unknown"]["ndcg@10_kept"] - 1.0) < 1e-4
    noisy, light = rows["keyed_noise", "sigma=0.3"], rows["keyed_noise", "sigma=0.01"]
    assert noisy["ndcg@10"] < light["ndcg@10"]
    assert rows["binary", "-"]["ndcg@10_kept"] > 0.7


def test_a_folder_without_queries_is_refused_with_a_remedy(tmp_path: Path) -> None:
    """A corpus-only folder names what is missing and how to go on."""
    from appliance.errors import InvalidInputError

    (tmp_path / "corpus.jsonl").write_text('{"_id": "1", "text": "x"}\n', "utf-8")
    with pytest.raises(InvalidInputError) as raised:
        su.RetrievalSet.load(tmp_path)
    assert "queries.jsonl" in str(raised.value) and "--no-ndcg" in raised.value.remedy
