"""A fair bare baseline for ``bench encoders``: the engine's batching, threads and data.

The bare path gets what the engine gets, minus the queue: the same items (the exact
inputs the engine's callers sent in that round), in batches of the size the engine
formed (its mean batch that round), pre-processing overlapped with the forward pass on
as many threads as the engine's batcher and prepare pool, and the same torch threads
(same process). Rounds alternate engine, bare, engine, bare, ...
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from appliance.bench import loadtest
from appliance.encoders.base import Encoder
from appliance.engine.core import EncoderEngine
from appliance.engine.preparing import default_prepare_workers
from appliance.engine.requests import Raw


def engine_items(pool: Sequence[Raw], size: int, requests: int, callers: int) -> list[Raw]:
    """The inputs ``loadtest.run_engine`` sends for these arguments, caller by caller."""
    counts = [requests // callers + (1 if i < requests % callers else 0) for i in range(callers)]
    return [
        raw
        for index, count in enumerate(counts)
        if count
        for batch in loadtest.batches(pool, size, count, offset=index * 7)
        for raw in batch
    ]


def run_bare_batched(
    encoder: Encoder, items: Sequence[Raw], batch_size: int, prepare_workers: int
) -> loadtest.Run:
    """``items`` in batches of ``batch_size``: batch N+1 prepared (on one thread plus
    ``prepare_workers`` more) while batch N runs forward + finish on this thread.
    Latency per batch: from the start of its preparation to its vectors."""
    chunks = [list(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
    helpers = ThreadPoolExecutor(prepare_workers) if prepare_workers > 0 else None

    def prepare(raws: list[Raw]) -> tuple[float, Any]:
        started = time.perf_counter()
        parts = min(len(raws), prepare_workers + 1)
        step = -(-len(raws) // parts)
        pieces = [raws[i : i + step] for i in range(0, len(raws), step)]
        futures = [helpers.submit(_prepare, encoder, p) for p in pieces[1:]] if helpers else []
        prepared = _prepare(encoder, pieces[0])
        for future in futures:
            prepared += future.result()
        return started, encoder.collate(prepared)

    latencies: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(1) as ahead:
        upcoming: Future[tuple[float, Any]] | None = ahead.submit(prepare, chunks[0])
        for index in range(len(chunks)):
            assert upcoming is not None
            began, collated = upcoming.result()
            following = index + 1
            upcoming = ahead.submit(prepare, chunks[following]) if following < len(chunks) else None
            encoder.finish(encoder.forward(collated))
            latencies.append(time.perf_counter() - began)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if helpers is not None:
        helpers.shutdown()
    return loadtest.Run(
        latencies, seconds=wall, cpu_seconds=cpu, items=len(items), batches=len(chunks),
        batched_items=len(items),
    )  # fmt: skip


def _prepare(encoder: Encoder, raws: list[Raw]) -> list[Any]:
    return [encoder.prepare(raw) for raw in raws]


def compare_fair(
    encoder: Encoder,
    engine: EncoderEngine,
    pool: Sequence[Raw],
    size: int,
    requests: int,
    callers: int,
    rounds: int = 2,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Engine and fair bare figures over the same items, rounds alternating (engine first
    in each round, since the bare side takes the batch size the engine just formed)."""
    bare, served = loadtest.Run(), loadtest.Run()
    workers = default_prepare_workers(encoder.device)
    per_round = [requests // rounds + (1 if i < requests % rounds else 0) for i in range(rounds)]
    bare_sizes: list[int] = []
    for count in (n for n in per_round if n):
        round_served = loadtest.run_engine(engine, pool, size, count, callers)
        served.add(round_served)
        formed = round_served.batched_items / max(round_served.batches, 1)
        batch_size = max(1, min(engine.max_batch_size, round(formed)))
        bare_sizes.append(batch_size)
        items = engine_items(pool, size, count, callers)
        bare.add(run_bare_batched(encoder, items, batch_size, workers))
    engine_summary = served.summary()
    engine_summary.update(
        callers=min(callers, max(per_round)),
        busy_retries=served.busy_retries,
        batches=served.batches,
        mean_batch=round(served.batched_items / served.batches, 2) if served.batches else 0.0,
    )
    bare_summary = bare.summary()
    bare_summary.update(
        batch_sizes=bare_sizes,
        batches=bare.batches,
        prepare_threads=workers + 1,
        latency_is="per bare batch (prepare start to vectors)",
    )
    return bare_summary, engine_summary
