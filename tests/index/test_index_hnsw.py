"""VectorIndex: validation, cosine scores, removal, expiry, compaction, parity with usearch."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from appliance.errors import InvalidInputError, NotFoundError
from appliance.index import IndexSpec, VectorIndex
from appliance.settings import IndexSettings

DIM = 32
NOW = 1_800_000_000.0


def test_spec_from_settings_copies_every_parameter() -> None:
    """IndexSpec.from_settings takes dtype and HNSW parameters from the [index] settings."""
    settings = IndexSettings(
        dtype="f16",
        connectivity=8,
        expansion_add=40,
        expansion_search=20,
        exact_search_max=7,
        build_threads=3,
    )
    spec = IndexSpec.from_settings(settings, 384)
    assert spec == IndexSpec(384, "f16", 8, 40, 20, 7, 3)
    assert IndexSpec.from_dict(spec.to_dict()) == spec
    older = {k: v for k, v in spec.to_dict().items() if k not in {"exact_search_max"}}
    assert IndexSpec.from_dict(older).exact_search_max == IndexSpec(1).exact_search_max


@pytest.mark.parametrize(
    "kwargs",
    [{"dimension": 0}, {"dimension": 8, "dtype": "f64"}, {"dimension": 8, "connectivity": 0}],
)
def test_spec_rejects_bad_values(kwargs: dict) -> None:
    """A zero dimension, an unknown dtype or a zero parameter is InvalidInputError."""
    with pytest.raises(InvalidInputError):
        IndexSpec(**kwargs)


@pytest.mark.parametrize("exact_search_max", [0, 4096], ids=["graph", "exact"])
@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_each_vector_finds_itself_with_cosine_scores(
    build_index, dtype: str, exact_search_max: int
) -> None:
    """Every dtype, graph or exact search, returns each query's own item first; cosine scores."""
    index, vectors = build_index(300, dtype, exact_search_max=exact_search_max)
    keys, scores = index.search(vectors, 5, now=NOW)
    assert keys.shape == scores.shape == (300, 5)
    assert keys.dtype == np.int64 and scores.dtype == np.float32
    assert (keys[:, 0] == np.arange(300)).all()
    keys, scores = keys[:20], scores[:20]
    exact = np.einsum("qd,qkd->qk", vectors[:20], vectors[keys])
    assert np.allclose(scores, exact, atol=0.02 if dtype == "i8" else 2e-3)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_single_query_gives_one_dimensional_results(build_index) -> None:
    """A 1-D query returns 1-D keys and scores of length k."""
    index, vectors = build_index(100)
    keys, scores = index.search(vectors[7], 4, now=NOW)
    assert keys.shape == scores.shape == (4,)
    assert keys[0] == 7 and scores[0] == pytest.approx(1.0, abs=1e-5)


def test_matches_bare_usearch_on_the_same_graph(build_index) -> None:
    """With nothing excluded or unreachable, results equal usearch's own on the same graph."""
    index, vectors = build_index(500, exact_search_max=0)
    assert index.unreachable_keys().size == 0
    bare = index.spec.new_usearch()
    bare.load(index.serialize())
    keys, scores = index.search(vectors[:50], 10, now=NOW)
    bare_result = bare.search(vectors[:50], 10)
    assert np.array_equal(keys, bare_result.keys.astype(np.int64))
    assert np.allclose(scores, 1.0 - bare_result.distances)


@pytest.mark.parametrize(
    ("keys", "vectors"),
    [
        (np.arange(3), np.ones((3, DIM - 1), np.float32)),
        (np.arange(3), np.ones(DIM, np.float32)),
        (np.arange(3), np.ones((3, DIM), np.int32)),
        (np.arange(3), np.full((3, DIM), np.nan, np.float32)),
        (np.arange(3), np.zeros((3, DIM), np.float32)),
        (np.arange(2), np.ones((3, DIM), np.float32)),
        (np.array([-1, 0, 1]), np.ones((3, DIM), np.float32)),
        (np.array([0.5, 1.0, 2.0]), np.ones((3, DIM), np.float32)),
        (np.array([4, 4, 5]), np.ones((3, DIM), np.float32)),
    ],
    ids=["dim", "1d", "ints", "nan", "zero", "count", "negative", "float-keys", "dup-batch"],
)
def test_add_rejects_bad_input(keys: np.ndarray, vectors: np.ndarray) -> None:
    """Wrong shape, dtype, dimension, non-finite or zero vectors, bad keys: InvalidInputError."""
    index = VectorIndex(IndexSpec(DIM), collection="c", space="s")
    with pytest.raises(InvalidInputError):
        index.add(keys, vectors)
    assert len(index) == 0


@pytest.mark.parametrize("exact_search_max", [0, 4096], ids=["graph", "exact"])
def test_add_of_a_present_key_replaces_its_vector(
    build_index, unit_vectors, exact_search_max: int
) -> None:
    """Adding a key already indexed replaces its vector and deadline; the old one is gone."""
    index, vectors = build_index(200, exact_search_max=exact_search_max)
    index.set_deadlines([3], NOW)
    fresh = unit_vectors(2, seed=9)
    assert index.add(np.array([200, 3]), fresh) == 1
    assert len(index) == 201 and 200 in index and np.int64(3) in index and -1 not in index
    assert np.array_equal(index.vectors_for([3]), fresh[1:])
    assert index.deadlines()[0].size == 0
    keys, scores = index.search(fresh[1], 1, now=NOW)
    assert keys[0] == 3 and scores[0] == pytest.approx(1.0, abs=1e-5)
    old, _ = index.search(vectors[3], 5, now=NOW)
    assert 3 not in old.tolist()
    assert index.tombstones == 1 and index.compact() == 1
    assert np.array_equal(index.vectors_for([3]), fresh[1:])


@pytest.mark.parametrize(
    ("query", "k", "now"),
    [
        (np.ones(DIM - 1, np.float32), 3, NOW),
        (np.full(DIM, np.inf, np.float32), 3, NOW),
        (np.ones(DIM, np.float32), 0, NOW),
        (np.ones(DIM, np.float32), True, NOW),
        (np.ones(DIM, np.float32), 3, float("nan")),
        (np.ones((2, 2, DIM), np.float32), 3, NOW),
    ],
    ids=["dim", "inf", "k0", "kbool", "now-nan", "3d"],
)
def test_search_rejects_bad_input(build_index, query: np.ndarray, k: object, now: float) -> None:
    """Bad queries, a non-positive k or a NaN clock are InvalidInputError."""
    index, _ = build_index(10)
    with pytest.raises(InvalidInputError):
        index.search(query, k, now=now)


def test_removed_items_never_appear(build_index) -> None:
    """Removed keys vanish from results at once, even when searching with their own vectors."""
    index, vectors = build_index(400)
    gone = np.arange(0, 400, 3)
    assert index.remove(gone) == gone.size
    assert index.remove([0, 9999]) == 0
    keys, _ = index.search(vectors, 10, now=NOW)
    assert not np.isin(keys, gone).any()
    assert (keys >= 0).all()
    assert len(index) == 400 - gone.size and 3 not in index
    assert set(index.keys().tolist()) == set(range(400)) - set(gone.tolist())


def test_expired_items_never_appear_and_k_still_comes_back(build_index) -> None:
    """Items whose deadline has passed are filtered, and the search refills to k."""
    index, vectors = build_index(500)
    sims = vectors @ vectors[0]
    nearest = np.argsort(-sims)[:60]
    index.set_deadlines(nearest, NOW)
    before, _ = index.search(vectors[0], 10, now=NOW - 1)
    assert before[0] == 0
    keys, scores = index.search(vectors[0], 10, now=NOW)
    assert keys.size == 10 and not np.isin(keys, nearest).any()
    assert np.allclose(scores, vectors[keys] @ vectors[0], atol=1e-4)
    batch, _ = index.search(vectors[nearest[:5]], 10, now=NOW + 5)
    assert (batch >= 0).all() and not np.isin(batch, nearest).any()


def test_mostly_expired_index_still_returns_live_items(build_index) -> None:
    """With 95% expired, the over-fetch grows until the k live items are found."""
    index, vectors = build_index(400)
    live = np.arange(0, 400, 20)
    index.set_deadlines(np.setdiff1d(np.arange(400), live), NOW)
    keys, scores = index.search(vectors[:8], 10, now=NOW)
    assert keys.shape == (8, 10) and np.isin(keys, live).all()
    assert not np.isnan(scores).any()


def test_fewer_live_items_than_k_are_padded(build_index) -> None:
    """A batch pads missing results with key -1 and score NaN; a 1-D query is shorter."""
    index, vectors = build_index(6)
    index.set_deadlines([0, 1], NOW)
    keys, scores = index.search(vectors[:2], 5, now=NOW)
    assert (keys[:, :4] >= 0).all() and (keys[:, 4] == -1).all()
    assert np.isnan(scores[:, 4]).all() and not np.isin(keys, [0, 1]).any()
    single, _ = index.search(vectors[2], 10, now=NOW)
    assert sorted(single.tolist()) == [2, 3, 4, 5]
    empty = VectorIndex(IndexSpec(DIM), collection="c", space="s")
    keys, scores = empty.search(vectors[:2], 3, now=NOW)
    assert (keys == -1).all() and np.isnan(scores).all()


def test_deadlines_validation_clearing_and_removal(build_index) -> None:
    """Deadlines need present keys and no NaN; inf clears one; remove_expired removes them."""
    index, _ = build_index(20)
    with pytest.raises(InvalidInputError):
        index.set_deadlines([99], NOW)
    with pytest.raises(InvalidInputError):
        index.set_deadlines([1], float("nan"))
    index.set_deadlines([1, 2, 3], [NOW, NOW + 10, NOW])
    index.set_deadlines([3], float("inf"))
    assert index.expired(NOW).tolist() == [1]
    assert index.deadlines()[0].tolist() == [1, 2]
    assert index.remove_expired(NOW + 10).tolist() == [1, 2]
    assert len(index) == 18 and index.deadlines()[0].size == 0


def test_vectors_for_returns_stored_vectors(build_index) -> None:
    """vectors_for gives the f32 vectors back exactly; an absent key is NotFoundError."""
    index, vectors = build_index(30)
    assert np.array_equal(index.vectors_for([4, 2]), vectors[[4, 2]])
    assert index.vectors_for([]).shape == (0, DIM)
    index.remove([2])
    with pytest.raises(NotFoundError):
        index.vectors_for([2])


def test_remove_leaves_bytes_until_compact_erases_them(build_index) -> None:
    """usearch keeps a removed vector's bytes; after compact the serialization holds none."""
    index, vectors = build_index(200)
    gone = np.arange(0, 200, 4)
    index.remove(gone)
    assert vectors[0].tobytes() in bytes(index.serialize())  # the usearch finding
    assert index.tombstones == gone.size
    assert index.compact() == gone.size
    plain = bytes(index.serialize())
    assert not any(vectors[key].tobytes() in plain for key in gone)
    assert all(vectors[key].tobytes() in plain for key in (1, 2, 3))
    assert index.tombstones == 0 and len(index) == 150
    keys, _ = index.search(vectors[1:4], 1, now=NOW)
    assert keys[:, 0].tolist() == [1, 2, 3]


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_compact_keeps_quantized_vectors_exactly(build_index, dtype: str) -> None:
    """Compaction re-adds f16/i8 vectors in their stored form, without re-quantization drift."""
    index, _ = build_index(100, dtype)
    before = index.vectors_for(np.arange(1, 100))
    index.remove([0])
    index.compact()
    assert np.array_equal(index.vectors_for(np.arange(1, 100)), before)


def test_from_serialized_checks_the_spec(build_index) -> None:
    """A serialization of another dimension or dtype, or garbage, is InvalidInputError."""
    index, _ = build_index(10)
    data = index.serialize()
    for spec in (IndexSpec(DIM + 1), IndexSpec(DIM, dtype="f16"), IndexSpec(DIM, connectivity=8)):
        with pytest.raises(InvalidInputError):
            VectorIndex.from_serialized(spec, data, collection="c", space="s")
    with pytest.raises(InvalidInputError):
        VectorIndex.from_serialized(IndexSpec(DIM), b"not an index" * 8, collection="c", space="s")


def test_concurrent_searches_and_mutations(build_index, unit_vectors) -> None:
    """Searches racing adds, removals and a compaction never fail nor return removed keys."""
    index, vectors = build_index(600)
    extra = unit_vectors(200, seed=1)
    gone = np.arange(0, 300)
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        try:
            while not stop.is_set():
                index.search(vectors[:16], 5, now=NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for start in range(0, 200, 50):
        index.add(np.arange(1000 + start, 1050 + start), extra[start : start + 50])
    index.remove(gone)
    index.compact()
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    keys, _ = index.search(vectors, 10, now=NOW)
    assert not np.isin(keys, gone).any() and len(index) == 500
