"""Index benchmark: our ``VectorIndex`` and encrypted snapshots against bare usearch.

Each side builds its own graph from the same vectors with the same HNSW parameters: bare
usearch the way its API defaults (one batch, every core), ours the way the appliance
rebuilds an index (``VectorIndex.add``: single-threaded insertion, then every vector
searched for with itself, the unfindable ones kept for exact scoring). ``build_s`` is
therefore the index part of a rebuild after a crash. Speed differences in search are the
wrapper's (validation, expiry filtering, locking, exact search of small collections and of
unreachable keys) and the snapshot's (encryption, fsync, atomic rename). Timings are the
best of ``repeats`` runs, bare and ours interleaved, so they are stable on small machines.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import click
import numpy as np
import numpy.typing as npt
import usearch
from usearch.index import Index

from appliance.crypto.aead import new_key
from appliance.index.hnsw import IndexSpec, VectorIndex
from appliance.index.snapshot import load_snapshot, save_snapshot
from appliance.settings import IndexDtype, IndexSettings

Progress = Callable[[str], None]
DataKind = Literal["random", "clustered"]
GOALS = {"qps_batch": 0.95, "qps_single": 0.95, "save": 1.5, "load": 1.5, "recall": 0.01}


class Timing(NamedTuple):
    """Best seconds of each side over the rounds (noise only ever adds time)."""

    bare_s: float
    ours_s: float

    @property
    def ratio(self) -> float:
        """Ours over bare, in time."""
        return self.ours_s / self.bare_s


def run_index_benchmark(
    n: int = 100_000,
    dim: int = 512,
    k: int = 10,
    queries: int = 1000,
    dtype: IndexDtype = "f32",
    seed: int = 0,
    *,
    workdir: Path | None = None,
    repeats: int = 7,
    data: DataKind = "random",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build one HNSW index of ``n`` unit vectors and compare ours with bare usearch.

    ``data`` is ``random`` (uniform on the sphere: the hardest case for HNSW, recall is low
    in high dimension) or ``clustered`` (around ``n // 100`` random centres, closer to real
    embeddings). Returns a JSON-ready dict: ``params``; ``bare`` and ``ours`` figures (QPS
    batched and one query at a time, recall@k against brute force, snapshot save/load
    seconds, bytes on disk per vector); ``ratios`` (ours / bare: for QPS ours' speed over
    bare's, for save and load ours' time over bare's); ``goals``.
    """
    if min(n, dim, k, queries, repeats) < 1 or k > n:
        raise ValueError("n, dim, k, queries and repeats must be positive, and k <= n")
    say = progress or (lambda _message: None)
    spec = IndexSpec.from_settings(IndexSettings(dtype=dtype), dim)
    vectors, probes = _dataset(data, n, queries, dim, seed)
    say(f"exact top-{k} of {queries} queries over {n} vectors (brute force)")
    truth = _exact_top_k(vectors, probes, k)
    say(f"bare usearch builds its graph: {n} x {dim} {dtype}, {data} data, every core")
    started = time.perf_counter()
    bare = spec.new_usearch()
    bare.add(np.arange(n, dtype=np.uint64), vectors, threads=0, progress=_build_progress(say, n))
    bare_build_s = time.perf_counter() - started
    bare_misses = _self_misses(bare, vectors)
    say(f"ours builds its graph as a rebuild does ({spec.build_threads} thread(s), self-check)")
    started = time.perf_counter()
    ours = VectorIndex(spec, collection="bench", space="bench")
    ours.add(np.arange(n, dtype=np.int64), vectors)
    build_s = time.perf_counter() - started

    say(f"searching: {repeats} paired rounds, batched and one query at a time")
    now = time.time()
    bare_keys = bare.search(probes, k).keys.astype(np.int64)
    our_keys = ours.search(probes, k, now=now)[0]
    batch = _paired(
        repeats, lambda: bare.search(probes, k), lambda: ours.search(probes, k, now=now)
    )
    single = _paired(
        repeats,
        lambda: [bare.search(row, k) for row in probes],
        lambda: [ours.search(row, k, now=now) for row in probes],
    )
    say("snapshots: save and load, bare usearch file vs encrypted snapshot")
    with tempfile.TemporaryDirectory(dir=workdir, prefix="index-bench-") as scratch:
        save, save_fsync, load, sizes = _snapshot_timings(bare, ours, Path(scratch), repeats)

    count = max(n, 1)
    figures = {
        side: {
            "qps_batch": queries / batch[index],
            "qps_single": queries / single[index],
            "recall_at_k": _recall(keys, truth),
            "save_s": save[index],
            "load_s": load[index],
            "bytes_per_vector": sizes[index] / count,
        }
        for index, (side, keys) in enumerate((("bare", bare_keys), ("ours", our_keys)))
    }
    figures["bare"]["save_fsync_s"] = save_fsync.bare_s
    figures["bare"]["build_s"] = bare_build_s
    figures["ours"]["build_s"] = build_s
    figures["bare"]["unfindable_self"] = bare_misses
    figures["ours"]["unreachable_kept"] = int(ours.unreachable_keys().size)
    ratios = {
        "qps_batch": 1.0 / batch.ratio,
        "qps_single": 1.0 / single.ratio,
        "save": save.ratio,
        "save_vs_bare_fsync": save_fsync.ratio,
        "load": load.ratio,
        "bytes_per_vector": sizes[1] / sizes[0],
    }
    goals = {
        "qps_batch >= 0.95": ratios["qps_batch"] >= GOALS["qps_batch"],
        "qps_single >= 0.95": ratios["qps_single"] >= GOALS["qps_single"],
        "recall >= bare - 0.01": figures["ours"]["recall_at_k"]
        >= figures["bare"]["recall_at_k"] - GOALS["recall"],
        "save <= 1.5x": ratios["save"] <= GOALS["save"],
        "load <= 1.5x": ratios["load"] <= GOALS["load"],
    }
    return {
        "params": {
            "n": n, "dim": dim, "k": k, "queries": queries, "dtype": dtype, "seed": seed,
            "data": data, "repeats": repeats, "connectivity": spec.connectivity,
            "expansion_add": spec.expansion_add, "expansion_search": spec.expansion_search,
            "cpus": os.cpu_count(), "usearch": usearch.__version__,
            "exact_search_max": spec.exact_search_max, "build_threads": spec.build_threads,
        },
        "build_s": build_s,
        "rebuild_per_item_ms": 1000 * build_s / n,
        "bare": figures["bare"],
        "ours": figures["ours"],
        "ratios": ratios,
        "results_identical": bool(np.array_equal(bare_keys, our_keys)),
        "goals": goals,
        "goals_met": all(goals.values()),
    }  # fmt: skip


def _dataset(
    data: DataKind, n: int, queries: int, dim: int, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    if data == "random":
        return (
            _unit(rng.standard_normal((n, dim), dtype=np.float32)),
            _unit(rng.standard_normal((queries, dim), dtype=np.float32)),
        )
    centres = _unit(rng.standard_normal((max(n // 100, 1), dim), dtype=np.float32))
    noise = 1.0 / np.sqrt(dim, dtype=np.float32)  # ~ cos 0.7 between a point and its centre

    def around(count: int) -> npt.NDArray[np.float32]:
        picks = rng.integers(0, centres.shape[0], size=count)
        return _unit(centres[picks] + noise * rng.standard_normal((count, dim), dtype=np.float32))

    return around(n), around(queries)


def _self_misses(index: Index, vectors: npt.NDArray[np.float32]) -> int:
    """How many vectors bare usearch's graph search does not return for themselves (top 10)."""
    found = index.search(vectors, min(10, len(vectors))).keys.reshape(len(vectors), -1)
    return int((~(found == np.arange(len(vectors))[:, None]).any(axis=1)).sum())


def _unit(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def _exact_top_k(
    vectors: npt.NDArray[np.float32], probes: npt.NDArray[np.float32], k: int
) -> npt.NDArray[np.int64]:
    """Brute-force top-k by cosine (rows are unit vectors, so by dot product)."""
    out = np.empty((probes.shape[0], k), dtype=np.int64)
    for start in range(0, probes.shape[0], 128):
        sims = probes[start : start + 128] @ vectors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[start : start + 128] = np.take_along_axis(top, order, axis=1)
    return out


def _recall(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    hits = sum(np.intersect1d(row, want).size for row, want in zip(found, truth, strict=True))
    return hits / truth.size


def _build_progress(say: Progress, total: int) -> Callable[[int, int], bool]:
    step = max(total // 10, 1)
    marks = {"next": step}

    def report(done: int, _total: int) -> bool:
        if done >= marks["next"]:
            say(f"  added {done}/{total}")
            marks["next"] = done + step
        return True

    # usearch checks callbacks by their annotations, which this module keeps as strings.
    report.__annotations__ = {"done": int, "_total": int, "return": bool}
    return report


def _paired(repeats: int, bare: Callable[[], object], ours: Callable[[], object]) -> Timing:
    """Run both sides back to back ``repeats`` times (order alternating, after a warm-up)."""
    bare()
    ours()
    times: list[tuple[float, float]] = []
    for round_ in range(repeats):
        pair = [0.0, 0.0]
        for side in (0, 1) if round_ % 2 == 0 else (1, 0):
            started = time.perf_counter()
            (bare, ours)[side]()
            pair[side] = time.perf_counter() - started
        times.append((pair[0], pair[1]))
    return Timing(bare_s=min(t[0] for t in times), ours_s=min(t[1] for t in times))


def _snapshot_timings(
    bare: Index, ours: VectorIndex, scratch: Path, repeats: int
) -> tuple[Timing, Timing, Timing, tuple[int, int]]:
    """(save, save with bare fsynced too, load, (bare bytes, our bytes))."""
    key = new_key()
    bare_path, our_path = scratch / "bare.usearch", scratch / "ours.snapshot"

    def bare_save_fsync() -> None:
        bare.save(bare_path)
        with bare_path.open("rb") as handle:
            os.fsync(handle.fileno())

    def our_save() -> None:
        save_snapshot(ours, our_path, key)

    save = _paired(repeats, lambda: bare.save(bare_path), our_save)
    save_fsync = _paired(repeats, bare_save_fsync, our_save)
    load = _paired(
        repeats,
        lambda: Index.restore(bare_path),
        lambda: load_snapshot(our_path, key, collection="bench", space="bench"),
    )
    return save, save_fsync, load, (bare_path.stat().st_size, our_path.stat().st_size)


def format_table(result: dict[str, Any]) -> str:
    """A readable report of ``run_index_benchmark``'s result."""
    p, bare, ours, ratios = result["params"], result["bare"], result["ours"], result["ratios"]
    lines = [
        f"index benchmark: n={p['n']} dim={p['dim']} dtype={p['dtype']} data={p['data']} "
        f"k={p['k']} "
        f"queries={p['queries']} M={p['connectivity']} ef_add={p['expansion_add']} "
        f"ef_search={p['expansion_search']} cpus={p['cpus']} usearch={p['usearch']}",
        f"graph build (ours = a rebuild's index part): bare {bare['build_s']:.1f} s on every "
        f"core, ours {ours['build_s']:.1f} s with {p['build_threads']} thread(s) "
        f"({result['rebuild_per_item_ms']:.2f} ms/item); bare leaves {bare['unfindable_self']} "
        f"vectors unfindable by themselves, ours keeps {ours['unreachable_kept']} for exact "
        "scoring",
        f"figures: best of {p['repeats']} rounds; both sides timed back to back in each round",
        "",
        f"{'metric':<26}{'bare usearch':>14}{'ours':>14}{'ours/bare':>11}",
    ]
    rows = [
        ("search QPS, batched", "qps_batch", "{:,.0f}", "qps_batch"),
        ("search QPS, one at a time", "qps_single", "{:,.0f}", "qps_single"),
        (f"recall@{p['k']}", "recall_at_k", "{:.4f}", None),
        ("snapshot save, s", "save_s", "{:.3f}", "save"),
        ("snapshot load, s", "load_s", "{:.3f}", "load"),
        ("bytes on disk per vector", "bytes_per_vector", "{:,.1f}", "bytes_per_vector"),
    ]
    for label, field, fmt, ratio in rows:
        shown = f"{ratios[ratio]:.3f}" if ratio else "-"
        lines.append(
            f"{label:<26}{fmt.format(bare[field]):>14}{fmt.format(ours[field]):>14}{shown:>11}"
        )
    lines.append(
        f"{'bare save + fsync, s':<26}{bare['save_fsync_s']:>14.3f}{'':>14}"
        f"{ratios['save_vs_bare_fsync']:>11.3f}"
    )
    lines += ["", f"identical results: {result['results_identical']}"]
    for name, met in result["goals"].items():
        lines.append(f"goal {name}: {'met' if met else 'NOT met'}")
    return "\n".join(lines)


@click.command("index")
@click.option("--n", default=100_000, show_default=True, type=click.IntRange(min=1))
@click.option("--dim", default=512, show_default=True, type=click.IntRange(min=1))
@click.option("--k", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--queries", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--dtype", default="f32", show_default=True, type=click.Choice(["f32", "f16", "i8"]))
@click.option("--repeats", default=7, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--data",
    default="random",
    show_default=True,
    type=click.Choice(["random", "clustered"]),
    help="Uniform random unit vectors (worst case for HNSW recall) or clustered ones.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the snapshot files go (a temporary folder inside it; default: system temp).",
)
def index_command(
    n: int,
    dim: int,
    k: int,
    queries: int,
    dtype: IndexDtype,
    repeats: int,
    seed: int,
    data: DataKind,
    as_json: bool,
    workdir: Path | None,
) -> None:
    """Search QPS, recall and snapshot cost of the vector index against bare usearch."""
    if k > n:
        raise click.BadParameter(f"must not exceed --n ({n})", param_hint="--k")
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    result = run_index_benchmark(
        n, dim, k, queries, dtype, seed,
        workdir=workdir, repeats=repeats, data=data,
        progress=lambda line: click.echo(line, err=True),
    )  # fmt: skip
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))
