"""``appliance bench speedups``: each speed-up of the text path on and off, in one process.

One appliance is started in this process (scratch data dir, starter pack: the real MiniLM;
screening, audit and auth on) and served on loopback. For each load (clients x batch) the
variants below are measured in ALTERNATING rounds (variant order rotated every round) by
the same client process as ``bench peer``, so background load falls on all of them:

- ``baseline``: torch forward, one padded batch, no screening cache, torch's default threads;
- ``sorted``: baseline + batches run in length-sorted groups (``encoders.sort_by_length``);
- ``onnx``: baseline + the ONNX Runtime forward pass (``encoders.text_runtime``);
- ``cache``: baseline + the screening cache, emptied before each round (every input new:
  what the cache costs when it never hits);
- ``cache_warm``: baseline + the screening cache kept across rounds (inputs repeat across
  rounds: the pool is 512 sentences);
- ``threads1``: everything on with 1 intra-op thread instead of one per core;
- ``shipped``: everything on, as shipped (``auto`` runtime, sorting, cache kept).

Each variant is applied to the running appliance between rounds (the text encoder's
``sort_by_length`` and ONNX session, the screening cache, the thread counts). Reported per
load and variant: sentences/s, p50/p95/p99, and the ratio to ``baseline``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from appliance.bench.encoders import make_inputs
from appliance.bench.peer import _counts, drive, served_appliance, summarise


@dataclass(frozen=True)
class Variant:
    """Which speed-ups are on: length groups, ONNX, screening cache (off/cold/warm), threads."""

    name: str
    sort: bool
    onnx: bool
    cache: str
    threads: int = 0  # 0: one per core


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("baseline", sort=False, onnx=False, cache="off"),
        Variant("sorted", sort=True, onnx=False, cache="off"),
        Variant("onnx", sort=False, onnx=True, cache="off"),
        Variant("cache", sort=False, onnx=False, cache="cold"),
        Variant("cache_warm", sort=False, onnx=False, cache="warm"),
        Variant("threads1", sort=True, onnx=True, cache="warm", threads=1),
        Variant("shipped", sort=True, onnx=True, cache="warm"),
    )
}


class Switches:
    """Turns the speed-ups of a running appliance on and off (between rounds only)."""

    def __init__(self, state: Any) -> None:
        from appliance.domain.types import Modality

        encoder = state.encoders.engines[Modality.TEXT].encoder
        while not hasattr(encoder, "sort_by_length") and hasattr(encoder, "inner"):
            encoder = encoder.inner
        self.text = encoder
        self.screening = state.screening
        self.cache = self.screening._cache
        self.session = getattr(encoder, "onnx", None)
        self._sessions: dict[int, Any] = {}

    def apply(self, variant: Variant) -> None:
        """Set the encoder, the screening cache and the thread counts for ``variant``."""
        import torch

        threads = variant.threads or os.cpu_count() or 1
        torch.set_num_threads(threads)
        self.text.sort_by_length = variant.sort
        self.text.onnx = self._session(threads) if variant.onnx else None
        if variant.cache == "off" or self.cache is None:
            self.screening._cache = None
        else:
            if variant.cache == "cold":
                self.cache.clear()
            self.screening._cache = self.cache

    def _session(self, threads: int) -> Any:
        if self.session is None:
            return None
        if threads not in self._sessions:
            from appliance.encoders.text_onnx import OnnxForward

            self._sessions[threads] = OnnxForward(self.session.path, threads)
        return self._sessions[threads]


def run_speedups(
    *,
    variants: Sequence[str] = tuple(VARIANTS),
    loads: Sequence[tuple[int, int]] = ((16, 8), (1, 1)),
    rounds: int = 3,
    requests_per_round: int = 32,
    pack: str = "starter",
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Measure every variant at every load in alternating rounds; JSON-ready report."""
    chosen = [VARIANTS[name] for name in variants]
    with served_appliance(pack, workdir, progress) as served:
        switches = Switches(served.state)
        report: dict[str, Any] = {
            "params": {
                "variants": [v.name for v in chosen],
                "rounds": rounds,
                "requests_per_round": requests_per_round,
                "pack": pack,
                "onnx_available": switches.session is not None,
                "cpus": os.cpu_count(),
            },
            "loads": [],
        }
        pool = [str(t) for t in make_inputs("text", 512, seed=3)]
        for clients, batch in loads:
            figures = {v.name: {"latencies": [], "wall": 0.0, "sentences": 0} for v in chosen}
            for variant in chosen:
                progress(f"load {clients}x{batch}: warming up {variant.name}")
                switches.apply(variant)
                drive(served.target, [pool[:batch]] * max(2, clients), clients)
            for number in range(rounds):
                offset = number * requests_per_round * batch
                requests = [
                    [pool[(offset + r * batch + j) % len(pool)] for j in range(batch)]
                    for r in range(requests_per_round)
                ]
                order = chosen[number % len(chosen) :] + chosen[: number % len(chosen)]
                for variant in order:
                    progress(f"load {clients}x{batch}: round {number + 1}/{rounds}, {variant.name}")
                    switches.apply(variant)
                    result = drive(served.target, requests, clients)
                    entry = figures[variant.name]
                    entry["latencies"] += result["latencies"]
                    entry["wall"] += result["wall"]
                    entry["sentences"] += len(requests) * batch
            switches.apply(VARIANTS["shipped"])
            summaries = {
                name: summarise(f["wall"], f["latencies"], f["sentences"])
                for name, f in figures.items()
            }
            base = summaries.get("baseline")
            for summary in summaries.values():
                if base:
                    summary["ratio"] = round(
                        summary["sentences_per_s"] / max(base["sentences_per_s"], 1e-9), 3
                    )
                    summary["p50_ratio"] = round(summary["p50_ms"] / max(base["p50_ms"], 1e-9), 3)
            report["loads"].append({"clients": clients, "batch": batch, "variants": summaries})
    return report


def format_report(report: dict[str, Any]) -> str:
    """One table per load: variant, sentences/s, p50/p95/p99, ratios to baseline."""
    p = report["params"]
    lines = [
        f"{p['rounds']} alternating rounds of {p['requests_per_round']} requests per variant; "
        f"pack {p['pack']}; ONNX Runtime available: {p['onnx_available']}"
    ]
    for load in report["loads"]:
        lines.append(f"\n{load['clients']} clients x batch {load['batch']}")
        lines.append(
            f"{'variant':<12} {'sent/s':>8} {'p50/p95/p99 ms':>22} {'ratio':>6} {'p50 ratio':>9}"
        )
        for name, s in load["variants"].items():
            triple = f"{s['p50_ms']:.1f}/{s['p95_ms']:.1f}/{s['p99_ms']:.1f}"
            lines.append(
                f"{name:<12} {s['sentences_per_s']:>8.1f} {triple:>22} "
                f"{s.get('ratio', 0):>6.2f} {s.get('p50_ratio', 0):>9.2f}"
            )
    lines.append("ratio = variant / baseline sentences/s; p50 ratio = variant / baseline p50")
    return "\n".join(lines)


def _variants(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise click.BadParameter(f"choose from {', '.join(VARIANTS)}")
    return names


@click.command("speedups")
@click.option("--variants", default=",".join(VARIANTS), callback=_variants, show_default=True,
    help="Comma list of variants to compare (baseline first for ratios).")  # fmt: skip
@click.option("--clients", default="16,1", callback=_counts, show_default=True,
    help="Concurrent clients per load (paired with --batch).")  # fmt: skip
@click.option("--batch", default="8,1", callback=_counts, show_default=True,
    help="Inputs per request per load.")  # fmt: skip
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1))
@click.option("--requests", default=32, show_default=True, type=click.IntRange(1),
    help="Requests per variant per round.")  # fmt: skip
@click.option("--pack", type=click.Choice(["starter", "test"]), default="starter",
    show_default=True)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def speedups_command(
    variants: tuple[str, ...],
    clients: tuple[int, ...],
    batch: tuple[int, ...],
    rounds: int,
    requests: int,
    pack: str,
    as_json: bool,
) -> None:
    """Each text-path speed-up on and off in one served appliance, alternating rounds."""
    if len(clients) != len(batch):
        raise click.UsageError("--clients and --batch need the same number of values")
    report = run_speedups(
        variants=variants,
        loads=list(zip(clients, batch, strict=True)),
        rounds=rounds,
        requests_per_round=requests,
        pack=pack,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
