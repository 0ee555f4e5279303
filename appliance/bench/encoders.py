"""``appliance bench encoders``: the serving engine against a bare model forward.

For each modality and request batch size: throughput and latency of the engine under
``callers`` concurrent caller threads sending requests of that size, and of a FAIR bare
path (``appliance.bench.fair``): the very same inputs, in batches of the size the engine
formed, pre-processing overlapped with the forward pass on as many threads as the
engine uses, same torch threads; rounds alternate engine, bare, engine, bare. Reported:
their ratio, the ratio of process CPU time per item (steadier than wall time on a shared
host), and the engine's added latency for single-input requests from a single caller
(median of paired engine-minus-bare differences, calls interleaved).
Inputs are synthetic (no patient data): clinical-style sentences, 512x512 JPEG photos,
5 s 16 kHz WAV clips.

Heavy imports (torch, transformers, PIL) happen inside the functions so the CLI starts fast.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from appliance.encoders.base import Encoder
from appliance.settings import EncoderSettings

Raw = bytes | str
FAMILY_OF = {"text": "clip", "image": "clip", "audio": "clap"}
"""Which random model serves each modality (the test pack's space: CLIP anchor, CLAP audio)."""
_VOCABULARY = (
    "patient presents with chest pain shortness of breath history of hypertension diabetes "
    "radiograph shows no acute cardiopulmonary abnormality mild cardiomegaly small left "
    "pleural effusion follow up in two weeks continue current medication review labs"
)


def make_inputs(modality: str, count: int, seed: int = 0) -> list[Raw]:
    """Synthetic inputs: sentences of 8-40 words, 512x512 JPEGs, 5 s 16 kHz WAV clips."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if modality == "text":
        return [
            " ".join(rng.choice(_VOCABULARY.split(), size=int(rng.integers(8, 41)))).capitalize()
            + "."
            for _ in range(count)
        ]
    distinct = [_image(rng) if modality == "image" else _audio(rng) for _ in range(min(count, 8))]
    return [distinct[i % len(distinct)] for i in range(count)]


def _image(rng: Any) -> bytes:
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 255, 512, dtype=np.float32)
    base = np.stack([np.add.outer(ramp, ramp[::-1]) / 2] * 3, axis=-1)
    pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def _audio(rng: Any) -> bytes:
    import numpy as np
    import soundfile

    t = np.arange(5 * 16_000, dtype=np.float32) / 16_000
    wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t) + rng.normal(0, 0.05, t.shape)
    out = io.BytesIO()
    soundfile.write(out, wave.astype(np.float32), 16_000, format="WAV", subtype="PCM_16")
    return out.getvalue()


@contextmanager
def load_bench_encoders(
    given: Mapping[str, Encoder] | None,
    pack: Path | None,
    real_size: bool,
    modalities: Sequence[str],
    settings: EncoderSettings,
) -> Iterator[dict[str, Encoder]]:
    """The encoders to measure: given ones, a pack's space, or fresh random-weight models."""
    if given is not None:
        yield {m: given[m] for m in modalities if m in given}
        return
    from appliance.encoders.factory import load_encoder

    with tempfile.TemporaryDirectory(prefix="appliance-bench-") as tmp:
        slots: dict[str, tuple[Path, Path | None]] = {}
        if pack is not None:
            space = json.loads((pack / "pack.json").read_text(encoding="utf-8"))["space"]
            for modality in modalities:
                slot = space["encoders"].get(modality)
                if slot:
                    adapter = slot.get("adapter")
                    slots[modality] = (pack / slot["model"], pack / adapter if adapter else None)
        else:
            from appliance.encoders.testpack import write_random_model

            size = "real" if real_size else "tiny"
            for modality in modalities:
                family = FAMILY_OF[modality]
                model_dir = Path(tmp) / family
                if not model_dir.exists():
                    write_random_model(family, size, model_dir)
                slots[modality] = (model_dir, None)
        loaded: dict[str, Encoder] = {}
        for modality, (model_dir, adapter_dir) in slots.items():
            encoder = load_encoder(model_dir, settings=settings, modality=modality, verify=False)
            if adapter_dir is not None:
                from appliance.encoders.adapter import AdaptedEncoder, LinearAdapter

                adapter = LinearAdapter.load(adapter_dir, encoder.device)
                encoder = AdaptedEncoder(encoder, adapter, adapter_dir.name)
            loaded[modality] = encoder
        yield loaded


def describe_runtime(encoders: Mapping[str, Encoder]) -> dict[str, Any]:
    """Device, precision and thread counts the figures were taken with."""
    import os

    import torch

    devices = sorted({e.device for e in encoders.values()})
    info: dict[str, Any] = {
        "device": ",".join(devices),
        "dtype": sorted({str(getattr(e, "dtype", "")) for e in encoders.values()}),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    if any(d.startswith("cuda") for d in devices):
        info["device_name"] = torch.cuda.get_device_name(0)
    return info


GOAL_RATIO = 0.9
GOAL_OVERHEAD_MS = 2.0


def run_encoder_benchmark(
    encoders: Mapping[str, Encoder] | None = None,
    *,
    pack: Path | None = None,
    real_size: bool = False,
    modalities: Sequence[str] = ("text", "image", "audio"),
    batch_sizes: Sequence[int] = (1, 8, 32),
    callers: int = 16,
    requests: int = 64,
    overhead_requests: int = 40,
    rounds: int = 2,
    device: str = "auto",
    settings: EncoderSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Benchmark each modality; returns a JSON-ready dict (``results``, ``overhead``, goals).

    ``encoders`` (modality -> encoder) skips loading; otherwise models come from ``pack``
    (a model pack directory), or random-weight models are written to a temporary
    directory: tiny test models, or real architecture sizes with ``real_size``.
    """
    from appliance.bench import loadtest
    from appliance.bench.fair import compare_fair
    from appliance.engine import EncoderEngine

    say = progress or (lambda _message: None)
    settings = settings or EncoderSettings()
    largest = max(batch_sizes)
    settings = replace(
        settings,
        max_batch_size=max(settings.max_batch_size, largest),
        queue_size=max(settings.queue_size, callers * largest),
        device=device,  # type: ignore[arg-type]
    )
    with load_bench_encoders(encoders, pack, real_size, modalities, settings) as loaded:
        report: dict[str, Any] = {
            "runtime": describe_runtime(loaded),
            "models": {m: {"name": e.name, "dimension": e.dimension} for m, e in loaded.items()},
            "source": _source(encoders, pack, real_size),
            "callers": callers,
            "engine_settings": {
                "max_batch_size": settings.max_batch_size,
                "max_wait_ms": settings.max_wait_ms,
                "queue_size": settings.queue_size,
            },
            "results": [],
            "overhead": {},
        }
        for modality, encoder in loaded.items():
            pool = make_inputs(modality, 64)
            say(f"{modality}: warming up {encoder.name} (batch sizes {list(batch_sizes)})")
            engine = EncoderEngine(
                encoder, settings, warmup_input=pool[0], warmup_sizes=batch_sizes
            ).start()
            try:
                for size in batch_sizes:
                    say(f"{modality}: batch {size}, bare and engine ({callers} callers)")
                    bare, served = compare_fair(
                        encoder, engine, pool, size, requests, callers, rounds
                    )
                    report["results"].append(
                        {
                            "modality": modality,
                            "batch_size": size,
                            "bare": bare,
                            "engine": served,
                            "ratio": round(served["throughput"] / bare["throughput"], 3),
                            "cpu_ratio": round(
                                bare["cpu_ms_per_item"] / max(served["cpu_ms_per_item"], 1e-9), 3
                            ),
                        }
                    )
                if overhead_requests:
                    say(f"{modality}: batch-1 latency overhead, 1 caller")
                    report["overhead"][modality] = loadtest.measure_overhead(
                        encoder, engine, pool, overhead_requests
                    )
            finally:
                engine.close()
    report["goals"] = _goals(report, largest)
    return report


def _source(given: object, pack: Path | None, real_size: bool) -> str:
    if given:
        return "given encoders"
    if pack:
        return f"pack {pack}"
    return "random-weight real-size models" if real_size else "random-weight tiny models"


def _goals(report: Mapping[str, Any], largest: int) -> dict[str, Any]:
    goals: dict[str, Any] = {}
    for row in report["results"]:
        if row["batch_size"] == largest:
            goals[f"{row['modality']}_ratio_at_{largest}>={GOAL_RATIO}"] = (
                row["ratio"] >= GOAL_RATIO
            )
    for modality, row in report["overhead"].items():
        goals[f"{modality}_batch1_overhead<{GOAL_OVERHEAD_MS}ms"] = (
            row["overhead_p50_ms"] < GOAL_OVERHEAD_MS
        )
    return goals


def format_report(report: Mapping[str, Any]) -> str:
    """A readable table of the figures."""
    runtime = report["runtime"]
    lines = [
        f"encoders: {report['source']}; device {runtime.get('device')}"
        f" ({runtime.get('device_name', '')}), torch threads {runtime.get('torch_threads')},"
        f" {report['callers']} callers",
        f"{'modality':<8} {'batch':>5} {'bare it/s':>10} {'engine it/s':>11} {'ratio':>6} "
        f"{'cpu ratio':>9} {'bare p50/p95/p99 ms':>24} {'engine p50/p95/p99 ms':>26} "
        f"{'mean batch':>10}",
    ]
    for row in report["results"]:
        bare, served = row["bare"], row["engine"]
        lines.append(
            f"{row['modality']:<8} {row['batch_size']:>5} {bare['throughput']:>10.1f} "
            f"{served['throughput']:>11.1f} {row['ratio']:>6.2f} {row['cpu_ratio']:>9.2f} "
            f"{_triple(bare):>24} {_triple(served):>26} {served['mean_batch']:>10.1f}"
        )
    for modality, row in report["overhead"].items():
        lines.append(
            f"{modality}: batch-1 latency overhead {row['overhead_p50_ms']:+.2f} ms at p50 "
            f"(bare {_triple(row['bare'])} ms, engine {_triple(row['engine'])} ms, 1 caller)"
        )
    failed = [name for name, met in report["goals"].items() if not met]
    lines.append("goals: all met" if not failed else f"goals not met: {', '.join(failed)}")
    return "\n".join(lines)


def _triple(figures: Mapping[str, float]) -> str:
    return f"{figures['p50_ms']:.1f}/{figures['p95_ms']:.1f}/{figures['p99_ms']:.1f}"


def _int_list(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise click.BadParameter("expected comma-separated integers, e.g. 1,8,32") from exc
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("batch sizes must be positive integers")
    return sizes


_PACK = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("encoders")
@click.option("--pack", type=_PACK, help="Model pack directory (default: random test models).")
@click.option("--real-size", is_flag=True,
    help="Random-weight models of real size (CLIP ViT-B/32, CLAP HTSAT-base).")  # fmt: skip
@click.option("--modality", "modalities", multiple=True,
    type=click.Choice(["text", "image", "audio"]), help="Repeatable; default all.")  # fmt: skip
@click.option("--batch-sizes", default="1,8,32", callback=_int_list, show_default=True)
@click.option("--callers", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option("--requests", default=64, show_default=True, type=click.IntRange(1),
    help="Requests per modality and batch size (bare and engine each).")  # fmt: skip
@click.option("--overhead-requests", default=40, show_default=True, type=click.IntRange(0))
@click.option("--rounds", default=2, show_default=True, type=click.IntRange(1),
    help="Alternate bare and engine this many times (evens out background load).")  # fmt: skip
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
    help="Default: encoders.device from the settings.")  # fmt: skip
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the figures as JSON to this file ('-': JSON on stdout only).")  # fmt: skip
def encoders_command(
    pack: Path | None,
    real_size: bool,
    modalities: tuple[str, ...],
    batch_sizes: tuple[int, ...],
    callers: int,
    requests: int,
    overhead_requests: int,
    rounds: int,
    device: str | None,
    json_out: Path | None,
) -> None:
    """Engine vs fair bare forward (same batches, threads, inputs): throughput and p50/p95/p99."""
    if pack is not None and real_size:
        raise click.UsageError("--pack and --real-size exclude each other")
    settings = _settings_from_context()
    report = run_encoder_benchmark(
        pack=pack,
        real_size=real_size,
        modalities=modalities or ("text", "image", "audio"),
        batch_sizes=batch_sizes,
        callers=callers,
        requests=requests,
        overhead_requests=overhead_requests,
        rounds=rounds,
        device=device or settings.device,
        settings=settings,
        progress=lambda message: click.echo(message, err=True),
    )
    if json_out is not None and str(json_out) == "-":
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(format_report(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _settings_from_context() -> EncoderSettings:
    from appliance.cli.context import CliContext

    context = click.get_current_context().find_object(CliContext)
    return context.settings.encoders if context is not None else EncoderSettings()
