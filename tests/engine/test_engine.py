"""The serving engine over a real (small) torch encoder: batching, results, errors."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from appliance.encoders.base import encode_now
from appliance.engine import (
    EngineClosedError,
    EngineFailedError,
    ItemResults,
)
from appliance.errors import ApplianceError, InvalidInputError

SENTENCES = [f"patient note number {i} " + "x" * (i % 7) for i in range(40)]


def test_engine_package_does_not_import_torch() -> None:
    """No module of appliance.engine imports torch (the API can use it without torch)."""
    import ast
    from pathlib import Path

    import appliance.engine as package

    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "torch" for a in node.names), path
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "torch", path


def test_results_match_encode_now_in_order(engine, encoder) -> None:
    """Concurrent multi-item requests come back row for row equal to encode_now()."""
    requests = [SENTENCES[i : i + 1 + i % 5] for i in range(0, 30)]
    with ThreadPoolExecutor(8) as callers:
        results = list(callers.map(engine.encode, requests))
    for inputs, vectors in zip(requests, results, strict=True):
        assert vectors.dtype == np.float32
        assert vectors.shape == (len(inputs), encoder.dimension)
        np.testing.assert_allclose(vectors, encode_now(encoder, inputs), atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batches_form_under_concurrency(encoder, make_engine) -> None:
    """16 concurrent callers with a busy model get batched (sizes above 1 observed)."""
    encoder.delay_s = 0.01
    engine = make_engine(max_batch_size=16, warmup=False)
    with ThreadPoolExecutor(16) as callers:
        list(callers.map(lambda text: engine.encode([text]), SENTENCES * 2))
    stats = engine.stats()
    assert stats.items_completed == 2 * len(SENTENCES)
    assert max(stats.batch_sizes) > 1
    assert stats.batches < 2 * len(SENTENCES)
    assert max(stats.batch_sizes) <= 16


def test_queued_requests_fill_full_batches(make_engine, encoder, wait_until) -> None:
    """Requests that pile up while the model is busy go into full batches."""
    engine = make_engine(max_wait_ms=60_000.0)
    encoder.gate.clear()
    first = engine.submit(["first"])
    encoder.entered.acquire(timeout=10)
    futures = [engine.submit([text]) for text in SENTENCES[:20]]
    wait_until(lambda: engine.stats().queue_depth <= 20 - 8)
    encoder.gate.set()
    for future in [first, *futures]:
        future.result(timeout=10)
    assert encoder.forward_sizes[-4:] == [1, 8, 8, 4]


def test_lone_request_is_not_held_for_a_full_batch(encoder, make_engine) -> None:
    """An idle engine runs a single request at once, without waiting for company."""
    engine = make_engine(max_wait_ms=60_000.0)
    vectors = engine.encode(["alone"], timeout=10)
    assert vectors.shape == (1, encoder.dimension)
    assert encoder.forward_sizes[-1] == 1


def test_max_wait_closes_a_partial_batch_while_model_busy(encoder, make_engine, wait_until):
    """With the model busy, a partial batch is closed after max_wait, not held for more."""
    engine = make_engine(max_wait_ms=20.0)
    encoder.gate.clear()
    first = engine.submit(["first"])
    encoder.entered.acquire(timeout=10)
    second = engine.submit(["second", "third"])
    wait_until(lambda: engine.stats().queue_depth == 0)  # taken into a batch of 2
    encoder.gate.set()
    first.result(timeout=10)
    second.result(timeout=10)
    assert encoder.forward_sizes[-2:] == [1, 2]


def test_long_max_wait_keeps_filling_until_model_frees(encoder, make_engine) -> None:
    """With a long max_wait the batcher keeps a partial batch open while the model is busy."""
    engine = make_engine(max_wait_ms=60_000.0)
    encoder.gate.clear()
    first = engine.submit(["first"])
    encoder.entered.acquire(timeout=10)
    later = [engine.submit([text]) for text in SENTENCES[:3]]
    threading.Event().wait(0.1)
    assert engine.stats().queue_depth == 3
    encoder.gate.set()
    for future in [first, *later]:
        future.result(timeout=10)
    assert encoder.forward_sizes[-2:] == [1, 3]


def test_request_larger_than_a_batch_is_split_and_reassembled(engine, encoder) -> None:
    """A 30-input request runs over several batches and comes back in input order."""
    vectors = engine.encode(SENTENCES[:30], timeout=10)
    np.testing.assert_allclose(vectors, encode_now(encoder, SENTENCES[:30]), atol=1e-5)
    assert max(engine.stats().batch_sizes) <= engine.max_batch_size


def test_bad_item_fails_alone(engine, encoder) -> None:
    """A bad input fails only its own request (or item); the rest of the batch succeeds."""
    encoder.gate.clear()
    blocker = engine.submit(["hold the model"])
    encoder.entered.acquire(timeout=10)
    good = engine.submit(["fine", "also fine"])
    bad = engine.submit(["fine", "bad: refused", "crash: undecodable"])
    items = engine.submit_items(["fine", "bad: refused", "long " * 20])
    encoder.gate.set()
    blocker.result(timeout=10)
    assert good.result(timeout=10).shape == (2, encoder.dimension)
    with pytest.raises(InvalidInputError, match="input 1: refused") as caught:
        bad.result(timeout=10)
    assert caught.value.code == "invalid_input" and caught.value.remedy
    result = items.result(timeout=10)
    assert isinstance(result, ItemResults)
    assert result.ok == [True, False, True]
    assert isinstance(result.errors[1], InvalidInputError)
    assert result.notes[2] == {"truncated": True}
    np.testing.assert_allclose(result.vectors[0], encode_now(encoder, ["fine"])[0], atol=1e-5)
    assert not result.vectors[1].any()


def test_undecodable_input_is_an_input_error(engine) -> None:
    """A decoder's own exception becomes InvalidInputError (a 4xx), not a server failure."""
    with pytest.raises(InvalidInputError, match="could not be read"):
        engine.encode(["crash: nope"], timeout=10)
    with pytest.raises(InvalidInputError, match="UTF-8"):
        engine.encode([b"\xff\xfe"], timeout=10)


def test_forward_failure_fails_the_batch_and_engine_survives(make_engine, encoder) -> None:
    """A model error fails every request of that batch with encoder_failed; later ones work."""
    engine = make_engine(max_wait_ms=60_000.0)
    encoder.gate.clear()
    blocker = engine.submit(["hold"])
    encoder.entered.acquire(timeout=10)
    doomed = [engine.submit(["boom: device lost"]), engine.submit(["innocent bystander"])]
    encoder.gate.set()
    blocker.result(timeout=10)
    for future in doomed:
        with pytest.raises(EngineFailedError) as caught:
            future.result(timeout=10)
        assert caught.value.code == "encoder_failed"
    assert engine.encode(["after the failure"], timeout=10).shape == (1, encoder.dimension)
    assert engine.stats().requests_failed == 2


def test_empty_and_oversized_requests_are_refused(engine) -> None:
    """No inputs, or more inputs than the queue can ever hold, is an input error."""
    with pytest.raises(InvalidInputError, match="no inputs"):
        engine.submit([])
    with pytest.raises(InvalidInputError, match="queues at most 64"):
        engine.submit(["x"] * 65)


def test_warmup_runs_each_size_class_before_ready(encoder, make_engine) -> None:
    """start() returns after one warm-up batch of size 1 and one of the max batch size."""
    engine = make_engine(start=False, max_batch_size=8)
    assert not engine.ready and engine.state == "new"
    engine.start()
    assert engine.ready and engine.state == "running"
    assert encoder.forward_sizes == [1, 8]
    engine.close()
    assert engine.state == "closed" and not engine.ready


def test_warmup_failure_fails_start(encoder, make_engine) -> None:
    """A model that fails warm-up makes start() raise and the engine refuse work."""
    encoder.warmup_input = lambda: "boom: broken model"
    engine = make_engine(start=False)
    with pytest.raises(EngineFailedError, match="warm-up"):
        engine.start()
    assert engine.state == "failed"
    with pytest.raises(ApplianceError):
        engine.submit(["anything"])


def test_submit_before_start_is_refused(make_engine) -> None:
    """An engine that was never started answers 'unavailable'."""
    engine = make_engine(start=False)
    with pytest.raises(EngineClosedError) as caught:
        engine.submit(["x"])
    assert caught.value.code == "unavailable"


def test_batch_hook_and_stats_count_everything(make_engine) -> None:
    """The per-batch hook sees every batch; stats add up after a mixed workload."""
    events = []
    engine = make_engine(warmup=False, on_batch=events.append)
    engine.encode(SENTENCES[:10], timeout=10)
    engine.encode_items(["ok", "bad: no"], timeout=10)
    stats = engine.stats()
    assert sum(e.size for e in events) == 12
    assert sum(e.failed_items for e in events) == 1
    assert stats.items_completed == 11 and stats.items_failed == 1
    assert stats.requests_submitted == 2 and stats.requests_completed == 2
    assert sum(size * n for size, n in stats.batch_sizes.items()) == 12
    assert stats.queue_depth == 0 and stats.in_flight_items == 0
    assert stats.mean_batch_size > 0


def test_futures_are_plain_concurrent_futures(engine) -> None:
    """submit() hands back a concurrent.futures.Future the caller may wait on."""
    future = engine.submit(["hello"])
    assert isinstance(future, Future)
    assert future.result(timeout=10).shape == (1, 16)
