"""Drive an encoder bare and through an engine, and time both (``bench encoders``, ``bench
peer``: an operator benchmark, so it lives with them, not in the engine).

No torch here either: it calls the encoder's methods and the engine's ``encode``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.encoders.base import Encoder
from appliance.engine.core import EncoderEngine
from appliance.engine.errors import EngineBusyError
from appliance.engine.requests import Raw


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) of durations in seconds, as milliseconds."""
    ordered = sorted(samples_s)

    def pick(q: float) -> float:
        index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return round(ordered[index] * 1000.0, 3)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


def bare_batch(encoder: Encoder, inputs: Sequence[Raw]) -> float:
    """Seconds for prepare (each item) + collate + forward + finish, on this thread."""
    start = time.perf_counter()
    prepared = [encoder.prepare(raw) for raw in inputs]
    encoder.finish(encoder.forward(encoder.collate(prepared)))
    return time.perf_counter() - start


def batches(pool: Sequence[Raw], size: int, count: int, offset: int = 0) -> list[list[Raw]]:
    """``count`` batches of ``size`` inputs, cycling through ``pool``."""
    return [[pool[(offset + i * size + j) % len(pool)] for j in range(size)] for i in range(count)]


@dataclass
class Run:
    """Raw figures of one or more timed runs (merged across rounds)."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """Process CPU time (all threads): steadier than wall time on a shared host."""
    items: int = 0
    busy_retries: int = 0
    batches: int = 0
    batched_items: int = 0

    def add(self, other: Run) -> None:
        """Merge another round into this one."""
        self.latencies += other.latencies
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds
        self.items += other.items
        self.busy_retries += other.busy_retries
        self.batches += other.batches
        self.batched_items += other.batched_items

    def summary(self) -> dict[str, Any]:
        """Requests, items, seconds, items/s and latency percentiles, JSON-ready."""
        return {
            "requests": len(self.latencies),
            "items": self.items,
            "seconds": round(self.seconds, 4),
            "throughput": round(self.items / self.seconds, 2) if self.seconds else 0.0,
            "cpu_ms_per_item": round(self.cpu_seconds / self.items * 1000.0, 3),
            **percentiles_ms(self.latencies),
        }


def run_bare(encoder: Encoder, pool: Sequence[Raw], size: int, requests: int) -> Run:
    """``requests`` batches of ``size`` through the bare path, one after another."""
    work = batches(pool, size, requests)
    cpu = time.process_time()
    latencies = [bare_batch(encoder, batch) for batch in work]
    cpu = time.process_time() - cpu
    return Run(latencies, seconds=sum(latencies), cpu_seconds=cpu, items=requests * size)


def run_engine(
    engine: EncoderEngine, pool: Sequence[Raw], size: int, requests: int, callers: int
) -> Run:
    """``callers`` threads share ``requests`` requests of ``size`` inputs; busy is retried.

    Latency is per request, from the first submit attempt to the result.
    """
    counts = [requests // callers + (1 if i < requests % callers else 0) for i in range(callers)]
    latencies: list[float] = []
    retries: list[int] = []
    errors: list[BaseException] = []
    before = engine.stats()

    def caller(index: int, count: int) -> None:
        work = batches(pool, size, count, offset=index * 7)
        barrier.wait()
        for batch in work:
            start = time.perf_counter()
            while True:
                try:
                    engine.encode(batch, timeout=600)
                    break
                except EngineBusyError:
                    retries.append(1)
                    time.sleep(0.001)
                except Exception as exc:
                    errors.append(exc)
                    return
            latencies.append(time.perf_counter() - start)

    threads = [
        threading.Thread(target=caller, args=(i, n), daemon=True) for i, n in enumerate(counts) if n
    ]
    barrier = threading.Barrier(len(threads) + 1)
    for thread in threads:
        thread.start()
    barrier.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if errors:
        raise errors[0]
    after = engine.stats()
    return Run(
        latencies=latencies,
        seconds=wall,
        cpu_seconds=cpu,
        items=requests * size,
        busy_retries=len(retries),
        batches=after.batches - before.batches,
        batched_items=after.items_completed - before.items_completed,
    )


def compare(
    encoder: Encoder,
    engine: EncoderEngine,
    pool: Sequence[Raw],
    size: int,
    requests: int,
    callers: int,
    rounds: int = 2,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bare and engine figures for ``requests`` requests each, in alternating rounds.

    Alternating spreads background load on a shared host over both sides. Returns
    (bare summary, engine summary); the engine's includes callers, busy retries, batches
    and the mean batch size it formed.
    """
    bare, served = Run(), Run()
    per_round = [requests // rounds + (1 if i < requests % rounds else 0) for i in range(rounds)]
    for count in (n for n in per_round if n):
        bare.add(run_bare(encoder, pool, size, count))
        served.add(run_engine(engine, pool, size, count, callers))
    engine_summary = served.summary()
    engine_summary.update(
        callers=min(callers, max(per_round)),
        busy_retries=served.busy_retries,
        batches=served.batches,
        mean_batch=round(served.batched_items / served.batches, 2) if served.batches else 0.0,
    )
    return bare.summary(), engine_summary


def measure_overhead(
    encoder: Encoder, engine: EncoderEngine, pool: Sequence[Raw], requests: int
) -> dict[str, Any]:
    """One caller, one input per request: engine vs bare latency.

    Calls alternate (bare, engine) so drift hits both; the overhead is the median of the
    per-pair differences, which is steadier than a difference of medians on a busy host.
    """
    bare: list[float] = []
    served: list[float] = []
    for i in range(requests):
        raw = [pool[i % len(pool)]]
        bare.append(bare_batch(encoder, raw))
        start = time.perf_counter()
        engine.encode(raw, timeout=600)
        served.append(time.perf_counter() - start)
    differences = sorted(s - b for s, b in zip(served, bare, strict=True))
    middle = len(differences) // 2
    median = (
        differences[middle]
        if len(differences) % 2
        else (differences[middle - 1] + differences[middle]) / 2
    )
    return {
        "requests": requests,
        "bare": percentiles_ms(bare),
        "engine": percentiles_ms(served),
        "overhead_p50_ms": round(median * 1000.0, 3),
        "overhead_mean_ms": round((sum(served) - sum(bare)) / requests * 1000.0, 3),
    }
