"""Back-pressure, cancellation, shutdown and the asyncio front-end of the engine."""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc

import numpy as np
import pytest

from appliance.encoders.base import encode_now
from appliance.engine import (
    EngineBusyError,
    EngineClosedError,
    EngineTimeoutError,
)
from appliance.errors import ApplianceError


def _fill_until_busy(engine, limit):
    accepted = []
    for i in range(limit):
        try:
            accepted.append(engine.submit([f"item {i}"]))
        except EngineBusyError as exc:
            return accepted, exc
    raise AssertionError("the queue never filled up")


def test_full_queue_answers_busy_at_once(encoder, make_engine) -> None:
    """With the model stuck, submissions beyond the queue size raise busy without blocking."""
    engine = make_engine(queue_size=10, max_batch_size=4)
    encoder.gate.clear()
    accepted, busy = _fill_until_busy(engine, limit=100)
    # 10 queued + at most one batch in forward + one prepared in the slot
    assert 10 <= len(accepted) <= 10 + 2 * 4
    assert busy.code == "busy"
    assert busy.retry_after_s >= 1 and isinstance(busy.retry_after_s, int)
    assert "busy" in busy.message and busy.remedy
    assert isinstance(busy, ApplianceError)
    with pytest.raises(EngineBusyError):
        engine.submit(["one more"])
    stats = engine.stats()
    assert stats.queue_depth == 10 and stats.requests_rejected == 2
    encoder.gate.set()
    for future in accepted:
        assert future.result(timeout=10).shape == (1, encoder.dimension)


def test_request_bigger_than_room_left_is_busy(encoder, make_engine, wait_until) -> None:
    """A request that does not fit in the room left is refused whole, not partly queued."""
    engine = make_engine(queue_size=10, max_batch_size=4, max_wait_ms=60_000.0)
    encoder.gate.clear()
    accepted = [engine.submit(["running"])]
    encoder.entered.acquire(timeout=10)
    accepted += [engine.submit([f"in slot {i}"]) for i in range(4)]
    wait_until(lambda: engine.stats().in_flight_items == 5)
    accepted += [engine.submit([f"queued {i}"]) for i in range(9)]
    with pytest.raises(EngineBusyError):
        engine.submit(["a", "b"])
    assert engine.stats().queue_depth == 9
    accepted.append(engine.submit(["fits"]))
    encoder.gate.set()
    for future in accepted:
        future.result(timeout=10)


def test_sustained_overload_keeps_queue_and_memory_bounded(encoder, make_engine) -> None:
    """8 callers hammering a slow model: queue never exceeds its size, memory stays flat."""
    encoder.delay_s = 0.002
    engine = make_engine(queue_size=16, max_batch_size=4, prepare_workers=1)
    done = threading.Semaphore(0)

    def hammer(rounds: int, counts: list[int]) -> None:
        for i in range(rounds):
            try:
                future = engine.submit([f"load {i}"])
            except EngineBusyError:
                counts[1] += 1
                continue
            counts[0] += 1
            future.add_done_callback(lambda _: done.release())

    def overload(rounds: int) -> tuple[int, int]:
        counts_per_caller = [[0, 0] for _ in range(8)]
        callers = [
            threading.Thread(target=hammer, args=(rounds, counts)) for counts in counts_per_caller
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        accepted = sum(c[0] for c in counts_per_caller)
        for _ in range(accepted):
            assert done.acquire(timeout=30)
        return accepted, sum(c[1] for c in counts_per_caller)

    overload(300)  # warm every code path before measuring
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        accepted, rejected = 0, 0
        for _ in range(3):
            a, r = overload(300)
            accepted, rejected = accepted + a, rejected + r
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    stats = engine.stats()
    assert rejected > 0 and accepted > 0
    assert stats.max_queue_depth <= 16
    assert stats.queue_depth == 0 and stats.in_flight_items == 0
    assert growth < 512 * 1024, f"traced memory grew by {growth} bytes"


def test_timeout_withdraws_a_request_not_started(engine, encoder, wait_until) -> None:
    """encode(timeout) raises EngineTimeoutError and the queued request is dropped unrun."""
    encoder.gate.clear()
    blocker = engine.submit(["hold"])
    encoder.entered.acquire(timeout=10)
    in_slot = engine.submit(["prepared next"])
    wait_until(lambda: engine.stats().queue_depth == 0)
    with pytest.raises(EngineTimeoutError) as caught:
        engine.encode(["never run"], timeout=0.05)
    assert caught.value.code == "deadline_exceeded"
    encoder.gate.set()
    blocker.result(timeout=10)
    in_slot.result(timeout=10)
    wait_until(lambda: engine.stats().requests_cancelled == 1)
    assert engine.stats().queue_depth == 0


def test_close_drains_queued_work(encoder, make_engine, wait_until) -> None:
    """close() stops new work at once but answers everything already queued."""
    engine = make_engine(max_batch_size=4)
    encoder.gate.clear()
    futures = [engine.submit([f"queued {i}"]) for i in range(20)]
    closer = threading.Thread(target=engine.close)
    closer.start()
    wait_until(lambda: engine.state == "closing")
    with pytest.raises(EngineClosedError):
        engine.submit(["too late"])
    encoder.gate.set()
    closer.join(timeout=30)
    assert not closer.is_alive()
    for i, future in enumerate(futures):
        np.testing.assert_allclose(
            future.result(timeout=0), encode_now(encoder, [f"queued {i}"]), atol=1e-5
        )
    assert engine.state == "closed"
    assert not any(t.is_alive() for t in threading.enumerate() if "toy-text" in t.name)


def test_close_without_drain_fails_queued_work(encoder, make_engine, wait_until) -> None:
    """close(drain=False) answers queued requests with 'unavailable' instead of running them."""
    engine = make_engine(max_batch_size=4)
    encoder.gate.clear()
    running = engine.submit(["running"])
    encoder.entered.acquire(timeout=10)
    queued = [engine.submit([f"queued {i}"]) for i in range(12)]
    closer = threading.Thread(target=engine.close, kwargs={"drain": False})
    closer.start()
    wait_until(lambda: engine.state == "closing")
    encoder.gate.set()
    closer.join(timeout=30)
    assert running.result(timeout=0).shape == (1, encoder.dimension)
    outcomes = [f.exception(timeout=0) for f in queued]
    assert any(isinstance(e, EngineClosedError) for e in outcomes)
    assert len(encoder.forward_sizes) <= 2 + 1 + 1  # warm-up, running, at most the prepared one


def test_encode_async_matches_and_busy_is_immediate(encoder, make_engine) -> None:
    """encode_async gives the same vectors; a full queue raises busy inside the event loop."""
    engine = make_engine(queue_size=8, max_batch_size=4)

    async def scenario() -> None:
        texts = [f"async {i}" for i in range(6)]
        results = await asyncio.gather(*(engine.encode_async([t]) for t in texts))
        for text, vectors in zip(texts, results, strict=True):
            np.testing.assert_allclose(vectors, encode_now(encoder, [text]), atol=1e-5)
        items = await engine.encode_items_async(["ok", "bad: no"])
        assert items.ok == [True, False]
        encoder.gate.clear()
        pending, _ = _fill_until_busy(engine, limit=100)
        with pytest.raises(EngineBusyError):
            await engine.encode_async(["probe"])
        encoder.gate.set()
        await asyncio.gather(*(asyncio.wrap_future(f) for f in pending))

    asyncio.run(scenario())


def test_encode_async_timeout_withdraws(encoder, make_engine, wait_until) -> None:
    """An async caller's timeout raises EngineTimeoutError and cancels the queued request."""
    engine = make_engine()

    async def scenario() -> None:
        encoder.gate.clear()
        blocker = engine.submit(["hold"])
        await asyncio.to_thread(encoder.entered.acquire, True, 10)
        filler = engine.submit(["slot"])
        await asyncio.to_thread(wait_until, lambda: engine.stats().queue_depth == 0)
        with pytest.raises(EngineTimeoutError):
            await engine.encode_async(["withdrawn"], timeout=0.05)
        encoder.gate.set()
        await asyncio.wrap_future(blocker)
        await asyncio.wrap_future(filler)

    asyncio.run(scenario())
    wait_until(lambda: engine.stats().requests_cancelled == 1)
