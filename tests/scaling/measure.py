"""Figures for docs/scaling.md, rerunnable by an operator (not a test; prints JSON).

``memory``: usearch bytes per vector (connectivity 32, dimension 384 and 512, f32/f16/i8),
measured as the growth of the serialized index between two small sizes and extrapolated
linearly to 1M, 10M and 100M vectors.
``rebuild N``: seconds to rebuild an index of N random vectors (dimension 384, f32) the
way a node does after losing its snapshot: open each sealed vector, then ``VectorIndex.add``
(with the appliance's reachability self-check) on ``index.build_threads`` threads.
``visibility URL N``: two nodes (two processes) on the PostgreSQL store at URL: seconds
from node A acknowledging a write (or an erasure) to node B's next search answering it.

    python tests/scaling/measure.py memory
    python tests/scaling/measure.py rebuild 100000
    python tests/scaling/measure.py visibility postgresql+psycopg://... 50
    python tests/scaling/measure.py visibility throwaway 50   # starts its own cluster
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from appliance.index import IndexSpec, VectorIndex


def _vectors(count: int, dimension: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def memory(small: int = 2_000, large: int = 6_000) -> dict[str, object]:
    """Bytes per vector per (dimension, dtype), and the extrapolated totals.

    The per-vector cost is the growth of usearch's serialized length (vector, key and
    neighbour lists, exactly what the graph holds) between two sizes; ``memory_usage()``
    grows in whole arena blocks, so it is reported as measured, not differenced."""
    figures: dict[str, object] = {}
    for dimension in (384, 512):
        vectors = _vectors(large, dimension)
        for dtype in ("f32", "f16", "i8"):
            spec = IndexSpec(dimension=dimension, dtype=dtype, connectivity=32)
            sizes = []
            for count in (small, large):
                index = spec.new_usearch()
                index.add(np.arange(count), vectors[:count], threads=os.cpu_count() or 1)
                sizes.append((index.serialized_length, index.memory_usage))
            per_vector = (sizes[1][0] - sizes[0][0]) / (large - small)
            vector_bytes = dimension * {"f32": 4, "f16": 2, "i8": 1}[dtype]
            figures[f"d{dimension}-{dtype}"] = {
                "bytes_per_vector": round(per_vector, 1),
                "vector_bytes": vector_bytes,
                "graph_bytes_per_vector": round(per_vector - vector_bytes, 1),
                f"memory_usage_at_{large}": sizes[1][1],
                "GiB_at": {
                    f"{n:,}": round(per_vector * n / 2**30, 2)
                    for n in (1_000_000, 10_000_000, 100_000_000)
                },
            }
    return figures


def rebuild(count: int, dimension: int = 384) -> dict[str, object]:
    """Seconds to open ``count`` sealed vectors and add them to a fresh index."""
    from appliance.crypto.records import RecordBinding, open_item_vector, seal_item_vector

    vectors = _vectors(count, dimension)
    key = os.urandom(32)
    binding = RecordBinding(
        collection="c",
        item_id="i",
        key_version=1,
        record_format=2,
        subject="ps_x",
        modality="text",
        space_version="s",
        policy_labels=(),
        obligations=(),
        retention_deadline=None,
    )
    sample = min(count, 5_000)
    sealed = [seal_item_vector(key, vectors[n], binding) for n in range(sample)]
    started = time.perf_counter()
    for blob in sealed:
        open_item_vector(key, blob, binding)
    open_per_vector = (time.perf_counter() - started) / sample
    index = VectorIndex(IndexSpec(dimension=dimension), collection="c", space="s")
    started = time.perf_counter()
    for first in range(0, count, 10_000):
        index.add(np.arange(first, min(count, first + 10_000)), vectors[first : first + 10_000])
    add_seconds = time.perf_counter() - started
    return {
        "vectors": count,
        "dimension": dimension,
        "open_seconds_per_vector": open_per_vector,
        "index_add_seconds": round(add_seconds, 1),
        "rebuild_seconds": round(add_seconds + open_per_vector * count, 1),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def visibility(url: str, rounds: int) -> dict[str, object]:
    """Write-to-visible and erase-to-gone seconds from node A to node B."""
    from tests.scaling.nodes import NodeProcess, init_nodes

    with tempfile.TemporaryDirectory() as root:
        nodes = [NodeProcess(s) for s in init_nodes(Path(root), url)]
        a, b = nodes
        try:
            b.call(op="search", seed=0, k=1)  # B's index open before A writes
            seen, gone, polls = [], [], [0, 0]
            for n in range(1, rounds + 1):
                a.call(op="store", item_id=f"v{n}", subject=f"MRN-v{n}", seed=n)
                acked = time.perf_counter()
                while not _found(b, n):
                    polls[0] += 1
                seen.append(time.perf_counter() - acked)
                a.call(op="erase", subject=f"MRN-v{n}")
                erased = time.perf_counter()
                while _found(b, n):
                    polls[1] += 1
                gone.append(time.perf_counter() - erased)
        finally:
            for node in nodes:
                node.close()
    return {
        "rounds": rounds,
        "write_visible_s": _summary(seen),
        "erasure_gone_s": _summary(gone),
        "searches_before_visible": polls[0],  # 0: B's first search after the ack saw it
        "searches_before_gone": polls[1],
    }


def _found(node: object, seed: int) -> bool:
    hits = node.call(op="search", seed=seed, k=1)  # type: ignore[attr-defined]
    return bool(hits) and hits[0]["score"] > 0.99


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(ordered[len(ordered) // 2], 4),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        "max": round(ordered[-1], 4),
    }


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "memory":
        result = memory()
    elif command == "rebuild":
        result = rebuild(int(sys.argv[2]))
    elif sys.argv[2] == "throwaway":  # a cluster of its own, as the tests start one
        from tests.scaling.pg_cluster import find_bin_dir, throwaway_cluster

        bin_dir = find_bin_dir()
        assert bin_dir is not None, "PostgreSQL binaries not found"
        with throwaway_cluster(bin_dir) as cluster:
            result = visibility(cluster.create_database(), int(sys.argv[3]))
    else:
        result = visibility(sys.argv[2], int(sys.argv[3]))
    print(json.dumps(result, indent=2))
